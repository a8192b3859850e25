import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ContainerDied, InvocationTimeout, SandboxUnavailable } from './support/errors.js';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { createLogger, silentLogger } from './support/logger.js';
import type { Runtime } from './runtime.js';
import type { RuntimeParts } from './wiring.js';
import { assembleRuntime, type RuntimeOptions } from './wiring.js';
import { FakeSandbox } from './sandbox/testing/fake-sandbox.js';

let dir: string;
let sandbox: FakeSandbox;
const open: Runtime[] = [];
/** The parts behind each runtime, for tests that look inside (the API never can). */
const partsOf = new WeakMap<Runtime, RuntimeParts>();
const p = (runtime: Runtime): RuntimeParts => partsOf.get(runtime)!;

async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { runtime, parts } = await assembleRuntime(options);
  partsOf.set(runtime, parts);
  return runtime;
}

async function startRuntime(stemCells = 0): Promise<Runtime> {
  const runtime = await openRuntime({
    config: RuntimeConfigSchema.parse({ dir: join(dir, 'data'), port: 0, stemCells }),
    statusOf: () => 500,
    sandbox,
    log: process.env['DEBUG_RT'] ? createLogger('debug') : silentLogger,
  });
  open.push(runtime);
  await runtime.start();
  return runtime;
}

async function stopRuntime(runtime: Runtime): Promise<void> {
  open.splice(open.indexOf(runtime), 1);
  await runtime.stop();
}

const invoke = (runtime: Runtime, name: string, path = '/') =>
  runtime.invoke(name, { method: 'POST', path, query: {}, headers: {} }, Buffer.from('{}'));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-runtime-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  await mkdir(join(dir, 'code'));
  await writeFile(
    join(dir, 'code', 'index.js'),
    `exports.handler = async (req) => {
      if (req.path === '/slow') await new Promise((resolve) => setTimeout(resolve, 2000));
      if (req.path === '/hang') await new Promise(() => undefined);
      return { statusCode: 200, body: 'hi' };
    };\n`,
  );
});

