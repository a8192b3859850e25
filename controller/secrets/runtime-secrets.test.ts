import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RuntimeConfigSchema } from '../../schemas/index.js';
import type { Runtime } from '../runtime.js';
import type { RuntimeParts } from '../wiring.js';
import { FakeSandbox } from '../sandbox/testing/fake-sandbox.js';
import { InvalidInput, SecretInUse, Unauthorized } from '../support/errors.js';
import { createLogger } from '../support/logger.js';
import { assembleRuntime } from '../wiring.js';

/**
 * Secrets and keys through the Runtime's verbs, with the real store, pool and reconciler and
 * in-process workers for containers: what each container's secrets folder holds, how a new
 * value rolls the containers, and what a deletion takes with it.
 */

let dir: string;
let sandbox: FakeSandbox;
let lines: string[];
const open: Runtime[] = [];
const partsOf = new WeakMap<Runtime, RuntimeParts>();
const p = (runtime: Runtime): RuntimeParts => partsOf.get(runtime)!;

async function startRuntime(stemCells = 0): Promise<Runtime> {
  const { runtime, parts } = await assembleRuntime({
    config: RuntimeConfigSchema.parse({ dir: join(dir, 'data'), port: 0, stemCells }),
    statusOf: () => 500,
    sandbox,
    log: createLogger('debug', (line) => lines.push(line)),
  });
  partsOf.set(runtime, parts);
  open.push(runtime);
  await runtime.start();
  return runtime;
}

const code = () => ({ kind: 'folder' as const, path: join(dir, 'code') });
const invoke = (runtime: Runtime, name: string) => runtime.invoke(name, { method: 'POST', path: '/', query: {}, headers: {} }, Buffer.from('{}'));

/** The secrets folder of the container behind a replica: file name -> content. */
async function folderOf(runtime: Runtime, containerId: string): Promise<Record<string, string>> {
  const spec = sandbox.containers.get(containerId)?.spec;
  expect(spec?.secretsDir).toBe(join(p(runtime).paths.secretMounts, spec!.replicaKey));
  const out: Record<string, string> = {};
  for (const file of (await readdir(spec!.secretsDir!)).sort()) out[file] = await readFile(join(spec!.secretsDir!, file), 'utf8');
  return out;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-secrets-rt-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  lines = [];
  await mkdir(join(dir, 'code'));
  await writeFile(join(dir, 'code', 'index.js'), 'exports.handler = async () => ({ statusCode: 200, body: "hi" });\n');
});

