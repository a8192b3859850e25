import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import { control, deploy, eventually, functionContainers, info, instanceContainers, integrationEnabled, join, makeZip, startedContainers, useRuntimes, type TestRuntime } from './harness.js';

/** Answers its version; `ms` of sleep first (the container's event loop stays free meanwhile). */
const versioned = (version: string, ms = 0) =>
  `exports.handler = async () => { ${ms > 0 ? `await new Promise((r) => setTimeout(r, ${ms}));` : ''} return { body: { version: '${version}' } }; };`;

interface Answer {
  status: number;
  version: string | undefined;
  revision: string | null;
  /** When the request was sent (ms since epoch). */
  sentAt: number;
}

async function call(rt: TestRuntime, target: string): Promise<Answer> {
  const sentAt = Date.now();
  try {
    const res = await fetch(`${rt.url}/invoke/${target}`, { method: 'POST' });
    const text = await res.text();
    let version: string | undefined;
    try {
      version = (JSON.parse(text) as { version?: string }).version;
    } catch {
      version = undefined;
    }
    return { status: res.status, version, revision: res.headers.get('x-glambdar-revision'), sentAt };
  } catch {
    return { status: 0, version: undefined, revision: null, sentAt };
  }
}

/** `concurrency` loops invoking `target` until `stop` is called; every answer is kept. */
function runningLoad(rt: TestRuntime, target: string, concurrency: number): { stop(): Promise<Answer[]> } {
  const answers: Answer[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) answers.push(await call(rt, target));
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return answers;
    },
  };
}

/** Exactly `count` invocations, `concurrency` at a time. */
async function fixedLoad(rt: TestRuntime, target: string, count: number, concurrency: number): Promise<Answer[]> {
  const answers: Answer[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        answers.push(await call(rt, target));
      }
    }),
  );
  return answers;
}

interface RevisionBody {
  revision: number;
  traffic: number;
  tags: string[];
  digest: string;
  replicas: number;
  readyReplicas: number;
}

async function revisions(rt: TestRuntime, name: string): Promise<RevisionBody[]> {
  return (await (await control(rt, `/revisions/${name}`)).json()) as RevisionBody[];
}