afterEach(async () => {
  for (const runtime of open.splice(0)) await runtime.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('Runtime restart', () => {
  it('keeps the container it adopted for a scale-to-zero function invoked just before, so the next invoke is warm', async () => {
    const first = await startRuntime();
    await first.deploy({ name: 'recent', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    expect((await invoke(first, 'recent')).coldStart).toBe(true);
    await stopRuntime(first);
    // Its container stays (and a standby, created for the next start, if one was made by then).
    expect([...sandbox.containers.values()].filter((c) => c.info.running)).toHaveLength(1);

    const second = await startRuntime();
    // Every reconcile the start queued has run: a retired container would be gone by now.
    await p(second).queue.idle();
    expect(p(second).pool.replicas('recent').map((r) => r.state)).toEqual(['ready']);
    const outcome = await invoke(second, 'recent');
    expect(outcome.coldStart).toBe(false);
    expect(sandbox.starts).toBe(1);
  });
});

describe('Runtime: stem-born containers', () => {
  it('replace themselves with a labelled container of the function, and drain what they were serving', async () => {
    const runtime = await startRuntime(1);
    await vi.waitFor(() => expect(p(runtime).stemCells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
    // Labelled containers take the engine a while (as Docker's ~300 ms): the stem cell serves first.
    let openGate = () => undefined as void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    sandbox.startGate = (spec) => (spec.stem ? undefined : gate);
    await runtime.deploy({ name: 'born', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    const slow = invoke(runtime, 'born', '/slow');
    await vi.waitFor(() => expect(p(runtime).pool.replicas('born').some((r) => r.fromStem && r.inFlight === 1)).toBe(true), { timeout: 5_000, interval: 5 });
    const stemBorn = p(runtime).pool.replicas('born').find((r) => r.fromStem)!;
    openGate();
    // A labelled container takes over; the stem-born one takes no new request and goes once its own is answered.
    await vi.waitFor(
      () => {
        const labelled = [...sandbox.containers.values()].filter((c) => c.info.functionName === 'born' && c.info.running);
        expect(labelled).toHaveLength(1);
        expect(p(runtime).pool.replicas('born').find((r) => !r.fromStem)?.state).toBe('ready');
      },
      { timeout: 5_000, interval: 5 },
    );
    expect(stemBorn.state).toBe('draining');
    expect((await invoke(runtime, 'born')).coldStart).toBe(false);
    expect((await slow).statusCode).toBe(200);
    await vi.waitFor(() => expect(sandbox.containers.has(stemBorn.containerId!)).toBe(false), { timeout: 2_000, interval: 5 });
    expect(p(runtime).pool.replicas('born').map((r) => r.fromStem)).toEqual([false]);
  });
});

describe('Runtime timeouts', () => {
  it('replaces a stem-born container removed after a timeout, though its engine events name no function', async () => {
    const runtime = await startRuntime(1);
    await vi.waitFor(() => expect(p(runtime).stemCells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
    // The engine refuses labelled containers for now, so the stem-born one is not replaced yet.
    sandbox.failStart = (spec) => (spec.stem ? undefined : new SandboxUnavailable('engine refuses'));
    await runtime.deploy({ name: 'stuck', code: { kind: 'folder', path: join(dir, 'code') }, patch: { timeoutMs: 200 } });
    expect((await invoke(runtime, 'stuck')).coldStart).toBe(true);
    const [first] = p(runtime).pool.replicas('stuck');
    expect(first?.fromStem).toBe(true);

    await expect(invoke(runtime, 'stuck', '/slow')).rejects.toBeInstanceOf(InvocationTimeout);
    sandbox.failStart = null;
    // No invoke follows: the reconciler alone must bring the function back to one warm container.
    await vi.waitFor(
      () => {
        const ready = p(runtime).pool.replicas('stuck').filter((r) => r.state === 'ready');
        expect(ready).toHaveLength(1);
        expect(ready[0]).not.toBe(first);
      },
      { timeout: 5_000, interval: 10 },
    );
  });
});

describe('Runtime resync', () => {
  it('removes a stopped stem-born container whose removal failed while the engine was down', async () => {
    const runtime = await openRuntime({
      config: RuntimeConfigSchema.parse({ dir: join(dir, 'data'), port: 0, stemCells: 1, resyncIntervalMs: 100 }),
      statusOf: () => 500,
      sandbox,
      log: silentLogger,
    });
    open.push(runtime);
    await runtime.start();
    await vi.waitFor(() => expect(p(runtime).stemCells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
    // The engine refuses labelled containers, so the stem-born one is not replaced first.
    sandbox.failStart = (spec) => (spec.stem ? undefined : new SandboxUnavailable('engine refuses'));
    await runtime.deploy({ name: 'orphan', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    expect((await invoke(runtime, 'orphan')).coldStart).toBe(true);
    const born = p(runtime).pool.replicas('orphan')[0]!;
    expect(born.fromStem).toBe(true);

    sandbox.down = true;
    await sandbox.crash(born.containerId!);
    await vi.waitFor(() => expect(p(runtime).pool.replicas('orphan')).not.toContain(born), { timeout: 2_000, interval: 5 });
    expect(sandbox.containers.get(born.containerId!)?.info.exited).toBe(true);

    sandbox.down = false;
    await vi.waitFor(() => expect(sandbox.containers.has(born.containerId!)).toBe(false), { timeout: 2_000, interval: 10 });
    expect(sandbox.removed).toContain(born.containerId!);
  });
});

describe('Runtime: a container that stops under an invocation', () => {
  async function hungInvocation(runtime: Runtime, name: string, memoryMb: number): Promise<{ pending: Promise<unknown>; containerId: string }> {
    await runtime.deploy({ name, code: { kind: 'folder', path: join(dir, 'code') }, patch: { memoryMb } });
    await invoke(runtime, name);
    const containerId = p(runtime).pool.replicas(name)[0]!.containerId!;
    const pending = invoke(runtime, name, '/hang').then(
      () => new Error('the invocation succeeded'),
      (err: unknown) => err,
    );
    await vi.waitFor(() => expect(p(runtime).pool.replicas(name)[0]?.inFlight).toBe(1), { timeout: 2_000, interval: 5 });
    return { pending, containerId };
  }

  it('tells the caller and the log record that the function ran out of memory, with its limit', async () => {
    const runtime = await startRuntime();
    const { pending, containerId } = await hungInvocation(runtime, 'hungry', 64);
    await sandbox.crash(containerId, { oomKilled: true, exitCode: 137 });
    const err = (await pending) as Error;
    expect(err).toBeInstanceOf(ContainerDied);
    expect(err.message).toBe('the function ran out of memory: its container was killed at the 64 MiB limit (raise memoryMb)');
    p(runtime).invocations.flush();
    expect(p(runtime).store.logs('hungry', { limit: 1 })[0]).toMatchObject({ statusCode: 500, error: err.message });
    // The container is removed only once its reason was read, and the pool replaces it.
    await vi.waitFor(() => expect(sandbox.removed).toContain(containerId), { timeout: 2_000, interval: 5 });
  });

  it('tells the exit code of a container that exited', async () => {
    const runtime = await startRuntime();
    const { pending, containerId } = await hungInvocation(runtime, 'quitter', 128);
    await sandbox.crash(containerId, { oomKilled: false, exitCode: 3 });
    expect(((await pending) as Error).message).toBe('the function container exited with code 3 during the invocation');
  });
});

describe('Runtime: its data', () => {
  it('keeps the data folder and the database readable by its own user only', async () => {
    await startRuntime();
    expect((await stat(join(dir, 'data'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'data', 'glambdar.db'))).mode & 0o777).toBe(0o600);
    for (const sub of ['functions', 'sockets', 'cells', 'tmp']) expect((await stat(join(dir, 'data', sub))).mode & 0o077).toBe(0);
  });
});

describe('Runtime: specs the host can never run', () => {
  it('refuses more CPUs than the host has, or more memory at maxReplicas, naming the fields, and writes nothing', async () => {
    sandbox.hostCapacity = { cpus: 2, memoryMb: 1000 };
    const runtime = await startRuntime();
    await vi.waitFor(async () => expect(await sandbox.capacity()).not.toBeNull());
    await new Promise((resolve) => setImmediate(resolve));
    const code = { kind: 'folder' as const, path: join(dir, 'code') };
    await expect(runtime.deploy({ name: 'greedy', code, patch: { cpus: 4 } })).rejects.toThrow(
      'invalid spec: cpus: 4 is more than the 2 CPUs of the container engine\'s host',
    );
    await expect(runtime.deploy({ name: 'greedy', code, patch: { memoryMb: 256, maxReplicas: 10 } })).rejects.toThrow(
      'invalid spec: memoryMb x maxReplicas (256 x 10 = 2560 MiB) is more than the 1000 MiB of the container engine\'s host; lower memoryMb or maxReplicas',
    );
    expect(runtime.list()).toEqual([]);
    await runtime.deploy({ name: 'modest', code, patch: { memoryMb: 100, maxReplicas: 10 } });
    expect(() => runtime.configure('modest', { maxReplicas: 11 })).toThrow(/1100 MiB/);
    expect(runtime.info('modest').spec.maxReplicas).toBe(10);
  });
});

describe('Runtime: standby containers', () => {
  /** The function's containers the engine created and never started. */
  const standbysOf = (name: string) => [...sandbox.containers.values()].filter((c) => c.info.functionName === name && !c.info.running && !c.info.exited);

  it('a deploy makes the standby; a cold start without a stem cell starts it, and the next is made after the answer', async () => {
    const runtime = await startRuntime(0);
    await runtime.deploy({ name: 'cold', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    await vi.waitFor(() => expect(standbysOf('cold')).toHaveLength(1), { timeout: 2_000, interval: 5 });
    const standbyId = standbysOf('cold')[0]!.info.id;
    expect(sandbox.starts).toBe(0);
    expect(runtime.info('cold').status.standby).toEqual({ id: standbyId, revision: 1 });

    const outcome = await invoke(runtime, 'cold');
    expect(outcome.coldStart).toBe(true);
    expect(p(runtime).pool.replicas('cold').map((r) => r.containerId)).toEqual([standbyId]);
    expect(sandbox.startedSpecs.map((s) => s.replicaKey)).toEqual([sandbox.containers.get(standbyId)!.info.replicaKey]);
    await vi.waitFor(() => expect(standbysOf('cold')).toHaveLength(1), { timeout: 2_000, interval: 5 });
    expect(standbysOf('cold')[0]!.info.id).not.toBe(standbyId);
    expect(sandbox.createdSpecs).toHaveLength(2);
    expect(runtime.info('cold').status.standby).toEqual({ id: standbysOf('cold')[0]!.info.id, revision: 1 });
  });

  it('a new spec replaces the standby; a deletion removes it, and leaves no container or folder', async () => {
    const runtime = await startRuntime(0);
    await runtime.deploy({ name: 'env', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    await vi.waitFor(() => expect(standbysOf('env')).toHaveLength(1), { timeout: 2_000, interval: 5 });
    const first = standbysOf('env')[0]!.info.id;
    runtime.configure('env', { env: { GREETING: 'hi' } });
    await vi.waitFor(() => expect(standbysOf('env').map((c) => c.spec?.env['GREETING'])).toEqual(['hi']), { timeout: 2_000, interval: 5 });
    expect(sandbox.removed).toContain(first);

    expect(await runtime.remove('env')).toBe('deleted');
    expect(sandbox.containers.size).toBe(0);
    expect(await readdir(p(runtime).paths.sockets)).toEqual([]);
    expect(await readdir(p(runtime).paths.secretMounts)).toEqual([]);
  });

  it('a restart adopts the standby the stopped run left, and removes one of a revision no longer served', async () => {
    const first = await startRuntime(0);
    await first.deploy({ name: 'left', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    await vi.waitFor(() => expect(standbysOf('left')).toHaveLength(1), { timeout: 2_000, interval: 5 });
    const kept = standbysOf('left')[0]!.info;
    const stale = sandbox.addForeign({ ...kept, id: 'of-an-old-revision', replicaKey: 'ab12cd34ef', generation: 7, template: 'old' });
    await stopRuntime(first);

    const second = await startRuntime(0);
    await p(second).queue.idle();
    expect(standbysOf('left').map((c) => c.info.id)).toEqual([kept.id]);
    expect(sandbox.removed).toEqual([stale]);
    expect(p(second).standbys.holds(kept.replicaKey)).toBe(true);
    // The cold start starts it: its folders are there again.
    expect((await invoke(second, 'left')).coldStart).toBe(true);
    expect(p(second).pool.replicas('left').map((r) => r.containerId)).toEqual([kept.id]);
  });

  it('removes a standby a killed runtime left, and keeps its own through every reconcile', async () => {
    const runtime = await startRuntime(0);
    await runtime.deploy({ name: 'kept', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    await vi.waitFor(() => expect(standbysOf('kept')).toHaveLength(1), { timeout: 2_000, interval: 5 });
    const own = standbysOf('kept')[0]!.info;
    const left = sandbox.addForeign({ ...own, id: 'left-by-a-killed-run', replicaKey: 'ab12cd34ef' });
    p(runtime).queue.add('kept');
    await vi.waitFor(() => expect(sandbox.removed).toContain(left), { timeout: 2_000, interval: 5 });
    await p(runtime).queue.idle();
    expect(standbysOf('kept').map((c) => c.info.id)).toEqual([own.id]);
  });

  it('makes none while the engine refuses, and the function still starts when it answers again', async () => {
    const runtime = await startRuntime(0);
    sandbox.failCreate = () => new SandboxUnavailable('engine refuses');
    await runtime.deploy({ name: 'later', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    await p(runtime).queue.idle();
    expect(standbysOf('later')).toHaveLength(0);
    expect((await invoke(runtime, 'later')).statusCode).toBe(200);
    sandbox.failCreate = null;
    await vi.waitFor(() => expect(standbysOf('later')).toHaveLength(1), { timeout: 2_000, interval: 5 });
  });
});
