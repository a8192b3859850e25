import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FunctionSpec } from '../../schemas/index.js';
import { functionRecord } from '../state/testing/function-record.js';
import { FakeClock, systemClock, type Clock } from '../support/clock.js';
import { FunctionLoadFailed, NoCapacity, SandboxUnavailable } from '../support/errors.js';
import { silentLogger } from '../support/logger.js';
import type { Replica } from './replica.js';
import { Pool, soleTarget, type Lease } from './router.js';
import { StemCells } from './stem-cells.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';
import type { FunctionRecord } from '../state/records.js';

/** Sleeps `?ms=` milliseconds, then answers which process served it. */
const SLEEPY_HANDLER = `
exports.handler = async (req) => {
  const ms = Number(req.query.ms ?? 0);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return { statusCode: 200, body: 'slept ' + ms };
};
`;

let dir: string;
let functionsDir: string;
let socketsDir: string;
let sandbox: FakeSandbox;
let pool: Pool;
let changes: string[];

const record = (spec: Partial<FunctionSpec>, name = 'hello', codeDigest = 'd1'): FunctionRecord => functionRecord(spec, name, codeDigest);

async function writeCode(fn: FunctionRecord, source = SLEEPY_HANDLER): Promise<void> {
  const codeDir = join(functionsDir, fn.name, fn.codeDigest);
  await mkdir(codeDir, { recursive: true });
  await writeFile(join(codeDir, 'index.js'), source);
}

function makePool(options: { clock?: Clock; queueTimeoutMs?: number; maxQueuedPerFunction?: number; stemCells?: StemCells; startTimeoutMs?: number } = {}): Pool {
  pool = new Pool({
    sandbox,
    clock: options.clock ?? systemClock,
    log: silentLogger,
    functionsDir,
    socketsDir,
    workerDir: join(dir, 'worker'),
    startTimeoutMs: options.startTimeoutMs ?? 5_000,
    queueTimeoutMs: options.queueTimeoutMs ?? 10_000,
    maxQueuedPerFunction: options.maxQueuedPerFunction ?? 1_000,
    onChange: (name) => changes.push(name),
    ...(options.stemCells ? { stemCells: options.stemCells } : {}),
  });
  return pool;
}

function invoke(lease: Lease, ms: number) {
  return lease.replica.client!.invoke({ method: 'GET', path: '/', query: { ms: String(ms) }, headers: {} }, Buffer.alloc(0));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-pool-'));
  functionsDir = join(dir, 'functions');
  socketsDir = join(dir, 's');
  sandbox = new FakeSandbox();
  changes = [];
  makePool();
});

