import { readdir, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from './support/logger.js';
import type { Runtime } from './runtime.js';
import type { RuntimeParts } from './wiring.js';
import { assembleRuntime } from './wiring.js';
import { FakeSandbox } from './sandbox/testing/fake-sandbox.js';
import { SqliteStore } from './state/sqlite-store.js';

/** Nothing of a removed container stays behind, and adopting a container twice is adopting it once. */

let dir: string;
let data: string;
let sandbox: FakeSandbox;
const open: Runtime[] = [];
const partsOf = new WeakMap<Runtime, RuntimeParts>();
const p = (runtime: Runtime): RuntimeParts => partsOf.get(runtime)!;

async function start(stemCells = 0): Promise<Runtime> {
  const { runtime, parts } = await assembleRuntime({
    config: RuntimeConfigSchema.parse({ dir: data, port: 0, stemCells }),
    statusOf: () => 500,
    sandbox,
    log: silentLogger,
  });
  partsOf.set(runtime, parts);
  open.push(runtime);
  await runtime.start();
  return runtime;
}

async function stop(runtime: Runtime): Promise<void> {
  open.splice(open.indexOf(runtime), 1);
  await runtime.stop();
}

/** The replica keys that name a folder under sockets/ and cells/. */
async function folders(): Promise<{ sockets: string[]; cells: string[] }> {
  return { sockets: (await readdir(join(data, 'sockets'))).sort(), cells: (await readdir(join(data, 'cells'))).sort() };
}

/** The replica keys of the containers the engine has now. */
const liveKeys = () => [...sandbox.containers.values()].map((c) => c.info.replicaKey).sort();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-leftovers-'));
  data = join(dir, 'data');
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  await mkdir(join(dir, 'code'));
  await writeFile(join(dir, 'code', 'index.js'), 'exports.handler = async () => "hi";\n');
});

afterEach(async () => {
  for (const runtime of open.splice(0)) await runtime.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('leftovers of removed containers', () => {
  it('removes the socket folder of a container removed for a function deleted, or changed, while the runtime was down', async () => {
    const first = await start();
    const code = { kind: 'folder' as const, path: join(dir, 'code') };
    await first.deploy({ name: 'gone', code, patch: { minWarm: 1 } });
    await first.deploy({ name: 'changed', code, patch: { minWarm: 1 } });
    await vi.waitFor(() => expect(sandbox.containers.size).toBe(2), { timeout: 5_000, interval: 5 });
    await p(first).queue.idle();
    await stop(first);
    expect((await folders()).sockets).toHaveLength(2);

    // While it is down: one function is deleted, the other's env changes (its container's template with it).
    const store = new SqliteStore(join(data, 'glambdar.db'));
    const changed = store.get('changed')!;
    store.apply({ ...changed, spec: { ...changed.spec, env: { NEW: '1' } } }, Date.now());
    store.markDeleting('gone', Date.now());
    store.purge('gone');
    store.close();

    const second = await start();
    await vi.waitFor(
      async () => {
        await p(second).queue.idle();
        expect(sandbox.containers.size).toBe(1);
        expect((await folders()).sockets).toEqual(liveKeys());
      },
      { timeout: 5_000, interval: 20 },
    );
    expect((await folders()).cells).toEqual([]);
  });

  it('removes a specialised stem cell left by the previous run with its code copy and socket folder', async () => {
    const first = await start(1);
    await vi.waitFor(() => expect(p(first).stemCells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
    // Labelled containers wait: the stem-born replica is still serving when the runtime stops.
    sandbox.startGate = (spec) => (spec.stem ? undefined : new Promise(() => undefined));
    await first.deploy({ name: 'born', code: { kind: 'folder', path: join(dir, 'code') }, patch: {} });
    expect((await first.invoke('born', { method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0))).statusCode).toBe(200);
    const stemBorn = p(first).pool.replicas('born').find((r) => r.fromStem)!;
    expect((await folders()).cells).toContain(stemBorn.key);
    sandbox.startGate = null;
    await stop(first);

    const second = await start(0);
    await vi.waitFor(
      async () => {
        expect(sandbox.containers.has(stemBorn.containerId!)).toBe(false);
        const now = await folders();
        expect(now.cells).toEqual([]);
        expect(now.sockets).toEqual(liveKeys());
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(p(second).pool.replicas('born').every((r) => !r.fromStem)).toBe(true);
  });
});

describe('adoption', () => {
  it('is idempotent: adopting a container the pool holds gives back its replica, and keeps the container', async () => {
    const first = await start();
    await first.deploy({ name: 'kept', code: { kind: 'folder', path: join(dir, 'code') }, patch: { minWarm: 1 } });
    await vi.waitFor(() => expect(sandbox.containers.size).toBe(1), { timeout: 5_000, interval: 5 });
    await stop(first);

    const second = await start();
    const [held] = p(second).pool.replicas('kept');
    expect(held?.state).toBe('ready');
    const record = p(second).store.get('kept')!;
    // Twice more, at once, as two reconciles of a busy start might.
    const again = await Promise.all([
      p(second).pool.adopt(record, held!.containerId!, held!.key),
      p(second).pool.adopt(record, held!.containerId!, held!.key),
    ]);
    expect(again).toEqual([held, held]);
    expect(p(second).pool.replicas('kept')).toEqual([held]);
    expect(sandbox.containers.has(held!.containerId!)).toBe(true);
    expect(await second.invoke('kept', { method: 'GET', path: '/', query: {}, headers: {} }, Buffer.alloc(0))).toMatchObject({ statusCode: 200, coldStart: false });
  });
});