afterEach(async () => {
  for (const runtime of open.splice(0)) await runtime.stop();
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('Runtime: secrets in containers', () => {
  it("gives each container a folder of its own holding its function's secrets and nothing else of the store", async () => {
    const runtime = await startRuntime();
    runtime.putSecret('db-password', Buffer.from('hunter2'));
    runtime.putSecret('api-key', Buffer.from('k-123'));
    runtime.putSecret('unrelated', Buffer.from('not yours'));
    await runtime.deploy({ name: 'reader', code: code(), patch: { secrets: ['db-password', 'api-key'] } });
    await runtime.deploy({ name: 'plain', code: code(), patch: {} });
    await invoke(runtime, 'reader');
    await invoke(runtime, 'plain');
    const [reader] = p(runtime).pool.replicas('reader');
    const [plain] = p(runtime).pool.replicas('plain');
    expect(await folderOf(runtime, reader!.containerId!)).toEqual({ 'api-key': 'k-123', 'db-password': 'hunter2' });
    expect(await folderOf(runtime, plain!.containerId!)).toEqual({});
  });

  it('gives a stem-born container exactly the same, written before its function loads', async () => {
    const runtime = await startRuntime(1);
    await vi.waitFor(() => expect(p(runtime).stemCells.readyCount).toBe(1), { timeout: 5_000, interval: 5 });
    // The cell was made with an empty secrets folder of its own.
    const cell = sandbox.startedSpecs.find((s) => s.stem)!;
    expect(await readdir(cell.secretsDir!)).toEqual([]);
    runtime.putSecret('db-password', Buffer.from('hunter2'));
    runtime.putSecret('unrelated', Buffer.from('not yours'));
    // The labelled replacement waits, so the stem-born container is the one looked at.
    sandbox.failStart = (spec) => (spec.stem ? undefined : new Error('engine busy'));
    await runtime.deploy({ name: 'born', code: code(), patch: { secrets: ['db-password'] } });
    expect((await invoke(runtime, 'born')).coldStart).toBe(true);
    const [born] = p(runtime).pool.replicas('born');
    expect(born?.fromStem).toBe(true);
    expect(await folderOf(runtime, born!.containerId!)).toEqual({ 'db-password': 'hunter2' });
  });

  it('rolls the containers of the functions that name a secret when its value changes, with no failed request, and leaves the others', async () => {
    const runtime = await startRuntime();
    runtime.putSecret('db-password', Buffer.from('old'));
    await runtime.deploy({ name: 'reader', code: code(), patch: { secrets: ['db-password'], minWarm: 1 } });
    await runtime.deploy({ name: 'plain', code: code(), patch: { minWarm: 1 } });
    await invoke(runtime, 'reader');
    await invoke(runtime, 'plain');
    await p(runtime).queue.idle();
    const [before] = p(runtime).pool.replicas('reader');
    const [plainBefore] = p(runtime).pool.replicas('plain');
    const oldFolder = sandbox.containers.get(before!.containerId!)!.spec!.secretsDir!;

    let failures = 0;
    let calls = 0;
    let rolling = true;
    const traffic = (async () => {
      while (rolling) {
        calls += 1;
        await invoke(runtime, 'reader').catch(() => (failures += 1));
      }
    })();
    expect(runtime.putSecret('db-password', Buffer.from('old'))).toMatchObject({ outcome: 'unchanged', rolled: [] });
    const write = runtime.putSecret('db-password', Buffer.from('new'));
    expect(write).toMatchObject({ outcome: 'updated', rolled: ['reader'], secret: { name: 'db-password', size: 3, usedBy: ['reader'] } });
    expect(runtime.info('reader').generation).toBe(2);
    await vi.waitFor(
      () => {
        const replicas = p(runtime).pool.replicas('reader');
        expect(replicas).toHaveLength(1);
        expect(replicas[0]).not.toBe(before);
        expect(replicas[0]!.state).toBe('ready');
      },
      { timeout: 5_000, interval: 10 },
    );
    rolling = false;
    await traffic;
    expect(calls).toBeGreaterThan(0);
    expect(failures).toBe(0);
    expect(await folderOf(runtime, p(runtime).pool.replicas('reader')[0]!.containerId!)).toEqual({ 'db-password': 'new' });
    await vi.waitFor(async () => expect(await readdir(p(runtime).paths.secretMounts)).not.toContain(oldFolder.split('/').pop()), { timeout: 2_000, interval: 10 });
    expect(p(runtime).pool.replicas('plain')).toEqual([plainBefore]);
  });

  it('refuses a spec naming a secret that does not exist, naming it, and writes nothing, code included', async () => {
    const runtime = await startRuntime();
    await expect(runtime.deploy({ name: 'early', code: code(), patch: { secrets: ['db-password'] } })).rejects.toThrow(InvalidInput);
    await expect(runtime.deploy({ name: 'early', code: code(), patch: { secrets: ['db-password'] } })).rejects.toThrow(
      'invalid spec: secrets: secret "db-password" does not exist; create it first with PUT /secrets/db-password',
    );
    expect(runtime.list()).toEqual([]);
    expect(await readdir(p(runtime).paths.functions)).toEqual([]);
    await runtime.deploy({ name: 'early', code: code(), patch: {} });
    expect(() => runtime.configure('early', { secrets: ['nope'] })).toThrow(/secret "nope" does not exist/);
    expect(runtime.info('early')).toMatchObject({ generation: 1, spec: { secrets: [] } });
  });

  it('keeps a secret some function names, saying which, until no function does', async () => {
    const runtime = await startRuntime();
    runtime.putSecret('shared', Buffer.from('v'));
    await runtime.deploy({ name: 'one', code: code(), patch: { secrets: ['shared'] } });
    await runtime.deploy({ name: 'two', code: code(), patch: { secrets: ['shared'] } });
    expect(() => runtime.deleteSecret('shared')).toThrow(SecretInUse);
    expect(() => runtime.deleteSecret('shared')).toThrow('secret "shared" is used by "one", "two"; remove it from their spec.secrets first');
    expect(runtime.listSecrets()).toMatchObject([{ name: 'shared', usedBy: ['one', 'two'] }]);
    runtime.configure('one', { secrets: [] });
    await runtime.remove('two');
    runtime.deleteSecret('shared');
    expect(runtime.listSecrets()).toEqual([]);
  });

  it('on start, rolls out a value whose rollout a crash cut short, and removes secrets folders no container mounts', async () => {
    const first = await startRuntime();
    first.putSecret('db-password', Buffer.from('old'));
    await first.deploy({ name: 'reader', code: code(), patch: { secrets: ['db-password'] } });
    await invoke(first, 'reader');
    const generation = first.info('reader').generation;
    // The value is stored, then the process dies before the function's record is told.
    p(first).secrets.put('db-password', Buffer.from('new'));
    const stray = join(p(first).paths.secretMounts, 'deadbeef00');
    await mkdir(stray);
    await writeFile(join(stray, 'db-password'), 'old');
    await first.stop();
    open.splice(open.indexOf(first), 1);

    const second = await startRuntime();
    expect(second.info('reader').generation).toBe(generation + 1);
    expect(await readdir(p(second).paths.secretMounts)).not.toContain('deadbeef00');
    await invoke(second, 'reader');
    const current = p(second).pool.replicas('reader').find((r) => r.state === 'ready')!;
    expect(await folderOf(second, current.containerId!)).toEqual({ 'db-password': 'new' });
  });

  it('shows no value in /info, metrics, the runtime log or errors', async () => {
    const runtime = await startRuntime();
    const value = 'very-secret-value-3f9a';
    runtime.putSecret('db-password', Buffer.from(value));
    await runtime.deploy({ name: 'reader', code: code(), patch: { secrets: ['db-password'] } });
    await invoke(runtime, 'reader');
    runtime.putSecret('db-password', Buffer.from(`${value}-2`));
    await p(runtime).queue.idle();
    const errors: string[] = [];
    for (const attempt of [() => runtime.deleteSecret('db-password'), () => runtime.configure('reader', { secrets: ['db-password', 'db-password'] })]) {
      try {
        attempt();
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    expect(errors).toHaveLength(2);
    const seen = JSON.stringify([runtime.info('reader'), runtime.list(), runtime.metricsSnapshot(), runtime.listSecrets(), lines, errors]);
    expect(seen).toContain('db-password');
    expect(seen).not.toContain(value);
  });
});

describe('Runtime: secrets and keys across revisions', () => {
  it('keeps a private function private through a rollback to a revision made while it was public', async () => {
    const runtime = await startRuntime();
    await runtime.deploy({ name: 'vault', code: code(), patch: {} });
    runtime.configure('vault', { auth: 'key', rateLimit: 5 });
    const rolled = runtime.rollback('vault', { revision: 1 });
    expect(rolled.record.spec.auth).toBe('key');
    expect(() => runtime.authorizeInvoke('vault', undefined)).toThrow(Unauthorized);
  });

  it('refuses a rollback to a revision whose secret is gone, naming it, and writes nothing', async () => {
    const runtime = await startRuntime();
    runtime.putSecret('old-key', Buffer.from('v'));
    await runtime.deploy({ name: 'reader', code: code(), patch: { secrets: ['old-key'] } });
    runtime.configure('reader', { secrets: [] });
    runtime.deleteSecret('old-key');
    const generation = runtime.info('reader').generation;
    expect(() => runtime.rollback('reader', { revision: 1 })).toThrow('invalid spec: secrets: secret "old-key" does not exist; create it first with PUT /secrets/old-key');
    expect(runtime.info('reader').generation).toBe(generation);
  });

  it('counts a revision the traffic routes to as a user of its secrets: kept from deletion, and rolled by a new value', async () => {
    const runtime = await startRuntime();
    runtime.putSecret('db-password', Buffer.from('one'));
    await runtime.deploy({ name: 'split', code: code(), patch: { secrets: ['db-password'] } });
    runtime.configure('split', { secrets: [] });
    runtime.configure('split', { traffic: [{ revision: 1, percent: 50, tag: 'old' }, { latestRevision: true, percent: 50 }] });
    expect(() => runtime.deleteSecret('db-password')).toThrow(SecretInUse);
    const before = runtime.info('split').generation;
    expect(runtime.putSecret('db-password', Buffer.from('two')).rolled).toEqual(['split']);
    expect(runtime.info('split').generation).toBe(before + 1);
    runtime.configure('split', { traffic: null });
    runtime.deleteSecret('db-password');
    expect(runtime.listSecrets()).toEqual([]);
  });
});

describe('Runtime: keys of private functions', () => {
  it('take effect at once, and go with their function, so one made later under its name starts with none', async () => {
    const runtime = await startRuntime();
    await runtime.deploy({ name: 'private', code: code(), patch: { auth: 'key' } });
    const made = runtime.createKey('private');
    expect(runtime.authorizeInvoke('private', `Bearer ${made.key}`)).toBe(true);
    expect(runtime.listKeys('private').map((k) => k.id)).toEqual([made.id]);
    await runtime.remove('private');
    expect(() => runtime.createKey('private')).toThrow(/function "private" not found/);
    await runtime.deploy({ name: 'private', code: code(), patch: { auth: 'key' } });
    expect(runtime.listKeys('private')).toEqual([]);
    expect(() => runtime.authorizeInvoke('private', `Bearer ${made.key}`)).toThrow(Unauthorized);
  });

  it('are revoked by the delete itself: the function deployed again under its name, as soon as it may be, has none', async () => {
    const runtime = await startRuntime();
    await runtime.deploy({ name: 'private', code: code(), patch: { auth: 'key' } });
    const made = runtime.createKey('private');
    // The delete does not wait for the purge.
    expect(await runtime.remove('private', 'api', 0)).toBe('deleting');
    // The name comes back once it is purged (a deploy meanwhile is FUNCTION_DELETING), with no key.
    await vi.waitFor(() => runtime.deploy({ name: 'private', code: code(), patch: { auth: 'key' } }), { timeout: 5_000, interval: 20 });
    expect(runtime.listKeys('private')).toEqual([]);
    expect(() => runtime.authorizeInvoke('private', `Bearer ${made.key}`)).toThrow(Unauthorized);
  });
});
