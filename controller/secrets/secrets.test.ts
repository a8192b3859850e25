import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../support/clock.js';
import { InvalidInput, InvalidName, PayloadTooLarge, SecretNotFound } from '../support/errors.js';
import { MAX_SECRET_BYTES, Secrets } from './secrets.js';
import { SqliteSecretStore } from './sqlite-secret-store.js';

let dir: string;
let clock: FakeClock;
let store: SqliteSecretStore;
let secrets: Secrets;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-secrets-'));
  clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
  store = new SqliteSecretStore(':memory:');
  secrets = new Secrets({ store, clock });
});
afterEach(async () => {
  secrets.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Secrets', () => {
  it('stores a value and lists names, sizes and times, never the value', () => {
    expect(secrets.put('db-password', Buffer.from('hunter2'))).toEqual({
      outcome: 'created',
      secret: { name: 'db-password', size: 7, createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z' },
    });
    clock.advance(1000);
    expect(secrets.put('db-password', Buffer.from('hunter3')).secret).toMatchObject({ createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:01.000Z' });
    expect(JSON.stringify(secrets.list())).not.toContain('hunter');
    expect(secrets.info('db-password').size).toBe(7);
  });

  it('gives the named secrets one version, the same whatever their order, new when a value changes and not when it is written again', () => {
    secrets.put('a', Buffer.from('1'));
    secrets.put('b', Buffer.from('2'));
    const v = secrets.versionOf(['a', 'b']);
    expect(v).toMatch(/^[0-9a-f]{16}$/);
    expect(secrets.versionOf(['b', 'a'])).toBe(v);
    expect(secrets.versionOf([])).toBe('');
    expect(secrets.put('a', Buffer.from('1')).outcome).toBe('unchanged');
    expect(secrets.versionOf(['a', 'b'])).toBe(v);
    expect(secrets.put('a', Buffer.from('one')).outcome).toBe('updated');
    expect(secrets.versionOf(['a', 'b'])).not.toBe(v);
  });

  it('derives no version from a value: the same value written twice under two names gets two versions', () => {
    secrets.put('a', Buffer.from('same'));
    secrets.put('b', Buffer.from('same'));
    expect(store.list().map((r) => r.version)[0]).not.toBe(store.list().map((r) => r.version)[1]);
  });

  it('names every secret a spec names that does not exist', () => {
    secrets.put('a', Buffer.from('1'));
    expect(() => secrets.versionOf(['a', 'missing', 'gone'])).toThrow(InvalidInput);
    expect(() => secrets.versionOf(['a', 'missing', 'gone'])).toThrow('invalid spec: secrets: secrets "missing", "gone" do not exist; create them first with PUT /secrets/missing');
  });

  it('refuses a bad name, an empty value and one over 64 KiB, storing nothing', () => {
    expect(() => secrets.put('Not_Valid', Buffer.from('x'))).toThrow(InvalidName);
    expect(() => secrets.put('Not_Valid', Buffer.from('x'))).toThrow('"Not_Valid" is not a valid secret name: it must be a DNS label');
    expect(() => secrets.put('empty', Buffer.alloc(0))).toThrow(InvalidInput);
    expect(() => secrets.put('big', Buffer.alloc(MAX_SECRET_BYTES + 1))).toThrow(PayloadTooLarge);
    expect(secrets.put('edge', Buffer.alloc(MAX_SECRET_BYTES, 1)).outcome).toBe('created');
    expect(secrets.list().map((s) => s.name)).toEqual(['edge']);
  });

  it('deletes a secret at once for specs, and says so for one that does not exist', () => {
    secrets.put('a', Buffer.from('1'));
    secrets.delete('a');
    expect(() => secrets.versionOf(['a'])).toThrow(InvalidInput);
    expect(() => secrets.info('a')).toThrow(SecretNotFound);
    expect(() => secrets.delete('a')).toThrow(SecretNotFound);
    expect(store.list()).toEqual([]);
  });

  it('reads its secrets back from the store, so they outlive a restart', async () => {
    secrets.put('a', Buffer.from('1'));
    const version = secrets.versionOf(['a']);
    const again = new Secrets({ store, clock });
    expect(again.versionOf(['a'])).toBe(version);
    await again.writeInto(['a'], dir);
    expect(await readFile(join(dir, 'a'), 'utf8')).toBe('1');
  });

  it('keeps its own copy of a value, whatever becomes of the buffer it was given', async () => {
    const given = Buffer.from('original');
    secrets.put('a', given);
    given.fill(0);
    await secrets.writeInto(['a'], dir);
    expect(await readFile(join(dir, 'a'), 'utf8')).toBe('original');
  });

  it('writes the named secrets, and only those, as files the container user can read and nobody can write', async () => {
    secrets.put('db-password', Buffer.from('hunter2'));
    secrets.put('api-key', Buffer.from([0, 1, 2, 255]));
    secrets.put('other', Buffer.from('not for this one'));
    await secrets.writeInto(['db-password', 'api-key'], dir);
    expect((await readdir(dir)).sort()).toEqual(['api-key', 'db-password']);
    expect(await readFile(join(dir, 'db-password'), 'utf8')).toBe('hunter2');
    expect(await readFile(join(dir, 'api-key'))).toEqual(Buffer.from([0, 1, 2, 255]));
    expect((await stat(join(dir, 'db-password'))).mode & 0o777).toBe(0o444);
  });

  it('never writes through a file or link already in the folder', async () => {
    secrets.put('a', Buffer.from('1'));
    const victim = join(dir, 'victim');
    await writeFile(victim, 'untouched');
    const folder = await mkdtemp(join(dir, 'f-'));
    await symlink(victim, join(folder, 'a'));
    await expect(secrets.writeInto(['a'], folder)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(victim, 'utf8')).toBe('untouched');
  });
});
