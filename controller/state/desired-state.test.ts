import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DesiredState } from './desired-state.js';
import { SqliteStore } from './sqlite-store.js';

let work: string;
let store: SqliteStore;
let desired: DesiredState;
let code: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'glb-desired-'));
  code = join(work, 'code');
  await mkdir(code);
  await writeFile(join(code, 'index.js'), 'exports.handler = async () => "hi";');
  store = new SqliteStore(':memory:');
  let now = 1000;
  desired = new DesiredState({ store, functionsDir: join(work, 'functions'), clock: { now: () => (now += 1) } });
});

afterEach(async () => {
  store.close();
  await rm(work, { recursive: true, force: true });
});

describe('DesiredState: /config is a JSON merge patch (RFC 7386)', () => {
  it('merges env key by key, removes a key set to null, and leaves the other fields alone', async () => {
    await desired.deploy({ name: 'fn', code: { kind: 'folder', path: code }, patch: { env: { A: 'a', B: 'b' }, rateLimit: 5 } });
    expect(desired.configure('fn', { env: { C: 'c' } }).record.spec).toMatchObject({ env: { A: 'a', B: 'b', C: 'c' }, rateLimit: 5 });
    expect(desired.configure('fn', { env: { A: null, B: 'B2' } }).record.spec.env).toEqual({ B: 'B2', C: 'c' });
    expect(desired.configure('fn', { env: null }).record.spec.env).toEqual({});
  });

  it('resets a field set to null to its default, and refuses an unknown one even as null', async () => {
    await desired.deploy({ name: 'fn', code: { kind: 'folder', path: code }, patch: { rateLimit: 5, schedule: '*/5 * * * *' } });
    const { spec } = desired.configure('fn', { rateLimit: null, schedule: null }).record;
    expect(spec).toMatchObject({ rateLimit: 0, schedule: null });
    expect(() => desired.configure('fn', { replicas: null })).toThrow('invalid config: unknown field: replicas');
    expect(() => desired.configure('fn', { env: { A: 1 } })).toThrow(/invalid config: env\.A/);
  });

  it('merges a redeploy\'s env form field over the current env the same way', async () => {
    await desired.deploy({ name: 'fn', code: { kind: 'folder', path: code }, patch: { env: { A: 'a', B: 'b' } } });
    const { record } = await desired.deploy({ name: 'fn', code: { kind: 'folder', path: code }, patch: { env: { B: null, C: 'c' } } });
    expect(record.spec.env).toEqual({ A: 'a', C: 'c' });
  });
});

describe('DesiredState: owners', () => {
  it('refuses a manifest write over a function deployed through the API unless it adopts it', async () => {
    await desired.deploy({ name: 'fn', code: { kind: 'folder', path: code }, patch: {} });
    const fromManifest = { name: 'fn', code: { kind: 'folder' as const, path: code }, patch: {}, source: 'manifest' as const, manifestPath: 'fn.yaml' };
    await expect(desired.deploy(fromManifest)).rejects.toMatchObject({ code: 'OWNED_BY_API' });
    expect(store.get('fn')).toMatchObject({ source: 'api', manifestPath: null });
    await desired.deploy({ ...fromManifest, adopt: true });
    expect(store.get('fn')).toMatchObject({ source: 'manifest', manifestPath: 'fn.yaml' });
  });
});

describe('DesiredState: a full data disk', () => {
  it('refuses a deploy with INSUFFICIENT_STORAGE under the reserve and writes nothing, but lets a deletion through', async () => {
    await desired.deploy({ name: 'fn', code: { kind: 'folder', path: code }, patch: {} });
    let low = true;
    const space = { low: () => low, freeBytes: () => 5 * 1024 * 1024, reserveMb: 64, releaseBallast: () => false };
    const guarded = new DesiredState({ store, functionsDir: join(work, 'functions'), clock: { now: () => 5000 }, space });
    const refused = (await guarded.deploy({ name: 'other', code: { kind: 'folder', path: code }, patch: {} }).catch((err: unknown) => err)) as Error & { code: string };
    expect(refused).toMatchObject({ code: 'INSUFFICIENT_STORAGE' });
    expect(refused.message).toBe('the data disk is full (5 MiB free, under GLAMBDAR_DISK_RESERVE_MB=64): nothing was deployed; free space, or delete functions (a deletion frees their code and records)');
    expect(store.get('other')).toBeUndefined();
    expect(existsSync(join(work, 'functions', 'other'))).toBe(false);
    guarded.markDeleting('fn');
    expect(store.get('fn')?.deleting).toBe(true);
    low = false;
    expect((await guarded.deploy({ name: 'other', code: { kind: 'folder', path: code }, patch: {} })).outcome).toBe('created');
  });
});
