import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { systemClock } from '../support/clock.js';
import { TerminalError } from '../support/errors.js';
import { silentLogger } from '../support/logger.js';
import { templateOf } from '../pool/replica.js';
import { Pool, soleTarget } from '../pool/router.js';
import { Reconciler } from './reconciler.js';
import { TrafficPlans } from '../revisions/plans.js';
import { SqliteStore } from '../state/sqlite-store.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';
import type { FunctionRecord, FunctionStatus } from '../state/records.js';

const HANDLER = `
exports.handler = async (req) => {
  const ms = Number(req.query.ms ?? 0);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { statusCode: 200, body: 'ok' };
};
`;

let dir: string;
let functionsDir: string;
let store: SqliteStore;
let sandbox: FakeSandbox;
let pool: Pool;
let reconciler: Reconciler;
let purged: string[];

async function writeCode(name: string, digest: string, source = HANDLER): Promise<void> {
  const codeDir = join(functionsDir, name, digest);
  await mkdir(codeDir, { recursive: true });
  await writeFile(join(codeDir, 'index.js'), source);
}

function apply(spec: Partial<FunctionSpec>, options: { name?: string; digest?: string } = {}): FunctionRecord {
  return store.apply(
    {
      name: options.name ?? 'hello',
      spec: FunctionSpec.parse(spec),
      codeDigest: options.digest ?? 'd1',
      source: 'api',
      manifestPath: null,
    },
    Date.now(),
  ).record;
}

function condition(status: FunctionStatus | undefined, type: string) {
  return status?.conditions.find((c) => c.type === type);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-rec-'));
  functionsDir = join(dir, 'functions');
  store = new SqliteStore(':memory:');
  sandbox = new FakeSandbox();
  purged = [];
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
  reconciler = new Reconciler({
    store,
    pool,
    sandbox,
    clock: systemClock,
    log: silentLogger,
    functionsDir,
    plans: new TrafficPlans(store),
    onPurged: (name) => purged.push(name),
  });
});