async function configure(rt: TestRuntime, name: string, patch: unknown): Promise<Response> {
  return control(rt, `/config/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
}

async function deployVersions(rt: TestRuntime, name: string, versions: string[], fields: Record<string, string> = {}, ms = 0): Promise<void> {
  for (const v of versions) {
    const res = await deploy(rt.url, `${name}.zip`, await makeZip({ 'index.js': versioned(v, ms) }), fields);
    expect(res.ok).toBe(true);
  }
}

describe.runIf(integrationEnabled)('revisions on a real Docker engine', () => {
  const start = useRuntimes();

  it('rolls back to v1 under a running load as generation 4, with no failed request, and answers only v1 after the rollout', async () => {
    const rt = await start();
    await deployVersions(rt, 'undo', ['v1', 'v2', 'v3'], { minWarm: '2', maxConcurrency: '8' }, 20);
    // Warm on v3 alone: the status counts replicas of every generation, and a v2 container may
    // still serve while the v2 -> v3 rollout finishes (on a slow machine, after v3 is ready).
    await eventually(
      async () => {
        const s = (await info(rt, 'undo')).status;
        if (s.observedGeneration !== 3 || s.readyReplicas !== 2 || s.replicas !== 2) return undefined;
        const containers = await functionContainers(rt, 'undo');
        return containers.length > 0 && containers.every((c) => c.Labels[LABELS.generation] === '3' && c.State === 'running') ? true : undefined;
      },
      30_000,
      'v3 warm',
    );
    const load = runningLoad(rt, 'undo', 6);
    await new Promise((r) => setTimeout(r, 500));
    const rolled = await control(rt, `/rollback/undo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"revision":1}' });
    expect(rolled.status).toBe(200);
    expect(await rolled.json()).toEqual({ function: 'undo', status: 'rolled back', generation: 4, revision: 4, rolledBackTo: 1 });

    // The rollout is over once every container serving the function is one of revision 4.
    let doneAt = 0;
    try {
      await eventually(
        async () => {
          const s = (await info(rt, 'undo')).status;
          if (s.observedGeneration !== 4 || s.readyReplicas < 1) return undefined;
          const containers = await functionContainers(rt, 'undo');
          if (containers.length === 0 || containers.some((c) => c.Labels[LABELS.generation] !== '4' || c.State !== 'running')) return undefined;
          doneAt = Date.now();
          return true;
        },
        30_000,
        'the rollout to revision 4',
      );
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      const answers = await load.stop();
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
      expect(answers.length).toBeGreaterThan(50);
      // The load spanned the rollback: v3 answered before it, v1 after it.
      expect(new Set(answers.map((a) => a.version))).toEqual(new Set(['v3', 'v1']));
      const after = answers.filter((a) => a.sentAt > doneAt);
      expect(after.length).toBeGreaterThan(10);
      expect(after.filter((a) => a.version !== 'v1' || a.revision !== '4')).toEqual([]);
    }
    expect((await revisions(rt, 'undo')).map((r) => [r.revision, r.traffic])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 100],
    ]);
  });

  it('splits 2,000 requests 90/10 within 85-95 % / 5-15 %, the 10 % revision on fewer containers than the 90 % one', async () => {
    const rt = await start({ env: { queueTimeoutMs: '60000' } });
    await deployVersions(rt, 'canary', ['v1', 'v2'], { maxConcurrency: '4' }, 50);
    const split = await configure(rt, 'canary', { traffic: [{ revision: 1, percent: 90, tag: 'stable' }, { latestRevision: true, percent: 10, tag: 'next' }] });
    expect(split.status).toBe(200);
    // One warm container per revision first. Starting cold, the load is a closed loop: while
    // the 10 % revision's first container starts (slowly, on a loaded machine), every client
    // whose next request draws it waits there, the 90 % revision's fast answers send the rest
    // after them, and the autoscaler rightly starts a container per 4 waiters. That transient
    // gave the 10 % revision as many containers as the 90 % one (5 and 5, and means of 3.6-3.8
    // against 5.6, in three CI runs); sizing by share is what this test is about.
    for (const tag of ['stable', 'next']) expect((await call(rt, `canary@${tag}`)).status).toBe(200);
    await eventually(
      async () => ((await revisions(rt, 'canary')).every((r) => r.replicas === 1 && r.readyReplicas === 1) ? true : undefined),
      30_000,
      'one ready container per revision',
    );

    // Watch the containers of each revision while the load runs.
    const samples: Array<Map<number, number>> = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(new Map((await revisions(rt, 'canary')).map((r) => [r.revision, r.replicas])));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const answers = await fixedLoad(rt, 'canary', 2000, 16).finally(() => {
      sampling = false;
    });
    await sampler;

    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    const first = answers.filter((a) => a.revision === '1' && a.version === 'v1').length / answers.length;
    const second = answers.filter((a) => a.revision === '2' && a.version === 'v2').length / answers.length;
    expect(first + second).toBe(1);
    expect(first).toBeGreaterThanOrEqual(0.85);
    expect(first).toBeLessThanOrEqual(0.95);
    expect(second).toBeGreaterThanOrEqual(0.05);
    expect(second).toBeLessThanOrEqual(0.15);
    // 16 in flight, 4 per container: the 90 % revision needs several, the 10 % one one or two
    // (a stem cell and the container that replaces it overlap for a moment).
    const peak = (revision: number) => Math.max(...samples.map((s) => s.get(revision) ?? 0));
    const mean = (revision: number) => samples.reduce((sum, s) => sum + (s.get(revision) ?? 0), 0) / samples.length;
    expect(samples.length).toBeGreaterThan(10);
    expect(peak(1)).toBeGreaterThanOrEqual(3);
    expect(peak(2)).toBeGreaterThanOrEqual(1);
    expect(peak(2)).toBeLessThan(peak(1));
    // And under half on average (warm first: 1.2-1.9 against 5.4-6.6 in four runs here, two
    // beside two busy loops).
    expect(mean(2)).toBeLessThan(mean(1) / 2);
    const byRevision = new Map<string, number>();
    for (const c of await functionContainers(rt, 'canary')) {
      const g = c.Labels[LABELS.generation] ?? '?';
      byRevision.set(g, (byRevision.get(g) ?? 0) + 1);
    }
    expect([...byRevision.keys()].every((g) => g === '1' || g === '2')).toBe(true);
  });

  it("reaches a revision by its tag, and deleting the function removes every revision's containers and code", async () => {
    const rt = await start();
    await deployVersions(rt, 'tagged', ['v1', 'v2', 'v3']);
    const set = await configure(rt, 'tagged', { traffic: [{ latestRevision: true, percent: 100 }, { revision: 1, percent: 0, tag: 'first' }, { revision: 2, tag: 'second' }] });
    expect(set.status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expect(await call(rt, 'tagged@first')).toMatchObject({ status: 200, version: 'v1', revision: '1' });
      expect(await call(rt, 'tagged@second')).toMatchObject({ status: 200, version: 'v2', revision: '2' });
      expect(await call(rt, 'tagged')).toMatchObject({ status: 200, version: 'v3', revision: '3' });
    }
    expect((await call(rt, 'tagged@nosuch')).status).toBe(404);
    await eventually(
      async () => {
        const labelled = await instanceContainers(rt.instanceId, 'tagged');
        const generations = new Set(labelled.map((c) => c.Labels[LABELS.generation]));
        return generations.size === 3 ? true : undefined;
      },
      20_000,
      'a labelled container of each of the three revisions',
    );
    const ids = (await functionContainers(rt, 'tagged')).map((c) => c.Id);
    expect((await readdir(join(rt.dir, 'functions', 'tagged'))).length).toBe(3);

    expect((await control(rt, `/del/tagged`, { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => ((await functionContainers(rt, 'tagged', ids)).length === 0 ? true : undefined), 20_000, 'every container gone');
    await expect(readdir(join(rt.dir, 'functions', 'tagged'))).rejects.toThrow();
    expect((await control(rt, `/revisions/tagged`)).status).toBe(404);
  });

  it("keeps revisions, traffic and tags across a restart and adopts every revision's containers", async () => {
    const first = await start();
    await deployVersions(first, 'durable', ['v1', 'v2'], { minWarm: '2' });
    const set = await configure(first, 'durable', { traffic: [{ revision: 1, percent: 50, tag: 'one' }, { latestRevision: true, percent: 50, tag: 'two' }] });
    expect(set.status).toBe(200);
    await eventually(
      async () => {
        // Exactly one container per revision, both running (a scaled-down one fully gone); the
        // function's standby (created, never started) aside.
        const labelled = await startedContainers(first, 'durable');
        const generations = labelled.map((c) => c.Labels[LABELS.generation]).sort();
        const running = labelled.every((c) => c.State === 'running');
        return running && generations.join(',') === '1,2' && (await info(first, 'durable')).status.containers.length === 2 ? true : undefined;
      },
      30_000,
      'one labelled container per revision',
    );
    const before = await revisions(first, 'durable');
    const ids = (await startedContainers(first, 'durable')).map((c) => c.Id).sort();
    await first.stop();

    const second = await start({ dir: first.dir });
    expect(second.instanceId).toBe(first.instanceId);
    const after = await revisions(second, 'durable');
    expect(after.map((r) => [r.revision, r.traffic, r.tags, r.digest])).toEqual(before.map((r) => [r.revision, r.traffic, r.tags, r.digest]));
    expect(after.map((r) => r.readyReplicas)).toEqual([1, 1]);
    expect(await call(second, 'durable@one')).toMatchObject({ status: 200, version: 'v1', revision: '1' });
    expect(await call(second, 'durable@two')).toMatchObject({ status: 200, version: 'v2', revision: '2' });
    expect((await startedContainers(second, 'durable')).map((c) => c.Id).sort()).toEqual(ids);
  });
});