afterEach(async () => {
  for (const name of pool.functionNames()) {
    pool.failWaiters(name, new Error('test over'));
    for (const replica of [...pool.replicas(name)]) await pool.remove(replica);
  }
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('Pool routing', () => {
  it('never sends a replica more than maxConcurrency requests at once', async () => {
    const fn = record({ maxConcurrency: 4, maxReplicas: 10 });
    await writeCode(fn);
    const perReplica = new Map<string, { now: number; max: number }>();
    const leases: Replica[] = [];

    const results = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const lease = await pool.acquire(soleTarget(fn));
        leases.push(lease.replica);
        const seen = perReplica.get(lease.replica.key) ?? { now: 0, max: 0 };
        perReplica.set(lease.replica.key, seen);
        seen.now++;
        seen.max = Math.max(seen.max, seen.now, lease.replica.inFlight);
        try {
          return await invoke(lease, 20);
        } finally {
          seen.now--;
          pool.release(lease.replica);
        }
      }),
    );

    expect(results.every((r) => r.statusCode === 200 && r.body.toString() === 'slept 20')).toBe(true);
    expect(perReplica.size).toBeGreaterThan(1);
    expect(perReplica.size).toBeLessThanOrEqual(10);
    for (const { max } of perReplica.values()) expect(max).toBeLessThanOrEqual(4);
    expect(sandbox.starts).toBeLessThanOrEqual(10);
    expect(pool.replicas('hello').every((r) => r.inFlight === 0)).toBe(true);
    expect(pool.queued('hello')).toBe(0);
  });

  it('routes a pinned revision only to its own template, and lets only the taking-over one use containers no revision serves', async () => {
    const v1 = record({ maxConcurrency: 1 }, 'hello', 'd1');
    const v2 = record({ maxConcurrency: 1 }, 'hello', 'd2');
    const stale = record({ maxConcurrency: 1 }, 'hello', 'd0');
    for (const fn of [v1, v2, stale]) await writeCode(fn);
    const serving = new Set([soleTarget(v1).template, soleTarget(v2).template]);
    const pinned = { ...soleTarget(v1), takesOver: false, serving };
    const latest = { ...soleTarget(v2), takesOver: true, serving };
    // A container of a template no revision serves any more (a rollout in progress).
    const old = await pool.start(stale);
    const own = await pool.start(v1);

    const a = await pool.acquire(pinned);
    expect(a.replica).toBe(own);
    // The latest revision has no container yet: the old one answers meanwhile.
    const b = await pool.acquire(latest);
    expect(b.replica).toBe(old);
    // The pinned revision never borrows another template: it waits for its own start.
    const c = pool.acquire(pinned);
    await vi.waitFor(() => expect(sandbox.starts).toBe(3), { timeout: 2_000, interval: 5 });
    const third = await c;
    expect(third.replica.template).toBe(pinned.template);
    expect(third.coldStart).toBe(true);
    for (const lease of [a, b, third]) pool.release(lease.replica);
  });

  it('hands waiters of one revision a replica that frees up without waiting behind those of another', async () => {
    const v1 = record({ maxConcurrency: 1, maxReplicas: 2 }, 'hello', 'd1');
    const v2 = record({ maxConcurrency: 1, maxReplicas: 2 }, 'hello', 'd2');
    for (const fn of [v1, v2]) await writeCode(fn);
    const serving = new Set([soleTarget(v1).template, soleTarget(v2).template]);
    const one = { ...soleTarget(v1), takesOver: false, serving };
    const two = { ...soleTarget(v2), takesOver: false, serving };
    await pool.start(v1);
    await pool.start(v2);
    const busy1 = await pool.acquire(one);
    const busy2 = await pool.acquire(two);
    // Both revisions are full and maxReplicas is reached: each waiter waits for its own.
    const waiting1 = pool.acquire(one);
    const waiting2 = pool.acquire(two);
    expect(pool.queued('hello')).toBe(2);
    pool.release(busy2.replica);
    const got2 = await waiting2;
    expect(got2.replica).toBe(busy2.replica);
    expect(pool.queued('hello')).toBe(1);
    pool.release(busy1.replica);
    expect((await waiting1).replica).toBe(busy1.replica);
    expect(pool.queued('hello')).toBe(0);
    expect(sandbox.starts).toBe(2);
  });

  it('lets concurrent waiters share one container start', async () => {
    const fn = record({ maxConcurrency: 10 });
    await writeCode(fn);
    const leases = await Promise.all(Array.from({ length: 10 }, () => pool.acquire(soleTarget(fn))));
    expect(sandbox.starts).toBe(1);
    expect(new Set(leases.map((l) => l.replica)).size).toBe(1);
    expect(leases.every((l) => l.coldStart)).toBe(true);
    expect(leases[0]!.replica.inFlight).toBe(10);
    for (const l of leases) pool.release(l.replica);
    expect(pool.replicas('hello')[0]!.inFlight).toBe(0);

    // A warm replica with room is borrowed without a wait.
    const warm = await pool.acquire(soleTarget(fn));
    expect(warm.coldStart).toBe(false);
    expect(sandbox.starts).toBe(1);
    pool.release(warm.replica);
  });

  it('answers NoCapacity past maxReplicas once the queue time is up', async () => {
    const clock = new FakeClock(Date.now());
    makePool({ clock, queueTimeoutMs: 500 });
    const fn = record({ maxConcurrency: 1, maxReplicas: 1 });
    await writeCode(fn);
    const replica = await pool.start(fn);
    const held = await pool.acquire(soleTarget(fn));
    expect(held.replica).toBe(replica);

    const waiting = pool.acquire(soleTarget(fn));
    let settled = false;
    void waiting.catch(() => (settled = true));
    expect(pool.queued('hello')).toBe(1);
    expect(sandbox.starts).toBe(1);
    clock.advance(499);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    clock.advance(1);
    await expect(waiting).rejects.toBeInstanceOf(NoCapacity);
    expect(pool.queued('hello')).toBe(0);
    pool.release(held.replica);
  });

  it('refuses at once when too many requests are already waiting', async () => {
    makePool({ queueTimeoutMs: 200, maxQueuedPerFunction: 1 });
    const fn = record({ maxConcurrency: 1, maxReplicas: 1 });
    await writeCode(fn);
    const held = await pool.acquire(soleTarget(fn));
    const waiting = pool.acquire(soleTarget(fn));
    await expect(pool.acquire(soleTarget(fn))).rejects.toBeInstanceOf(NoCapacity);
    await expect(waiting).rejects.toBeInstanceOf(NoCapacity);
    pool.release(held.replica);
  });

  it('hands a queued request to a replica as soon as another request is released', async () => {
    const fn = record({ maxConcurrency: 1, maxReplicas: 1 });
    await writeCode(fn);
    const first = await pool.acquire(soleTarget(fn));
    const second = pool.acquire(soleTarget(fn));
    pool.release(first.replica);
    const lease = await second;
    expect(lease.replica).toBe(first.replica);
    expect(lease.coldStart).toBe(true);
    pool.release(lease.replica);
  });

  it('rejects waiting requests with the start error when no container can start', async () => {
    const fn = record({ maxConcurrency: 1 });
    await writeCode(fn);
    sandbox.failStart = () => new SandboxUnavailable('engine is down');
    const results = await Promise.allSettled([pool.acquire(soleTarget(fn)), pool.acquire(soleTarget(fn))]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(SandboxUnavailable);
    }
    expect(pool.replicas('hello')).toEqual([]);
  });

  it('drops a replica whose worker dies and reports the change', async () => {
    const fn = record({});
    await writeCode(fn);
    const replica = await pool.start(fn);
    expect(replica.state).toBe('ready');
    changes.length = 0;

    await sandbox.crash(replica.containerId!);
    await vi.waitFor(() => expect(changes).toContain('hello'), { timeout: 2_000, interval: 5 });
    expect(replica.state).toBe('dead');
    expect(pool.replicas('hello')).toEqual([]);
    expect(sandbox.removed).toContain(replica.containerId);
  });

  it('drains a retired replica: no new requests, removed once its in-flight ones finish', async () => {
    const fn = record({ maxConcurrency: 2, maxReplicas: 3 });
    await writeCode(fn);
    const old = await pool.start(fn);
    const busy = await pool.acquire(soleTarget(fn));
    expect(busy.replica).toBe(old);
    const slow = invoke(busy, 50);

    pool.drain(old);
    expect(old.state).toBe('draining');
    expect(pool.replicas('hello')).toContain(old);

    // The draining replica still has room but takes nothing new.
    const next = await pool.acquire(soleTarget(fn));
    expect(next.replica).not.toBe(old);
    expect(next.coldStart).toBe(true);
    expect(sandbox.starts).toBe(2);
    expect(old.inFlight).toBe(1);

    // Its in-flight request still completes.
    expect((await slow).statusCode).toBe(200);
    expect(sandbox.containers.has(old.containerId!)).toBe(true);
    pool.release(old);
    await vi.waitFor(() => expect(sandbox.containers.has(old.containerId!)).toBe(false), { timeout: 2_000, interval: 5 });
    expect(old.state).toBe('dead');
    expect(pool.replicas('hello')).toEqual([next.replica]);
    pool.release(next.replica);
  });

  it('removes an idle replica at once when it is retired', async () => {
    const fn = record({});
    await writeCode(fn);
    const replica = await pool.start(fn);
    pool.drain(replica);
    expect(replica.state).toBe('dead');
    expect(pool.replicas('hello')).toEqual([]);
    await vi.waitFor(() => expect(sandbox.containers.size).toBe(0), { timeout: 2_000, interval: 5 });
  });

  it("stops a retired replica's worker before removing it, so work after its answer (ctx.waitUntil) finishes; a removal does not wait", async () => {
    const fn = record({});
    const marker = join(functionsDir, 'waited-until');
    // fetch's ctx.waitUntil: work the function asked to finish after its response.
    await writeCode(
      fn,
      `const { writeFile } = require('node:fs/promises');
      module.exports = { fetch: async (req, env, ctx) => {
        ctx.waitUntil(new Promise((r) => setTimeout(r, 100)).then(() => writeFile(${JSON.stringify(marker)}, 'done')));
        return new Response('answered');
      } };`,
    );
    const replica = await pool.start(fn);
    const lease = await pool.acquire(soleTarget(fn));
    expect((await lease.replica.client!.invoke({ method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0))).body.toString()).toBe('answered');
    pool.release(lease.replica);
    pool.drain(replica);
    await vi.waitFor(() => expect(sandbox.containers.size).toBe(0), { timeout: 5_000, interval: 5 });
    expect(sandbox.events.filter((e) => e.endsWith(replica.containerId!)).map((e) => e.split(' ')[0])).toEqual(['start', 'stop', 'remove']);
    expect(await readFile(marker, 'utf8')).toBe('done');

    const removed = await pool.start(fn);
    await pool.remove(removed);
    expect(sandbox.events.filter((e) => e.endsWith(removed.containerId!)).map((e) => e.split(' ')[0])).toEqual(['start', 'remove']);
  });

  it('lets a deletion wait for the removal of a replica drained before it, folders included', async () => {
    const fn = record({});
    await writeCode(fn);
    const replica = await pool.start(fn);
    const socketDir = join(socketsDir, replica.key);
    expect(existsSync(socketDir)).toBe(true);
    // Drained and untracked at once; its container and folders go in the background.
    pool.drain(replica);
    expect(pool.replicas('hello')).toEqual([]);
    await Promise.all(pool.removalsOf('hello'));
    expect(sandbox.removed).toEqual([replica.containerId]);
    expect(existsSync(socketDir)).toBe(false);
    expect(pool.removalsOf('nothing-pending')).toEqual([]);
  });
});

