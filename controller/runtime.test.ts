import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { silentLogger } from './logger.js';
import { Runtime } from './runtime.js';
import { FakeSandbox } from './testing/fake-sandbox.js';

let dir: string;
let sandbox: FakeSandbox;
const open: Runtime[] = [];

async function startRuntime(): Promise<Runtime> {
  const runtime = await Runtime.open({
    config: RuntimeConfigSchema.parse({ dir: join(dir, 'data'), port: 0, stemCells: 0 }),
    statusOf: () => 500,
    sandbox,
    log: silentLogger,
  });
  open.push(runtime);
  await runtime.start();
  return runtime;
}

async function stopRuntime(runtime: Runtime): Promise<void> {
  open.splice(open.indexOf(runtime), 1);
  await runtime.stop();
}

const invoke = (runtime: Runtime, name: string) =>
  runtime.invoker.invoke(name, { method: 'POST', path: '/', query: {}, headers: {} }, Buffer.from('{}'));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-runtime-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  await mkdir(join(dir, 'code'));
  await writeFile(join(dir, 'code', 'index.js'), `exports.handler = async () => ({ statusCode: 200, body: 'hi' });\n`);
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
    expect(sandbox.containers.size).toBe(1);

    const second = await startRuntime();
    // Every reconcile the start queued has run: a retired container would be gone by now.
    await second.queue.idle();
    expect(second.pool.replicas('recent').map((r) => r.state)).toEqual(['ready']);
    const outcome = await invoke(second, 'recent');
    expect(outcome.coldStart).toBe(false);
    expect(sandbox.starts).toBe(1);
  });
});
