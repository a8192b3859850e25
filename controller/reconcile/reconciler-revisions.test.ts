import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { systemClock } from '../support/clock.js';
import { silentLogger } from '../support/logger.js';
import { Pool } from '../pool/router.js';
import { TrafficPlans } from '../revisions/plans.js';
import { SqliteStore } from '../state/sqlite-store.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';
import type { FunctionRecord } from '../state/records.js';
import { Reconciler, type ScalingAdvisor } from './reconciler.js';

/** The reconciler with traffic split between revisions: a pool per serving revision. */

const HANDLER = `exports.handler = async () => ({ statusCode: 200, body: 'ok' });\n`;

let dir: string;
let functionsDir: string;
let store: SqliteStore;
let sandbox: FakeSandbox;
let pool: Pool;
let plans: TrafficPlans;

async function writeCode(digest: string): Promise<void> {
  const codeDir = join(functionsDir, 'hello', digest);
  await mkdir(codeDir, { recursive: true });
  await writeFile(join(codeDir, 'index.js'), HANDLER);
}

function apply(digest: string, spec: Record<string, unknown> = {}): FunctionRecord {
  return store.apply({ name: 'hello', spec: FunctionSpec.parse(spec), codeDigest: digest, source: 'api', manifestPath: null }, Date.now()).record;
}

/** An advisor that answers fixed recommendations per key, and records what it was told. */
function fixedAdvisor(recommendations: Record<string, number>): ScalingAdvisor & { observed: Map<string, number>; forgotten: string[] } {
  const observed = new Map<string, number>();
  const forgotten: string[] = [];
  return {
    observed,
    forgotten,
    observe: (key, spec) => observed.set(key, spec.minWarm),
    recommend: (key) => recommendations[key] ?? 0,
    predictedRps: () => 0,
    forget: (key) => forgotten.push(key),
  };
}

function reconciler(scaling?: ScalingAdvisor): Reconciler {
  return new Reconciler({ store, pool, sandbox, clock: systemClock, log: silentLogger, functionsDir, plans, ...(scaling ? { scaling } : {}) });
}

/** Live replicas per revision label (generation), sorted. */
function perRevision(): Array<[number, number]> {
  const counts = new Map<number, number>();
  for (const r of pool.replicas('hello')) if (r.state === 'ready' || r.state === 'starting') counts.set(r.generation, (counts.get(r.generation) ?? 0) + 1);
  return [...counts].sort((a, b) => a[0] - b[0]);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-recrev-'));
  functionsDir = join(dir, 'functions');
  store = new SqliteStore(':memory:');
  sandbox = new FakeSandbox();
  plans = new TrafficPlans(store);
  pool = new Pool({
    sandbox,
    clock: systemClock,
    log: silentLogger,
    functionsDir,
    socketsDir: join(dir, 's'),
    workerDir: join(dir, 'worker'),
    startTimeoutMs: 5_000,
    queueTimeoutMs: 5_000,
    maxQueuedPerFunction: 100,
    onChange: () => undefined,
  });
  await writeCode('d1');
  await writeCode('d2');
});