describe('Pool start-up CPU boost', () => {
  it('lowers a new replica to its spec CPUs once its worker has answered', async () => {
    const fn = record({ cpus: 0.25 });
    await writeCode(fn);
    const replica = await pool.start(fn);
    expect(replica.state).toBe('ready');
    await vi.waitFor(() => expect(sandbox.settled).toEqual([{ id: replica.containerId, cpus: 0.25 }]), { timeout: 2_000, interval: 5 });
  });

  it('keeps the boost through the first invocation of a new replica, and settles once it has answered', async () => {
    const clock = new FakeClock(Date.now());
    makePool({ clock });
    const fn = record({ cpus: 0.25 });
    await writeCode(fn);
    const replica = await pool.start(fn);
    const lease = await pool.acquire(soleTarget(fn));
    await invoke(lease, 0);
    clock.advance(0);
    expect(sandbox.settled).toEqual([]);
    pool.release(lease.replica);
    clock.advance(0);
    await vi.waitFor(() => expect(sandbox.settled).toEqual([{ id: replica.containerId, cpus: 0.25 }]), { timeout: 2_000, interval: 5 });
    // Once only: later invocations leave the engine alone.
    pool.release((await pool.acquire(soleTarget(fn))).replica);
    clock.advance(1_000);
    expect(sandbox.settled).toHaveLength(1);
  });

  it('tells the reconciler of a start for waiting requests once the first of them has answered', async () => {
    const clock = new FakeClock(Date.now());
    makePool({ clock });
    const fn = record({});
    await writeCode(fn);
    const lease = await pool.acquire(soleTarget(fn));
    expect(lease.coldStart).toBe(true);
    await invoke(lease, 0);
    clock.advance(0);
    expect(changes).toEqual([]);
    pool.release(lease.replica);
    clock.advance(0);
    expect(changes).toEqual(['hello']);
  });

  it('settles a new replica that no invocation comes for within half a second', async () => {
    const clock = new FakeClock(Date.now());
    makePool({ clock });
    const fn = record({ cpus: 0.5 });
    await writeCode(fn);
    const replica = await pool.start(fn);
    clock.advance(499);
    expect(sandbox.settled).toEqual([]);
    clock.advance(1);
    await vi.waitFor(() => expect(sandbox.settled).toEqual([{ id: replica.containerId, cpus: 0.5 }]), { timeout: 2_000, interval: 5 });
  });

  it('removes a replica whose CPU limit cannot be set, so no container keeps the boost', async () => {
    sandbox.failSettle = () => new SandboxUnavailable('update refused');
    const fn = record({ cpus: 0.5 });
    await writeCode(fn);
    const replica = await pool.start(fn);
    // Removed, then reported so the reconciler starts a replacement.
    await vi.waitFor(() => expect(changes).toContain('hello'), { timeout: 2_000, interval: 5 });
    expect(replica.state).toBe('dead');
    expect(sandbox.containers.has(replica.containerId!)).toBe(false);
    expect(pool.replicas('hello')).toEqual([]);
  });

  it('settles an adopted replica too, in case the previous run stopped before it could', async () => {
    const fn = record({ cpus: 0.5 });
    await writeCode(fn);
    const first = await pool.start(fn);
    await vi.waitFor(() => expect(sandbox.settled).toHaveLength(1), { timeout: 2_000, interval: 5 });
    // A second pool, as after a restart (the first lets go of its connections), takes the running container over.
    pool.detachAll();
    makePool();
    const adopted = await pool.adopt(fn, first.containerId!, first.key);
    expect(adopted.state).toBe('ready');
    await vi.waitFor(
      () => expect(sandbox.settled).toEqual([{ id: first.containerId, cpus: 0.5 }, { id: first.containerId, cpus: 0.5 }]),
      { timeout: 2_000, interval: 5 },
    );
  });
});

