import { mkdtemp, rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { control, deploy, eventually, freePort, integrationEnabled, makeZip, removeInstanceContainers, serveChild, useRuntimes, withToken } from './harness.js';

/** A job as `GET /invocations` shows it (the fields these tests read). */
interface Job {
  requestId: string;
  funcName: string;
  status: string;
  attempts: number;
  error: string | null;
  scheduledAt: string | null;
  response: { body: string } | null;
  history: Array<{ attempt: number; startedAt: string; finishedAt: string; statusCode: number }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Jobs of a function, newest first (up to 1000). */
async function jobsOf(url: string, name: string, status?: string): Promise<Job[]> {
  const res = await fetch(`${url}/invocations?function=${name}&limit=1000${status ? `&status=${status}` : ''}`, withToken(url));
  return (await res.json()) as Job[];
}

/** Queues `count` async jobs with bodies `{i}`, `parallel` at a time; returns the request ids by i. */
async function enqueueMany(url: string, name: string, count: number, parallel = 25): Promise<string[]> {
  const ids: string[] = new Array<string>(count);
  for (let start = 0; start < count; start += parallel) {
    await Promise.all(
      Array.from({ length: Math.min(parallel, count - start) }, async (_, k) => {
        const i = start + k;
        const res = await fetch(`${url}/async/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ i }) });
        if (res.status !== 202) throw new Error(`async ${i}: ${res.status} ${await res.text()}`);
        ids[i] = ((await res.json()) as { requestId: string }).requestId;
      }),
    );
  }
  return ids;
}

/** Fails the first try of every third job (by its body's i); answers what it saw. */
const EVERY_THIRD_FAILS = `exports.handler = async (req) => {
  const { i } = await req.json();
  const attempt = Number(req.headers['x-glambdar-attempt']);
  if (i % 3 === 0 && attempt === 1) throw new Error('first try of job ' + i + ' fails');
  return { i, attempt, requestId: req.headers['x-glambdar-request-id'] };
};`;

describe.runIf(integrationEnabled)('async jobs in containers', () => {
  const start = useRuntimes();

  it('runs 500 jobs where every third fails its first try: all succeed, each with the right attempt count', { timeout: 180_000 }, async () => {
    const rt = await start();
    const res = await deploy(rt.url, 'third.zip', await makeZip({ 'index.js': EVERY_THIRD_FAILS }), { retry: '{"attempts":3,"backoffMs":50,"maxBackoffMs":200}' });
    expect(res.status).toBe(201);
    const ids = await enqueueMany(rt.url, 'third', 500);
    const jobs = await eventually(
      async () => {
        const all = await jobsOf(rt.url, 'third');
        return all.length === 500 && all.every((j) => j.status === 'succeeded') ? all : undefined;
      },
      150_000,
      '500 jobs to succeed',
    );
    const byId = new Map(jobs.map((j) => [j.requestId, j]));
    for (const [i, id] of ids.entries()) {
      const job = byId.get(id)!;
      const expected = i % 3 === 0 ? 2 : 1;
      expect(job.attempts, `job ${i}`).toBe(expected);
      expect(job.history.map((h) => h.statusCode)).toEqual(expected === 2 ? [500, 200] : [200]);
      expect(JSON.parse(job.response!.body)).toEqual({ i, attempt: expected, requestId: id });
    }
  });

  it('ends a job that always throws dead after `attempts` tries, the back-off growing between them', { timeout: 60_000 }, async () => {
    const rt = await start();
    const zip = await makeZip({ 'index.js': `exports.handler = async () => { throw new Error('never works'); };` });
    expect((await deploy(rt.url, 'broken.zip', zip, { retry: '{"attempts":4,"backoffMs":400,"maxBackoffMs":10000}' })).status).toBe(201);
    const [id] = await enqueueMany(rt.url, 'broken', 1);
    const job = await eventually(
      async () => {
        const res = await control(rt, `/invocations/${id}`);
        const j = (await res.json()) as Job;
        return j.status === 'dead' ? j : undefined;
      },
      40_000,
      'the job to be dead',
    );
    expect(job).toMatchObject({ attempts: 4, error: 'never works (after 4 of 4 attempts)' });
    expect(job.history.map((h) => h.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = job.history.slice(1).map((h, k) => Date.parse(h.startedAt) - Date.parse(job.history[k]!.finishedAt));
    // Equal jitter: each wait is between half and all of 400 ms doubled per try.
    for (const [k, gap] of gaps.entries()) {
      const ceiling = 400 * 2 ** k;
      expect(gap, `wait before try ${k + 2}`).toBeGreaterThanOrEqual(ceiling / 2 - 5);
      expect(gap, `wait before try ${k + 2}`).toBeLessThan(ceiling + 500);
    }
    const logs = (await (await control(rt, `/logs/broken`)).json()) as Array<{ requestId: string; statusCode: number }>;
    expect(logs.filter((l) => l.requestId === id).map((l) => l.statusCode)).toEqual([500, 500, 500, 500]);
    expect((await jobsOf(rt.url, 'broken', 'dead')).map((j) => j.requestId)).toEqual([id]);
  });

  it('fires "*/2 * * * * *" 5 times in 10 s, and a restart after missed fires makes exactly one catch-up', { timeout: 90_000 }, async () => {
    const rt = await start();
    const zip = await makeZip({ 'index.js': `exports.handler = async (req) => ({ at: req.headers['x-glambdar-schedule'], payload: await req.json() });` });
    expect((await deploy(rt.url, 'tick.zip', zip)).status).toBe(201);
    const cfg = await control(rt, `/config/tick`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schedule: '*/2 * * * * *', schedulePayload: { n: 1 } }) });
    expect(cfg.status).toBe(200);
    // The schedule is armed once /config answered: every fire of the next 10 s must come (on a
    // loaded machine the answer can come after a tick that followed the request).
    const setAt = Date.now();
    await sleep(10_000 + 1500);
    const inWindow = (await jobsOf(rt.url, 'tick'))
      .filter((j) => j.scheduledAt !== null && Date.parse(j.scheduledAt) > setAt && Date.parse(j.scheduledAt) <= setAt + 10_000)
      .reverse();
    expect(inWindow).toHaveLength(5);
    const times = inWindow.map((j) => Date.parse(j.scheduledAt!));
    expect(times.slice(1).map((t, k) => t - times[k]!)).toEqual([2000, 2000, 2000, 2000]);
    await eventually(async () => ((await jobsOf(rt.url, 'tick', 'succeeded')).length >= 5 ? true : undefined), 20_000, 'fired jobs to run');
    const ran = (await jobsOf(rt.url, 'tick', 'succeeded')).find((j) => j.scheduledAt === inWindow[0]!.scheduledAt)!;
    expect(JSON.parse(ran.response!.body)).toEqual({ at: inWindow[0]!.scheduledAt, payload: { n: 1 } });

    // Down for about 5 s: two or three fires are missed; the restart makes one, the latest.
    await rt.stop();
    const stoppedAt = Date.now();
    await sleep(5_000);
    // Start just after a fire time, so the scheduler is armed well before the next one even on a
    // loaded machine: every fire up to restartBegan was missed, and only the latest may run.
    await sleep(2_100 - (Date.now() % 2_000));
    const restartBegan = Date.now();
    const again = await start({ dir: rt.dir });
    const afterRestart = await eventually(
      async () => {
        const all = await jobsOf(again.url, 'tick');
        return all.some((j) => Date.parse(j.scheduledAt!) > stoppedAt) ? all : undefined;
      },
      10_000,
      'a catch-up fire',
    );
    const missedWindow = afterRestart.filter((j) => Date.parse(j.scheduledAt!) > stoppedAt && Date.parse(j.scheduledAt!) <= restartBegan);
    expect(missedWindow).toHaveLength(1);
    expect(Date.parse(missedWindow[0]!.scheduledAt!)).toBe(Math.floor(restartBegan / 2000) * 2000);
  });
});

describe.runIf(integrationEnabled)('async jobs across a kill -9', () => {
  it('loses no job: 1,000 queued or running at a SIGKILL all succeed after a restart, each run at least once', { timeout: 300_000 }, async () => {
    const dir = await mkdtemp('/tmp/glk-');
    const port = await freePort();
    let rt = await serveChild(dir, port);
    const instance = rt.instance;
    try {
      const zip = await makeZip({
        'index.js': `exports.handler = async (req) => {
          await new Promise((r) => setTimeout(r, 100));
          return { i: (await req.json()).i, ranAs: req.headers['x-glambdar-request-id'], attempt: req.headers['x-glambdar-attempt'] };
        };`,
      });
      expect((await deploy(rt.url, 'durable.zip', zip, { retry: '{"attempts":5,"backoffMs":100,"maxBackoffMs":1000}' })).status).toBe(201);
      const ids = await enqueueMany(rt.url, 'durable', 1000, 50);
      // Kill while jobs are in a try and most are still queued.
      await eventually(async () => ((await jobsOf(rt.url, 'durable', 'running')).length > 0 ? true : undefined), 30_000, 'jobs running');
      rt.child.kill('SIGKILL');
      await new Promise((resolve) => rt.child.once('exit', resolve));

      rt = await serveChild(dir, port);
      const jobs = await eventually(
        async () => {
          const all = await jobsOf(rt.url, 'durable');
          return all.length === 1000 && all.every((j) => j.status === 'succeeded') ? all : undefined;
        },
        240_000,
        '1,000 jobs to succeed after the restart',
      );
      const byId = new Map(jobs.map((j) => [j.requestId, j]));
      expect(ids.filter((id) => !byId.has(id))).toEqual([]);
      for (const [i, id] of ids.entries()) {
        const job = byId.get(id)!;
        // The successful try's answer is the handler's own: it ran, with this job's id and body.
        const answer = JSON.parse(job.response!.body) as { i: number; ranAs: string; attempt: string };
        expect(answer).toMatchObject({ i, ranAs: id, attempt: String(job.attempts) });
        expect(job.history.at(-1)).toMatchObject({ attempt: job.attempts, statusCode: 200 });
      }
      // Jobs in a try at the kill ran again, their cut attempt counted.
      expect(jobs.some((j) => j.attempts >= 2)).toBe(true);
    } finally {
      rt.child.kill('SIGKILL');
      await removeInstanceContainers(instance);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
