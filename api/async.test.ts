import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';

/** Async invocations, jobs and schedules over HTTP, with in-process workers (FakeSandbox). */

const ECHO = `exports.handler = async (req) => {
  const attempt = Number(req.headers['x-glambdar-attempt'] ?? 0);
  if (req.path === '/flaky' && attempt < 2) throw new Error('first try fails');
  if (req.path === '/always') throw new Error('always fails');
  if (req.path === '/slow') await new Promise((r) => setTimeout(r, 300));
  const { ['x-glambdar-attempt']: a, ['x-glambdar-request-id']: id, ...headers } = req.headers;
  delete headers['content-length']; delete headers['connection']; delete headers['host'];
  return { echo: { method: req.method, path: req.path, query: req.query, body: req.body, headers }, attempt: a, requestId: id };
};`;

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let token: string;

/** A control-route request with the admin token the runtime wrote into its data folder. */
function control(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(`${server.url}${path}`, { ...init, headers });
}

async function start(env: Record<string, unknown> = {}, watchManifests = false): Promise<void> {
  server = await startServer({
    config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0, queueTimeoutMs: 5000, ...env }),
    sandbox,
    log: silentLogger,
    watchManifests,
  });
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
}

async function deploy(name: string, fields: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip({ 'index.js': ECHO }))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  return control(`/deploy`, { method: 'POST', body: form });
}

const post = (path: string, body = '{"hello":"world"}', headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user': 'me', ...headers }, body });
const json = async <T = Record<string, unknown>>(path: string, init?: RequestInit): Promise<T> => (await (await control(path, init)).json()) as T;

interface Job {
  requestId: string;
  status: string;
  attempts: number;
  statusCode: number | null;
  error: string | null;
  response: { body: string; encoding: string } | null;
  history: Array<{ attempt: number; startedAt: string; statusCode: number }>;
  callback: { state: string; statusCode: number | null; attempts: number } | null;
}

async function ended(requestId: string): Promise<Job> {
  let job: Job | undefined;
  await vi.waitFor(
    async () => {
      job = await json<Job>(`/invocations/${requestId}`);
      expect(['succeeded', 'dead']).toContain(job.status);
    },
    { timeout: 8000, interval: 20 },
  );
  return job!;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-async-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
});

