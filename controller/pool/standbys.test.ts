import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../support/clock.js';
import { SandboxUnavailable } from '../support/errors.js';
import { silentLogger, type Logger } from '../support/logger.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';
import type { FunctionRecord } from '../state/records.js';
import { functionRecord } from '../state/testing/function-record.js';
import { Pool, soleTarget } from './router.js';
import { Standbys } from './standbys.js';

const HANDLER = `exports.handler = async () => ({ statusCode: 200, body: 'hi' });\n`;

let dir: string;
let sandbox: FakeSandbox;
let standbys: Standbys;
let pool: Pool;
let changes: string[];
const folders = () => ({ functionsDir: join(dir, 'functions'), socketsDir: join(dir, 's'), workerDir: join(dir, 'worker'), secretMountsDir: join(dir, 'secrets') });

function makeStandbys(log: Logger = silentLogger): Standbys {
  standbys = new Standbys({ sandbox, log, ...folders() });
  return standbys;
}

/** The pool with the standbys, and a secret store that writes `value-of-<name>` files. */
function makePool(): Pool {
  pool = new Pool({
    sandbox,
    clock: systemClock,
    log: silentLogger,
    ...folders(),
    secrets: {
      writeInto: async (names, into) => {
        for (const name of names) await writeFile(join(into, name), `value-of-${name}`);
      },
    },
    standbys,
    startTimeoutMs: 5_000,
    queueTimeoutMs: 10_000,
    maxQueuedPerFunction: 100,
    onChange: (name) => changes.push(name),
  });
  return pool;
}

async function withCode(fn: FunctionRecord): Promise<FunctionRecord> {
  const codeDir = join(dir, 'functions', fn.name, fn.codeDigest);
  await mkdir(codeDir, { recursive: true });
  await writeFile(join(codeDir, 'index.js'), HANDLER);
  return fn;
}

/** The standby's container id, once its create has finished. */
async function standbyId(): Promise<string> {
  await vi.waitFor(() => expect([...sandbox.containers.values()].filter((c) => !c.info.running)).toHaveLength(1), { timeout: 2_000, interval: 2 });
  return [...sandbox.containers.values()].find((c) => !c.info.running)!.info.id;
}

/** The pool, a function with its code, and its standby, whose create the engine holds until `finish` (made, or failed with `failure`). */
async function heldStandby(): Promise<{ fn: FunctionRecord; finish: (failure?: Error) => void }> {
  makePool();
  const fn = await withCode(functionRecord({}));
  let finish!: (failure?: Error) => void;
  sandbox.createGate = () => new Promise<void>((resolve, reject) => (finish = (failure) => (failure ? reject(failure) : resolve())));
  standbys.ensure(fn);
  await vi.waitFor(() => expect(sandbox.createdSpecs).toHaveLength(1), { timeout: 2_000, interval: 2 });
  return { fn, finish };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-standby-'));
  sandbox = new FakeSandbox();
  changes = [];
  makeStandbys();
});