/** One stem cell of 128 MiB and 0.5 CPU, and a pool that takes from it; started. */
function startStemPool(startTimeoutMs = 5_000): StemCells {
  const cells = new StemCells({
    sandbox,
    clock: systemClock,
    log: silentLogger,
    cellsDir: join(dir, 'cells'),
    socketsDir,
    workerDir: join(dir, 'worker'),
    startTimeoutMs,
    perSize: 1,
    initialSizes: [{ memoryMb: 128, cpus: 0.5 }],
  });
  makePool({ stemCells: cells, startTimeoutMs });
  cells.start();
  return cells;
}

describe('Pool with stem cells', () => {
  it('serves a first start from a stem cell and names that container after its function', async () => {
    const cells = startStemPool();
    try {
      await vi.waitFor(() => expect(cells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
      const fn = record({ memoryMb: 128, cpus: 0.5 });
      await writeCode(fn);
      // Only a start for a waiting request takes a stem cell.
      const lease = await pool.acquire(soleTarget(fn));
      const replica = lease.replica;
      pool.release(replica);
      expect(replica.fromStem).toBe(true);
      const [cellSpec] = sandbox.startedSpecs;
      expect(cellSpec?.stem).toBe(true);
      expect(replica.key).toBe(cellSpec?.replicaKey);
      await vi.waitFor(() => expect(sandbox.assigned).toEqual([{ id: replica.containerId, functionName: 'hello', replicaKey: replica.key }]), {
        timeout: 5_000,
        interval: 5,
      });
    } finally {
      await cells.stop();
    }
  });
});

describe('Pool with stem cells, after the first answer', () => {
  /** Runs `body` with a started stem pool whose one cell is ready, and a function of its size. */
  async function withReadyCell(body: (cells: StemCells, fn: FunctionRecord) => Promise<void>): Promise<void> {
    const cells = startStemPool();
    try {
      await vi.waitFor(() => expect(cells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
      const fn = record({ memoryMb: 128, cpus: 0.5 });
      await writeCode(fn);
      await body(cells, fn);
    } finally {
      await cells.stop();
    }
  }

  it('starts the next stem cell, and settles the stem-born container, only once the cold start its cell served has answered', () =>
    withReadyCell(async (cells, fn) => {
      const lease = await pool.acquire(soleTarget(fn));
      expect(lease.replica.fromStem).toBe(true);
      // Specialised and serving its first request: no other container is being made beside
      // it, and its CPU is still the boot's.
      expect(sandbox.starts).toBe(1);
      expect(sandbox.settled).toEqual([]);
      pool.release(lease.replica);
      await vi.waitFor(() => expect(cells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
      expect(sandbox.startedSpecs.filter((spec) => spec.stem === true)).toHaveLength(2);
      expect(sandbox.settled).toEqual([{ id: lease.replica.containerId, cpus: 0.5 }]);
    }));

  it('removes a stem-born replica whose CPU limit cannot be set after its first answer', () =>
    withReadyCell(async (_cells, fn) => {
      sandbox.failSettle = () => new SandboxUnavailable('update refused');
      const lease = await pool.acquire(soleTarget(fn));
      pool.release(lease.replica);
      await vi.waitFor(() => expect(sandbox.removed).toContain(lease.replica.containerId), { timeout: 5_000, interval: 5 });
      expect(pool.replicas('hello')).toEqual([]);
    }));
});

describe('Pool starts', () => {
  it('fails a start whose secrets cannot be written while the engine still creates its container, and removes that container', async () => {
    // No secrets folder is configured here, so writing the function's secrets fails at once,
    // while the (slow) engine has not finished the create that the start awaits first.
    const fn = record({ secrets: ['api-key'] });
    await writeCode(fn);
    sandbox.startGate = () => new Promise((resolve) => setTimeout(resolve, 50));
    await expect(pool.start(fn)).rejects.toThrow('names secrets, but its container has no secrets folder');
    expect(sandbox.containers.size).toBe(0);
    expect(pool.replicas('hello')).toEqual([]);
  });

  it('reports a start its replica was retired from (a deletion) as such, not as the engine error that followed', async () => {
    const fn = record({});
    await writeCode(fn);
    sandbox.failStart = () => {
      // The deletion retires the starting replica and removes its container under the engine's start.
      for (const r of pool.replicas('hello')) pool.drain(r);
      return new SandboxUnavailable('Docker engine is not reachable or refused to start a container');
    };
    await expect(pool.start(fn)).rejects.toThrow('replica retired during start');
    expect(pool.replicas('hello')).toEqual([]);
  });
});

describe('Pool: a function that never finishes loading', () => {
  /** An ES module whose top-level await never settles: its load hangs without blocking this process. */
  const NEVER_LOADS = 'await new Promise(() => {});\nexport const handler = async () => "never";\n';

  async function writeModule(fn: FunctionRecord, source: string): Promise<void> {
    const codeDir = join(functionsDir, fn.name, fn.codeDigest);
    await mkdir(codeDir, { recursive: true });
    await writeFile(join(codeDir, 'index.mjs'), source);
  }

  it('removes the stem cell once the start timeout has passed, tells the waiter why, and backs off', async () => {
    const cells = startStemPool(300);
    try {
      await vi.waitFor(() => expect(cells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
      const fn = record({});
      await writeModule(fn, NEVER_LOADS);
      const cellId = [...sandbox.containers.keys()][0]!;
      const failed = await pool.acquire(soleTarget(fn)).then(
        () => new Error('served'),
        (err: unknown) => err,
      );
      expect(failed).toBeInstanceOf(FunctionLoadFailed);
      expect((failed as Error).message).toBe('the function did not finish loading within 300 ms (does it block at load, e.g. in an endless loop?)');
      expect(sandbox.removed).toContain(cellId);
      expect(pool.replicas('hello')).toEqual([]);
      expect(pool.startError('hello')).toBe(failed);
      // Within the back-off, a new request is told the same at once, and nothing is started for it.
      await vi.waitFor(() => expect(cells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
      const starts = sandbox.starts;
      await expect(pool.acquire(soleTarget(fn))).rejects.toBe(failed);
      expect(sandbox.starts).toBe(starts);
      expect(cells.readyCount).toBe(1);
      expect(pool.startBackoffMs('hello')).toBeGreaterThan(0);
    } finally {
      await cells.stop();
    }
  });

  it('removes the cell at once when its replica is retired during the load (a deletion)', async () => {
    const cells = startStemPool(60_000);
    try {
      await vi.waitFor(() => expect(cells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
      const fn = record({});
      await writeModule(fn, NEVER_LOADS);
      const cellId = [...sandbox.containers.keys()][0]!;
      const waiting = pool.acquire(soleTarget(fn)).catch((err: unknown) => err);
      await vi.waitFor(() => expect(pool.replicas('hello')).toHaveLength(1), { timeout: 2_000, interval: 2 });
      const [replica] = pool.replicas('hello');
      expect(replica?.containerId).toBe(cellId);
      pool.drain(replica!);
      await vi.waitFor(() => expect(sandbox.removed).toContain(cellId), { timeout: 2_000, interval: 2 });
      pool.failWaiters('hello', new Error('deleted'));
      expect(await waiting).toEqual(new Error('deleted'));
      expect(pool.startError('hello')).toBeNull();
    } finally {
      await cells.stop();
    }
  });

  it('removes a labelled container whose worker never connects, saying it may block at load', async () => {
    makePool({ startTimeoutMs: 300 });
    const fn = record({});
    await writeModule(fn, NEVER_LOADS);
    await expect(pool.start(fn)).rejects.toThrow(
      'the function container did not connect within 300 ms: node did not boot, or the function blocks at load (an endless loop at the top of its module?)',
    );
    expect(sandbox.containers.size).toBe(0);
    expect(sandbox.removed).toHaveLength(1);
  });
});