afterEach(async () => {
  for (const name of pool.functionNames()) {
    pool.failWaiters(name, new Error('test over'));
    for (const replica of [...pool.replicas(name)]) await pool.remove(replica);
  }
  await sandbox.closeAll();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Reconciler', () => {
  it('starts minWarm containers and writes a Ready status for the current generation', async () => {
    await writeCode('hello', 'd1');
    const fn = apply({ minWarm: 2 });
    await expect(reconciler.reconcile('hello')).resolves.toEqual({});

    const containers = await sandbox.list('hello');
    expect(containers).toHaveLength(2);
    expect(containers.every((c) => c.running && c.template === templateOf(fn) && c.generation === fn.generation)).toBe(true);
    expect(pool.replicas('hello').map((r) => r.state)).toEqual(['ready', 'ready']);

    const status = store.getStatus('hello');
    expect(status).toMatchObject({ phase: 'Ready', observedGeneration: fn.generation, replicas: 2, readyReplicas: 2, desiredReplicas: 2 });
    for (const type of ['CodeReady', 'PoolReady', 'Ready']) {
      expect(condition(status, type)).toMatchObject({ status: 'True', observedGeneration: fn.generation });
    }
    expect(condition(status, 'PoolReady')?.reason).toBe('ContainersReady');

    // Level-triggered: reconciling again changes nothing.
    await reconciler.reconcile('hello');
    expect(sandbox.starts).toBe(2);
    expect(pool.replicas('hello')).toHaveLength(2);
  });

  it('removes the containers, code folder and record of a function marked deleting', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 1 });
    await reconciler.reconcile('hello');
    expect(sandbox.containers.size).toBe(1);

    expect(store.markDeleting('hello', Date.now())).toBe(true);
    await expect(reconciler.reconcile('hello')).resolves.toEqual({});

    expect(await sandbox.list('hello')).toEqual([]);
    expect(pool.replicas('hello')).toEqual([]);
    expect(pool.functionNames()).not.toContain('hello');
    expect(existsSync(join(functionsDir, 'hello'))).toBe(false);
    expect(store.get('hello')).toBeUndefined();
    expect(store.getStatus('hello')).toBeUndefined();
    expect(purged).toEqual(['hello']);
  });

  it('lets a busy replica of a deleted function drain before it is removed', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 1 });
    await reconciler.reconcile('hello');
    const fn = store.get('hello')!;
    const lease = await pool.acquire(soleTarget(fn));

    store.markDeleting('hello', Date.now());
    const result = await reconciler.reconcile('hello');
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    expect(store.get('hello')?.deleting).toBe(true);
    expect(store.getStatus('hello')?.phase).toBe('Terminating');
    expect(lease.replica.state).toBe('draining');

    pool.release(lease.replica);
    await vi.waitFor(() => expect(pool.replicas('hello')).toEqual([]), { timeout: 2_000, interval: 5 });
    await reconciler.reconcile('hello');
    expect(store.get('hello')).toBeUndefined();
    expect(sandbox.containers.size).toBe(0);
  });

  it('removes a container the pool does not know whose template does not match', async () => {
    await writeCode('hello', 'd1');
    const fn = apply({ minWarm: 0 });
    const stranger = sandbox.addForeign({
      replicaKey: 'stranger01',
      functionName: 'hello',
      generation: 0,
      digest: 'old',
      template: 'not-the-template',
      stem: false,
      running: true,
      exited: false,
    });
    const stopped = sandbox.addForeign({
      replicaKey: 'stopped001',
      functionName: 'hello',
      generation: fn.generation,
      digest: fn.codeDigest,
      template: templateOf(fn),
      stem: false,
      running: false,
      exited: true,
    });
    const otherFunction = sandbox.addForeign({
      replicaKey: 'other00001',
      functionName: 'other',
      generation: 1,
      digest: 'x',
      template: 'x',
      stem: false,
      running: true,
      exited: false,
    });

    await reconciler.reconcile('hello');
    expect(sandbox.removed).toEqual(expect.arrayContaining([stranger, stopped]));
    expect(sandbox.containers.has(otherFunction)).toBe(true);
    expect(await sandbox.list('hello')).toEqual([]);
    expect(pool.replicas('hello')).toEqual([]);
  });

  it('adopts a running container of the current template whose worker answers', async () => {
    await writeCode('hello', 'd1');
    const fn = apply({ minWarm: 1 });
    // Start a container outside the pool, as a previous run of Glambdar would have left it.
    const replicaKey = 'adopted001';
    const id = await sandbox.start({
      replicaKey,
      functionName: 'hello',
      generation: fn.generation,
      digest: fn.codeDigest,
      template: templateOf(fn),
      codeDir: join(functionsDir, 'hello', 'd1'),
      workerDir: join(dir, 'worker'),
      socketDir: join(dir, 's', replicaKey),
      memoryMb: fn.spec.memoryMb,
      cpus: fn.spec.cpus,
      env: fn.spec.env,
    });

    await reconciler.reconcile('hello');
    expect(sandbox.starts).toBe(1);
    expect(pool.replicas('hello').map((r) => [r.key, r.containerId, r.state])).toEqual([[replicaKey, id, 'ready']]);
    expect(store.getStatus('hello')?.phase).toBe('Ready');
  });

  it('removes old code versions once no container runs them and no kept revision names them, sparing recent installs', async () => {
    // One revision kept: d1 is no revision's once d2 is deployed.
    store.close();
    store = new SqliteStore(':memory:', { revisionHistory: 1 });
    const pruning = new Reconciler({ store, pool, sandbox, clock: systemClock, log: silentLogger, functionsDir, plans: new TrafficPlans(store), codeGraceMs: 0 });
    await writeCode('hello', 'd1');
    apply({ minWarm: 1 }, { digest: 'd1' });
    await pruning.reconcile('hello');
    expect(await readdir(join(functionsDir, 'hello'))).toEqual(['d1']);

    // A d1 container busy through the rollout drains on d1's code: the folder stays until it is gone.
    const old = pool.replicas('hello')[0]!;
    const lease = await pool.acquire(soleTarget(store.get('hello')!));
    const inFlight = lease.replica.client!.invoke({ method: 'GET', path: '/', query: { ms: '100' }, headers: {} }, Buffer.alloc(0));
    await writeCode('hello', 'd2');
    apply({ minWarm: 1 }, { digest: 'd2' });
    await pruning.reconcile('hello');
    expect(old.state).toBe('draining');
    expect((await readdir(join(functionsDir, 'hello'))).sort()).toEqual(['d1', 'd2']);
    expect((await inFlight).statusCode).toBe(200);
    pool.release(old);
    await vi.waitFor(() => expect(pool.replicas('hello').map((r) => r.generation)).toEqual([2]), { timeout: 2_000, interval: 5 });
    await pruning.reconcile('hello');
    expect(await readdir(join(functionsDir, 'hello'))).toEqual(['d2']);

    // With the default grace, a version installed minutes ago is never taken.
    await writeCode('hello', 'd3');
    await new Reconciler({ store, pool, sandbox, clock: systemClock, log: silentLogger, functionsDir, plans: new TrafficPlans(store) }).reconcile('hello');
    expect((await readdir(join(functionsDir, 'hello'))).sort()).toEqual(['d2', 'd3']);
  });

  it('replaces old replicas after new ones are ready when a container field (memoryMb) changes', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 2, memoryMb: 128 });
    await reconciler.reconcile('hello');
    const before = pool.replicas('hello').map((r) => r.containerId!);
    expect(before).toHaveLength(2);

    const updated = apply({ minWarm: 2, memoryMb: 256 });
    expect(updated.generation).toBe(2);
    sandbox.events.length = 0;
    await reconciler.reconcile('hello');
    await vi.waitFor(() => expect(sandbox.removed).toEqual(expect.arrayContaining(before)), { timeout: 2_000, interval: 5 });

    const after = pool.replicas('hello');
    expect(after).toHaveLength(2);
    expect(after.every((r) => r.template === templateOf(updated) && r.generation === 2 && r.state === 'ready')).toBe(true);
    expect(after.some((r) => before.includes(r.containerId!))).toBe(false);
    expect(sandbox.startedSpecs.slice(-2).every((s) => s.memoryMb === 256)).toBe(true);

    // Both new containers were started before any old one was removed.
    const firstRemoval = sandbox.events.findIndex((e) => e.startsWith('remove '));
    const starts = sandbox.events.map((e, i) => (e.startsWith('start ') ? i : -1)).filter((i) => i >= 0);
    expect(starts).toHaveLength(2);
    expect(Math.max(...starts)).toBeLessThan(firstRemoval);

    expect(store.getStatus('hello')).toMatchObject({ phase: 'Ready', observedGeneration: 2 });
  });

  it('keeps serving from an old replica that is busy during a rolling update until it drains', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 1, memoryMb: 128 });
    await reconciler.reconcile('hello');
    const old = pool.replicas('hello')[0]!;
    const lease = await pool.acquire(soleTarget(store.get('hello')!));
    const inFlight = lease.replica.client!.invoke({ method: 'GET', path: '/', query: { ms: '30' }, headers: {} }, Buffer.alloc(0));

    apply({ minWarm: 1, memoryMb: 256 });
    await reconciler.reconcile('hello');
    expect(old.state).toBe('draining');
    expect(sandbox.containers.has(old.containerId!)).toBe(true);
    // New requests go to the new replica.
    const fresh = await pool.acquire(soleTarget(store.get('hello')!));
    expect(fresh.replica).not.toBe(old);
    pool.release(fresh.replica);

    expect((await inFlight).statusCode).toBe(200);
    pool.release(old);
    await vi.waitFor(() => expect(sandbox.containers.has(old.containerId!)).toBe(false), { timeout: 2_000, interval: 5 });
  });

  it('replaces a replica whose container died on the next reconcile', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 1 });
    await reconciler.reconcile('hello');
    const dead = pool.replicas('hello')[0]!;
    await sandbox.crash(dead.containerId!);
    await vi.waitFor(() => expect(pool.replicas('hello')).toEqual([]), { timeout: 2_000, interval: 5 });

    await reconciler.reconcile('hello');
    const [replacement, ...rest] = pool.replicas('hello');
    expect(rest).toEqual([]);
    expect(replacement?.state).toBe('ready');
    expect(replacement?.containerId).not.toBe(dead.containerId);
    expect((await sandbox.list('hello')).map((c) => c.id)).toEqual([replacement!.containerId]);
    expect(store.getStatus('hello')?.phase).toBe('Ready');
  });

  it('keeps the same replicas when only the rate limit changes', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 2, rateLimit: 0 });
    await reconciler.reconcile('hello');
    const before = pool.replicas('hello').map((r) => r.key).sort();

    const updated = apply({ minWarm: 2, rateLimit: 5 });
    expect(updated.generation).toBe(2);
    await reconciler.reconcile('hello');
    expect(pool.replicas('hello').map((r) => r.key).sort()).toEqual(before);
    expect(sandbox.starts).toBe(2);
    expect(sandbox.removed).toEqual([]);
    expect(store.getStatus('hello')).toMatchObject({ phase: 'Ready', observedGeneration: 2 });
  });

  it('reports CodeMissing and throws TerminalError when the code folder is gone', async () => {
    const fn = apply({ minWarm: 1 }, { digest: 'nowhere' });
    await expect(reconciler.reconcile('hello')).rejects.toBeInstanceOf(TerminalError);
    const status = store.getStatus('hello');
    expect(status).toMatchObject({ phase: 'Failed', observedGeneration: fn.generation });
    expect(condition(status, 'CodeReady')).toMatchObject({ status: 'False', reason: 'CodeMissing' });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'CodeMissing' });
    expect(sandbox.starts).toBe(0);
  });

  it('shows phase Failed with the load error when index.js throws at load', async () => {
    await writeCode('hello', 'd1', "throw new Error('broken at load');\n");
    apply({ minWarm: 1 });
    await reconciler.reconcile('hello');
    const status = store.getStatus('hello');
    expect(status?.phase).toBe('Failed');
    // The container runs, but it cannot serve the function: not ready (kubectl shows 0/1 too).
    expect(status).toMatchObject({ replicas: 1, readyReplicas: 0 });
    const poolReady = condition(status, 'PoolReady');
    expect(poolReady).toMatchObject({ status: 'False', reason: 'LoadFailed' });
    expect(poolReady?.message).toContain('broken at load');
    expect(condition(status, 'CodeReady')?.status).toBe('True');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'LoadFailed' });
  });

  it('replaces a container whose function failed to load only after a doubling back-off', async () => {
    await writeCode('hello', 'd1', "throw new Error('broken at load');\n");
    apply({ minWarm: 1 });
    const backoff = new Reconciler({ store, pool, sandbox, clock: systemClock, log: silentLogger, functionsDir, plans: new TrafficPlans(store), loadRetryBaseMs: 100 });
    const first = await backoff.reconcile('hello');
    const [broken] = pool.replicas('hello');
    expect(broken?.loadError).toContain('broken at load');
    expect(first.requeueAfterMs).toBeGreaterThan(0);
    expect(first.requeueAfterMs).toBeLessThanOrEqual(100);

    // Before the back-off has passed, a reconcile leaves the container alone: no hot loop.
    await backoff.reconcile('hello');
    expect(pool.replicas('hello')).toEqual([broken]);
    expect(sandbox.starts).toBe(1);

    await new Promise((r) => setTimeout(r, 120));
    const second = await backoff.reconcile('hello');
    expect(sandbox.starts).toBe(2);
    expect(pool.replicas('hello')[0]).not.toBe(broken);
    // The next wait is twice the first.
    expect(second.requeueAfterMs).toBeGreaterThan(100);
    expect(second.requeueAfterMs).toBeLessThanOrEqual(200);
    expect(store.getStatus('hello')?.phase).toBe('Failed');
  });

  it('reports StartFailed and rethrows when containers cannot start', async () => {
    await writeCode('hello', 'd1');
    apply({ minWarm: 1 });
    sandbox.failStart = () => new Error('no such image');
    await expect(reconciler.reconcile('hello')).rejects.toThrow('no such image');
    const status = store.getStatus('hello');
    expect(status?.phase).toBe('Failed');
    expect(condition(status, 'PoolReady')).toMatchObject({ status: 'False', reason: 'StartFailed', message: 'no such image' });
  });

  it('reports SandboxUnavailable while the engine is down, fails waiting invocations with 503 quickly, and recovers once it is back', async () => {
    await writeCode('hello', 'd1');
    const fn = apply({ minWarm: 1 });
    sandbox.down = true;
    await expect(reconciler.reconcile('hello')).rejects.toThrow(/not reachable/);
    const down = store.getStatus('hello');
    expect(down?.phase).toBe('Failed');
    expect(condition(down, 'PoolReady')).toMatchObject({ status: 'False', reason: 'SandboxUnavailable' });
    // An invocation that needs a container gets the engine's error at once, not after the queue time.
    const started = Date.now();
    await expect(pool.acquire(soleTarget(fn))).rejects.toMatchObject({ code: 'SANDBOX_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(1000);

    sandbox.down = false;
    await reconciler.reconcile('hello');
    const up = store.getStatus('hello');
    expect(up?.phase).toBe('Ready');
    expect(pool.replicas('hello').filter((r) => r.state === 'ready')).toHaveLength(1);
  });
});