afterEach(async () => {
  if (pool) for (const name of pool.functionNames()) for (const r of [...pool.replicas(name)]) await pool.remove(r);
  await standbys.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('Standbys', () => {
  it('makes one created, unstarted container per function, labelled for its record, and only once', async () => {
    const fn = functionRecord({ secrets: ['db'] });
    standbys.ensure(fn);
    standbys.ensure(fn);
    const id = await standbyId();
    const info = sandbox.containers.get(id)!.info;
    expect(info).toMatchObject({ functionName: 'hello', generation: 1, digest: 'd1', running: false, exited: false, stem: false });
    expect(sandbox.createdSpecs).toHaveLength(1);
    expect(sandbox.starts).toBe(0);
    expect(standbys.holds(info.replicaKey)).toBe(true);
    expect(standbys.of('hello')).toMatchObject({ digest: 'd1', id });
    // Its secrets folder is mounted, and empty: values are written when a start takes it.
    expect(sandbox.createdSpecs[0]!.secretsDir).toBe(join(dir, 'secrets', info.replicaKey));
    expect(await readdir(join(dir, 'secrets', info.replicaKey))).toEqual([]);
  });

  it('replaces a standby made for another revision: its container and folders go', async () => {
    standbys.ensure(functionRecord({}, 'hello', 'd1', 1));
    const oldId = await standbyId();
    const oldKey = sandbox.containers.get(oldId)!.info.replicaKey;
    standbys.ensure(functionRecord({}, 'hello', 'd1', 2));
    await vi.waitFor(() => expect(sandbox.removed).toEqual([oldId]), { timeout: 2_000, interval: 2 });
    const newId = await standbyId();
    expect(sandbox.containers.get(newId)!.info.generation).toBe(2);
    // The key is let go once its removal is done (its folders are gone by then).
    await vi.waitFor(() => expect(standbys.holds(oldKey)).toBe(false), { timeout: 2_000, interval: 2 });
    expect(existsSync(join(dir, 's', oldKey)) || existsSync(join(dir, 'secrets', oldKey))).toBe(false);
  });

  it('hands a standby only to a start of the record it was made for, and once', async () => {
    const v1 = functionRecord({}, 'hello', 'd1', 1);
    standbys.ensure(v1);
    await standbyId();
    expect(standbys.take(functionRecord({}, 'hello', 'd2', 1))).toBeNull();
    expect(standbys.take(functionRecord({}, 'hello', 'd1', 2))).toBeNull();
    expect(standbys.take(functionRecord({}, 'other', 'd1', 1))).toBeNull();
    const taken = standbys.take(v1)!;
    expect(taken.functionName).toBe('hello');
    // The taker owns it now: no longer held, not handed out twice, not removed by a stop.
    expect(standbys.holds(taken.key)).toBe(false);
    expect(standbys.take(v1)).toBeNull();
    await standbys.stop();
    expect(sandbox.removed).toEqual([]);
  });

  it('logs a create that failed, removes its folders, and tries again at the next ensure', async () => {
    const warnings: string[] = [];
    makeStandbys({ ...silentLogger, warn: (m: string) => void warnings.push(m) });
    sandbox.failCreate = () => new SandboxUnavailable('Docker engine is not reachable or refused to create a container');
    const fn = functionRecord({});
    standbys.ensure(fn);
    await vi.waitFor(() => expect(warnings.join()).toContain('could not create the standby container of hello'), { timeout: 2_000, interval: 2 });
    await vi.waitFor(() => expect(standbys.keys().size).toBe(0), { timeout: 2_000, interval: 2 });
    expect(await readdir(join(dir, 's'))).toEqual([]);
    sandbox.failCreate = null;
    standbys.ensure(fn);
    await standbyId();
  });

  it('asks the engine for two creates at once; a start does not wait for a standby still queued', async () => {
    const releases: Array<() => void> = [];
    sandbox.createGate = () => new Promise<void>((resolve) => releases.push(resolve));
    const asked = () => sandbox.createdSpecs.map((s) => s.functionName).sort();
    try {
      const fns = ['a', 'b', 'c', 'd'].map((name) => functionRecord({}, name));
      for (const fn of fns) standbys.ensure(fn);
      // a and b take the two slots (in whichever order their folders are made); c and d wait.
      await vi.waitFor(() => expect(asked()).toEqual(['a', 'b']), { timeout: 2_000, interval: 2 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sandbox.createdSpecs).toHaveLength(2);
      // d waits behind c: its start creates a container of its own, and d's standby is given up.
      expect(standbys.take(fns[3]!)).toBeNull();
      expect(standbys.of('d')).toBeNull();
      releases.shift()!();
      await vi.waitFor(() => expect(asked()).toEqual(['a', 'b', 'c']), { timeout: 2_000, interval: 2 });
      for (const release of releases.splice(0)) release();
      await vi.waitFor(() => expect(sandbox.containers.size).toBe(3), { timeout: 2_000, interval: 2 });
      // d never asked the engine for anything, and its key is let go.
      await vi.waitFor(() => expect(standbys.keys().size).toBe(3), { timeout: 2_000, interval: 2 });
      expect([...sandbox.containers.values()].map((c) => c.info.functionName).sort()).toEqual(['a', 'b', 'c']);
    } finally {
      // A failed assertion must not leave creates held for afterEach's stop to wait on.
      sandbox.createGate = null;
      for (const release of releases.splice(0)) release();
    }
  });

  it('discard waits for a create under way and removes what it made; after stop none is made', async () => {
    let release!: () => void;
    sandbox.createGate = () => new Promise<void>((resolve) => (release = resolve));
    standbys.ensure(functionRecord({}));
    await vi.waitFor(() => expect(sandbox.createdSpecs).toHaveLength(1), { timeout: 2_000, interval: 2 });
    const discarded = standbys.discard('hello');
    release();
    await discarded;
    expect(sandbox.containers.size).toBe(0);
    expect(sandbox.removed).toHaveLength(1);
    expect(await readdir(join(dir, 's'))).toEqual([]);
    sandbox.createGate = null;
    await standbys.stop();
    standbys.ensure(functionRecord({}, 'other'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sandbox.createdSpecs).toHaveLength(1);
  });
});

describe('A labelled start with a standby', () => {
  it('starts the created container (no other create) under its key, with the secrets written at the start', async () => {
    makePool();
    const fn = await withCode(functionRecord({ secrets: ['db'] }));
    standbys.ensure(fn);
    const id = await standbyId();
    const key = sandbox.containers.get(id)!.info.replicaKey;
    const replica = await pool.start(fn);
    expect(replica.containerId).toBe(id);
    expect(replica.key).toBe(key);
    expect(sandbox.createdSpecs).toHaveLength(1);
    expect(sandbox.startedSpecs).toEqual([sandbox.createdSpecs[0]]);
    expect(await readFile(join(dir, 'secrets', key, 'db'), 'utf8')).toBe('value-of-db');
    const lease = await pool.acquire(soleTarget(fn));
    const result = await lease.replica.client!.invoke({ method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0));
    expect(result.body.toString()).toBe('hi');
    pool.release(lease.replica);
    // After its first answer the pool asks for a reconcile: the one that makes the next standby.
    await vi.waitFor(() => expect(changes).toContain('hello'), { timeout: 2_000, interval: 2 });
  });

  it('waits for a standby still being created rather than creating another', async () => {
    const { fn, finish } = await heldStandby();
    const started = pool.start(fn);
    finish();
    const replica = await started;
    expect(replica.state).toBe('ready');
    expect(sandbox.createdSpecs).toHaveLength(1);
    expect(sandbox.startedSpecs).toEqual([sandbox.createdSpecs[0]]);
  });

  it('creates a container under the standby key when the standby could not be created', async () => {
    const { fn, finish } = await heldStandby();
    const started = pool.start(fn);
    finish(new SandboxUnavailable('Docker engine is not reachable or refused to create a container'));
    const replica = await started;
    expect(replica.state).toBe('ready');
    expect(sandbox.createdSpecs).toHaveLength(1);
    expect(sandbox.startedSpecs).toHaveLength(1);
    expect(sandbox.startedSpecs[0]!.replicaKey).toBe(replica.key);
    expect(sandbox.containers.get(replica.containerId!)!.info.running).toBe(true);
  });

  it('removes the standby container when its replica is removed while the engine still creates it', async () => {
    const { fn, finish } = await heldStandby();
    const started = pool.start(fn);
    const replica = pool.replicas('hello')[0]!;
    await pool.remove(replica);
    finish();
    await expect(started).rejects.toThrow('retired during start');
    await vi.waitFor(() => expect(sandbox.containers.size).toBe(0), { timeout: 2_000, interval: 2 });
    expect(sandbox.starts).toBe(0);
    expect(await readdir(join(dir, 's'))).toEqual([]);
  });
});