afterEach(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('POST /async/:name', () => {
  it('answers 202 with the request id and Location once queued; the handler gets what /invoke gives, plus attempt and request id', async () => {
    await start();
    await deploy('echo');
    const res = await post('/async/echo/some/path?x=1&x=2');
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { requestId: string; status: string };
    expect(accepted).toEqual({ requestId: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'queued' });
    expect(res.headers.get('location')).toBe(`/invocations/${accepted.requestId}`);
    expect(res.headers.get('x-glambdar-request-id')).toBe(accepted.requestId);

    const job = await ended(accepted.requestId);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 1, statusCode: 200, error: null });
    const answer = JSON.parse(job.response!.body) as { echo: unknown; attempt: string; requestId: string };
    expect(answer.attempt).toBe('1');
    expect(answer.requestId).toBe(accepted.requestId);
    const sync = (await (await post('/invoke/echo/some/path?x=1&x=2')).json()) as { echo: unknown };
    expect(answer.echo).toEqual(sync.echo);
    expect(answer.echo).toMatchObject({ method: 'POST', path: '/some/path', query: { x: ['1', '2'] }, body: '{"hello":"world"}' });

    const put = await fetch(`${server.url}/async/echo`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(202);
    expect((await fetch(`${server.url}/async/echo`)).status).toBe(404);
    // Each try is an invocation record under the job's request id.
    const logs = await json<Array<{ requestId: string }>>('/logs/echo');
    expect(logs.filter((l) => l.requestId === accepted.requestId)).toHaveLength(1);
  });

  it('refuses an unknown function (404) and a callback URL that is not http(s) (400 naming the header), queueing nothing', async () => {
    await start();
    await deploy('echo');
    const unknown = await post('/async/nope');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'function "nope" not found', code: 'FUNCTION_NOT_FOUND' });
    const badCallback = await post('/async/echo', '{}', { 'x-callback-url': 'ftp://example.com/x' });
    expect(badCallback.status).toBe(400);
    expect(await badCallback.json()).toEqual({ error: 'X-Callback-Url: must be an absolute http:// or https:// URL', code: 'INVALID_INPUT' });
    expect(await json('/invocations')).toEqual([]);
  });

  it('retries a try that threw and records every try under the one request id', async () => {
    await start();
    await deploy('echo', { retry: '{"backoffMs":10,"maxBackoffMs":20}' });
    const { requestId } = (await (await post('/async/echo/flaky')).json()) as { requestId: string };
    const job = await ended(requestId);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(job.history.map((h) => [h.attempt, h.statusCode])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    const logs = await json<Array<{ requestId: string; statusCode: number }>>('/logs/echo');
    expect(logs.filter((l) => l.requestId === requestId).map((l) => l.statusCode)).toEqual([200, 500]);
  });

  it('ends a job dead after its attempts, lists it, and re-queues it on retry; only a dead job can be retried', async () => {
    await start();
    await deploy('echo', { retry: '{"attempts":2,"backoffMs":10,"maxBackoffMs":10}' });
    const { requestId } = (await (await post('/async/echo/always')).json()) as { requestId: string };
    const dead = await ended(requestId);
    expect(dead).toMatchObject({ status: 'dead', attempts: 2, statusCode: 500, error: 'always fails (after 2 of 2 attempts)' });
    expect((await json<Job[]>('/invocations?function=echo&status=dead')).map((j) => j.requestId)).toEqual([requestId]);

    const retried = await control(`/invocations/${requestId}/retry`, { method: 'POST' });
    expect(retried.status).toBe(202);
    expect(await retried.json()).toMatchObject({ requestId, status: 'queued', attempts: 0 });
    const again = await ended(requestId);
    expect(again).toMatchObject({ status: 'dead', attempts: 2 });
    expect(again.history).toHaveLength(4);

    const ok = (await (await post('/async/echo')).json()) as { requestId: string };
    await ended(ok.requestId);
    const notDead = await control(`/invocations/${ok.requestId}/retry`, { method: 'POST' });
    expect(notDead.status).toBe(409);
    expect(await notDead.json()).toMatchObject({ code: 'JOB_NOT_DEAD' });
    const missing = await control(`/invocations/no-such-job`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no async job "no-such-job"', code: 'JOB_NOT_FOUND' });
    const badQuery = await control(`/invocations?status=lost`);
    expect(badQuery.status).toBe(400);
  });

  it('posts the result to X-Callback-Url with the request id, and shows the delivery in the job', async () => {
    await start();
    await deploy('echo');
    const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
    const receiver: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        // The first delivery fails: it is retried.
        res.writeHead(received.length === 1 ? 503 : 204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/done`;
      const { requestId } = (await (await post('/async/echo', '{}', { 'x-callback-url': url })).json()) as { requestId: string };
      await vi.waitFor(async () => expect((await json<Job>(`/invocations/${requestId}`)).callback).toMatchObject({ state: 'delivered', statusCode: 204, attempts: 2 }), {
        timeout: 8000,
        interval: 50,
      });
      expect(received).toHaveLength(2);
      expect(received[1]!.headers['x-glambdar-request-id']).toBe(requestId);
      expect(JSON.parse(received[1]!.body)).toMatchObject({ requestId, status: 'succeeded', statusCode: 200, response: { encoding: 'utf8' } });
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('makes jobs over the rate limit wait for their token instead of failing', async () => {
    await start();
    await deploy('echo', { rateLimit: '2' });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(((await (await post('/async/echo')).json()) as { requestId: string }).requestId);
    const jobs = await Promise.all(ids.map(ended));
    expect(jobs.map((j) => [j.status, j.attempts, j.statusCode])).toEqual(Array.from({ length: 4 }, () => ['succeeded', 1, 200]));
    const text = await (await control(`/metrics`)).text();
    expect(text).not.toContain('glambdar_invocation_responses_total{function="echo",code="429"}');
  });

  it('answers 503 with Retry-After past GLAMBDAR_MAX_JOBS open jobs of a function', async () => {
    await start({ maxJobsPerFunction: 2 });
    await deploy('echo', { retry: '{"attempts":1}' });
    for (let i = 0; i < 2; i++) await ended(((await (await post('/async/echo/always')).json()) as { requestId: string }).requestId);
    const full = await post('/async/echo');
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('30');
    expect(await full.json()).toMatchObject({ code: 'QUEUE_FULL' });
  });

  it('ends the queued jobs of a deleted function dead with the reason', async () => {
    await start();
    await deploy('echo', { asyncConcurrency: '1' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await (await post('/async/echo/slow')).json()) as { requestId: string }).requestId);
    expect((await control(`/del/echo`, { method: 'DELETE' })).status).toBe(200);
    const jobs = await Promise.all(ids.map(ended));
    expect(jobs.filter((j) => j.status === 'dead').every((j) => j.error === 'function "echo" was deleted')).toBe(true);
    expect(jobs.slice(1).map((j) => j.status)).toEqual(['dead', 'dead']);
  });

  it('shows queue depth, dead jobs and attempts in /metrics', async () => {
    await start();
    await deploy('echo', { retry: '{"attempts":1}' });
    await ended(((await (await post('/async/echo/always')).json()) as { requestId: string }).requestId);
    const text = await (await control(`/metrics`)).text();
    expect(text).toContain('glambdar_async_dead_jobs{function="echo"} 1');
    expect(text).toContain('glambdar_async_queue_depth{function="echo"} 0');
    expect(text).toContain('glambdar_async_oldest_job_age_seconds{function="echo"} 0');
    expect(text).toContain('glambdar_async_attempts_total{function="echo",outcome="dead"} 1');
  });
});

describe('schedules through the API', () => {
  it('refuses an invalid cron expression, time zone or attempts with 400 naming the field, applying nothing', async () => {
    await start();
    await deploy('echo');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ schedule: '61 * * * *' }, /^invalid spec: schedule: not a valid cron expression: /],
      [{ schedule: '0 0 30 2 *' }, /^invalid spec: schedule: "0 0 30 2 \*" never fires$/],
      [{ timezone: 'Nowhere/City' }, /^invalid config: timezone: must be an IANA time zone name/],
      [{ retry: { attempts: 0 } }, /^invalid config: retry\.attempts: Too small/],
    ];
    for (const [patch, message] of cases) {
      const res = await control(`/config/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(message);
    }
    const info = await json<{ spec: { schedule: null; retry: { attempts: number } }; generation: number }>('/info/echo');
    expect(info).toMatchObject({ generation: 1, spec: { schedule: null, retry: { attempts: 3 } } });
    const badDeploy = await deploy('other', { schedule: 'nope nope nope nope nope' });
    expect(badDeploy.status).toBe(400);
    expect((await control(`/info/other`)).status).toBe(404);
  });

  it('fires a schedule set through /config: jobs with x-glambdar-schedule, times in /info, a SCHEDULE column', async () => {
    await start();
    await deploy('echo');
    const res = await control(`/config/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schedule: '* * * * * *', schedulePayload: { from: 'cron' }, retry: { backoffMs: 10 } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ retry: { attempts: 3, backoffMs: 10, maxBackoffMs: 60_000 } });
    let fired: Job | undefined;
    await vi.waitFor(
      async () => {
        fired = (await json<Job[]>('/invocations?function=echo&status=succeeded'))[0];
        expect(fired).toBeDefined();
      },
      { timeout: 5000, interval: 50 },
    );
    const answer = JSON.parse(fired!.response!.body) as { echo: { method: string; path: string; body: string; headers: Record<string, string> } };
    expect(answer.echo).toMatchObject({ method: 'POST', path: '/', body: '{"from":"cron"}' });
    expect(answer.echo.headers['x-glambdar-schedule']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    const info = await json<{ status: { lastScheduleTime: string; nextScheduleTime: string } }>('/info/echo');
    expect(Date.parse(info.status.nextScheduleTime)).toBeGreaterThan(Date.parse(info.status.lastScheduleTime));
    const table = await (await control(`/info?format=table`)).text();
    expect(table.split('\n')[1]).toContain('* * * * * *');
    await control(`/config/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"schedule":null}' });
    expect((await json<{ status: { nextScheduleTime: null } }>('/info/echo')).status.nextScheduleTime).toBeNull();
  });

  it('fires a schedule a manifest declares, as one set through the API', async () => {
    await mkdir(join(dir, 'manifests', 'ticker'), { recursive: true });
    await writeFile(join(dir, 'manifests', 'ticker', 'index.js'), ECHO);
    await writeFile(
      join(dir, 'manifests', 'ticker.yaml'),
      'apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: ticker\nspec:\n  code: ./ticker\n  schedule: "* * * * * *"\n  schedulePayload: {from: manifest}\n',
    );
    await start({}, true);
    await vi.waitFor(
      async () => {
        const [job] = await json<Job[]>('/invocations?function=ticker&status=succeeded');
        expect(JSON.parse(job!.response!.body)).toMatchObject({ echo: { body: '{"from":"manifest"}' } });
      },
      { timeout: 8000, interval: 50 },
    );
    expect((await json<{ spec: { schedule: string } }>('/info/ticker')).spec.schedule).toBe('* * * * * *');
  });
});