afterEach(async () => {
  sandbox.removeGate = null;
  for (const name of pool.functionNames()) {
    pool.failWaiters(name, new Error('test over'));
    for (const replica of [...pool.replicas(name)]) await pool.remove(replica);
  }
  await sandbox.closeAll();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Reconciler with traffic split between revisions', () => {
  it("sizes each revision from its own traffic and at least its share of the function's prediction", async () => {
    apply('d1');
    apply('d2', { traffic: [{ revision: 1, percent: 90 }, { latestRevision: true, percent: 10 }] });
    expect(store.get('hello')).toMatchObject({ generation: 2, revision: 2 });
    // The function as a whole wants 4; revision 1's own traffic 3, revision 2's none yet.
    const recommendations: Record<string, number> = { hello: 4, 'hello@1': 3, 'hello@2': 0 };
    const advisor = fixedAdvisor(recommendations);
    const rec = reconciler(advisor);
    await rec.reconcile('hello');
    // 90 % of 4 is 3.6: 4 for revision 1; 10 % of 4 is 0.4: one for revision 2, not the full size.
    expect(perRevision()).toEqual([
      [1, 4],
      [2, 1],
    ]);
    // Each revision is observed under its own key, minWarm left to the function as a whole.
    expect([...advisor.observed]).toEqual([
      ['hello@1', 0],
      ['hello@2', 0],
      ['hello', 0],
    ]);
    expect(store.getStatus('hello')).toMatchObject({ desiredReplicas: 5, readyReplicas: 5, phase: 'Ready' });

    // The split ends: its keys are forgotten, and the revision that lost its traffic drains.
    apply('d2');
    recommendations['hello'] = 2;
    await rec.reconcile('hello');
    expect(advisor.forgotten).toEqual(['hello@1', 'hello@2']);
    await rec.reconcile('hello');
    await vi.waitFor(() => expect(perRevision()).toEqual([[2, 2]]), { timeout: 2_000, interval: 5 });
  });

  it('shares minWarm out between the revisions of a split by percent', async () => {
    apply('d1');
    apply('d2', { minWarm: 3, traffic: [{ revision: 1, percent: 50 }, { latestRevision: true, percent: 50 }] });
    await reconciler().reconcile('hello');
    expect(perRevision()).toEqual([
      [1, 2],
      [2, 1],
    ]);
  });

  it('keeps maxReplicas for the function as a whole', async () => {
    apply('d1');
    apply('d2', { maxReplicas: 4, traffic: [{ revision: 1, percent: 50 }, { latestRevision: true, percent: 50 }] });
    await reconciler(fixedAdvisor({ hello: 4, 'hello@1': 4, 'hello@2': 4 })).reconcile('hello');
    expect(perRevision()).toEqual([
      [1, 2],
      [2, 2],
    ]);
  });

  it('drains at once the containers of a revision no entry serves when every entry is pinned', async () => {
    apply('d1');
    apply('d2', { minWarm: 1 });
    const rec = reconciler();
    await rec.reconcile('hello');
    expect(perRevision()).toEqual([[2, 1]]);
    apply('d2', { minWarm: 1, traffic: [{ revision: 1, percent: 100 }] });
    await rec.reconcile('hello');
    await vi.waitFor(() => expect(perRevision()).toEqual([[1, 1]]), { timeout: 2_000, interval: 5 });
  });

  it("adopts the containers of every serving revision after a restart", async () => {
    apply('d1');
    const fn = apply('d2', { minWarm: 2, traffic: [{ revision: 1, percent: 50, tag: 'one' }, { latestRevision: true, percent: 50 }] });
    await reconciler().reconcile('hello');
    expect(perRevision()).toEqual([
      [1, 1],
      [2, 1],
    ]);
    const containers = await sandbox.list('hello');
    expect(containers.map((c) => c.generation).sort()).toEqual([1, 2]);
    // A restart: the pool forgets, the containers stay.
    pool.detachAll();
    const restarted = new Pool({
      sandbox,
      clock: systemClock,
      log: silentLogger,
      functionsDir,
      socketsDir: join(dir, 's'),
      workerDir: join(dir, 'worker'),
      startTimeoutMs: 5_000,
      queueTimeoutMs: 5_000,
      maxQueuedPerFunction: 100,
      onChange: () => undefined,
    });
    pool = restarted;
    plans = new TrafficPlans(store);
    const starts = sandbox.starts;
    await reconciler().reconcile('hello');
    expect(perRevision()).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(sandbox.starts).toBe(starts);
    expect(pool.replicas('hello').map((r) => r.containerId).sort()).toEqual(containers.map((c) => c.id).sort());
    expect(fn.revision).toBe(2);
  });

  it('keeps the code of every kept revision on disk, and drops a version no revision or container names', async () => {
    await writeCode('d0');
    apply('d1', { minWarm: 1 });
    apply('d2', { minWarm: 1 });
    await new Reconciler({ store, pool, sandbox, clock: systemClock, log: silentLogger, functionsDir, plans, codeGraceMs: 0 }).reconcile('hello');
    expect((await readdir(join(functionsDir, 'hello'))).sort()).toEqual(['d1', 'd2']);
  });

  it('does not adopt back a container the pool is still removing, though the engine lists it as running', async () => {
    apply('d1');
    const recommendations: Record<string, number> = { hello: 2 };
    const rec = reconciler(fixedAdvisor(recommendations));
    await rec.reconcile('hello');
    expect(pool.replicas('hello')).toHaveLength(2);
    let finish = () => undefined as void;
    sandbox.removeGate = () => new Promise<void>((resolve) => (finish = resolve));
    recommendations['hello'] = 1;
    await rec.reconcile('hello');
    expect(pool.replicas('hello')).toHaveLength(1);
    expect((await sandbox.list('hello')).filter((c) => c.running)).toHaveLength(2);
    // The next pass sees the container being removed as running: it is no stray to adopt.
    const adopt = vi.spyOn(pool, 'adopt');
    await rec.reconcile('hello');
    expect(adopt).not.toHaveBeenCalled();
    expect(pool.replicas('hello')).toHaveLength(1);
    sandbox.removeGate = null;
    finish();
    await vi.waitFor(async () => expect(await sandbox.list('hello')).toHaveLength(1), { timeout: 2_000, interval: 5 });
    expect(sandbox.starts).toBe(2);
  });

  it('finishes a deletion only once the removals under way of its containers are done', async () => {
    apply('d1');
    const recommendations: Record<string, number> = { hello: 2 };
    const rec = reconciler(fixedAdvisor(recommendations));
    await rec.reconcile('hello');
    let finish = () => undefined as void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    // The first removal is slow; every later call (the deletion's own, and its sweep of
    // labelled containers) is not.
    let calls = 0;
    sandbox.removeGate = () => (++calls === 1 ? gate : undefined);
    recommendations['hello'] = 1;
    await rec.reconcile('hello');
    // One container is being removed (a stem-born one would carry no label to sweep it by);
    // then the function is deleted.
    store.markDeleting('hello', Date.now());
    let done = false;
    const deletion = rec.reconcile('hello').then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    expect(store.get('hello')).toBeDefined();
    finish();
    await deletion;
    expect(store.get('hello')).toBeUndefined();
    expect(await sandbox.list('hello')).toEqual([]);
  });
});
