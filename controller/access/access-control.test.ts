import { describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { FakeClock } from '../support/clock.js';
import { Forbidden, Unauthorized } from '../support/errors.js';
import type { FunctionRecord } from '../state/records.js';
import { AccessControl, MAX_KEYS_PER_FUNCTION } from './access-control.js';
import { SqliteKeyStore } from './sqlite-key-store.js';

const TOKEN = 'admin-token-for-tests-0123456789';
const bearer = (token: string) => `Bearer ${token}`;

function fn(name: string, auth: 'none' | 'key', deleting = false): FunctionRecord {
  return {
    name,
    spec: FunctionSpec.parse({ auth }),
    codeDigest: 'd',
    secretsVersion: '',
    source: 'api',
    manifestPath: null,
    generation: 1,
    revision: 1,
    createdAt: 0,
    updatedAt: 0,
    lastInvokedAt: null,
    invokeCount: 0,
    deleting,
  };
}

function setup(required = true) {
  const clock = new FakeClock(Date.parse('2025-01-01T00:00:00Z'));
  const keys = new SqliteKeyStore(':memory:');
  const access = new AccessControl({ adminToken: TOKEN, required, keys, clock });
  return { clock, keys, access };
}

describe('AccessControl', () => {
  it('takes the admin token on control routes, in any letter case of the scheme, and refuses anything else with Unauthorized', () => {
    const { access } = setup();
    expect(() => access.checkAdmin(bearer(TOKEN))).not.toThrow();
    expect(() => access.checkAdmin(`bearer ${TOKEN}`)).not.toThrow();
    for (const header of [undefined, '', TOKEN, `Basic ${TOKEN}`, bearer(`${TOKEN}x`), bearer(TOKEN.slice(1)), 'Bearer ']) {
      expect(() => access.checkAdmin(header), String(header)).toThrow(Unauthorized);
    }
  });

  it('opens the control plane when not required (GLAMBDAR_AUTH=none), but private functions still need a key', () => {
    const { access } = setup(false);
    expect(() => access.checkAdmin(undefined)).not.toThrow();
    expect(() => access.authorizeInvoke(fn('private', 'key'), undefined)).toThrow(Unauthorized);
  });

  it('lets anyone invoke a public function and withholds only the admin token from it', () => {
    const { access } = setup();
    const open = fn('open', 'none');
    expect(access.authorizeInvoke(open, undefined)).toBe(false);
    expect(access.authorizeInvoke(open, 'Bearer the-function-s-own-scheme')).toBe(false);
    expect(access.authorizeInvoke(open, bearer(TOKEN))).toBe(true);
    // Unknown and deleted functions are the invoker's to answer (404).
    expect(access.authorizeInvoke(undefined, undefined)).toBe(false);
    expect(access.authorizeInvoke(fn('gone', 'key', true), undefined)).toBe(false);
  });

  it('lets a private function be invoked with its own key or the admin token: 401 without, 403 with another function\'s key, 401 after revocation', () => {
    const { access } = setup();
    const a = access.createKey('a');
    const b = access.createKey('b');
    expect(a.key).toMatch(/^gk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(a.key.slice(3, 15)).toBe(a.id);
    const fa = fn('a', 'key');
    expect(access.authorizeInvoke(fa, bearer(a.key))).toBe(true);
    expect(access.authorizeInvoke(fa, bearer(TOKEN))).toBe(true);
    expect(() => access.authorizeInvoke(fa, undefined)).toThrow(Unauthorized);
    expect(() => access.authorizeInvoke(fa, bearer('gk_nothing'))).toThrow(Unauthorized);
    // Its id with a wrong secret: the hash decides, not the id.
    expect(() => access.authorizeInvoke(fa, bearer(`${a.key.slice(0, 16)}${'A'.repeat(43)}`))).toThrow(Unauthorized);
    expect(() => access.authorizeInvoke(fa, bearer(b.key))).toThrow(Forbidden);
    access.revokeKey('a', a.id);
    expect(() => access.authorizeInvoke(fa, bearer(a.key))).toThrow(Unauthorized);
  });

  it('keeps only hashes, shows a key once, and records when keys were last used, written by flushUsage', () => {
    const { access, keys, clock } = setup();
    const made = access.createKey('a');
    expect(keys.all()).toEqual([{ id: made.id, functionName: 'a', hash: expect.stringMatching(/^[0-9a-f]{64}$/), createdAt: clock.now(), lastUsedAt: null }]);
    expect(JSON.stringify(keys.all())).not.toContain(made.key.slice(16));
    expect(access.listKeys('a')).toEqual([{ id: made.id, createdAt: '2025-01-01T00:00:00.000Z', lastUsedAt: null }]);
    clock.advance(5000);
    access.authorizeInvoke(fn('a', 'key'), bearer(made.key));
    expect(access.listKeys('a')[0]?.lastUsedAt).toBe('2025-01-01T00:00:05.000Z');
    expect(keys.all()[0]?.lastUsedAt).toBeNull();
    access.flushUsage();
    expect(keys.all()[0]?.lastUsedAt).toBe(clock.now());
  });

  it('reads its keys back from the store, so keys outlive a restart', () => {
    const { keys, clock } = setup();
    const first = new AccessControl({ adminToken: TOKEN, required: true, keys, clock });
    const made = first.createKey('a');
    const second = new AccessControl({ adminToken: TOKEN, required: true, keys, clock });
    expect(second.authorizeInvoke(fn('a', 'key'), bearer(made.key))).toBe(true);
  });

  it('forgets every key of a deleted function, and sweeps those of functions that no longer exist', () => {
    const { access, keys } = setup();
    const a = access.createKey('a');
    access.createKey('b');
    access.createKey('c');
    access.forgetFunction('a');
    expect(() => access.authorizeInvoke(fn('a', 'key'), bearer(a.key))).toThrow(Unauthorized);
    access.sweep((name) => name === 'b');
    expect(keys.all().map((k) => k.functionName)).toEqual(['b']);
    expect(access.listKeys('c')).toEqual([]);
  });

  it(`refuses a key past ${MAX_KEYS_PER_FUNCTION} per function`, () => {
    const { access } = setup();
    for (let i = 0; i < MAX_KEYS_PER_FUNCTION; i++) access.createKey('a');
    expect(() => access.createKey('a')).toThrow(/already has 100 keys/);
    expect(() => access.createKey('b')).not.toThrow();
  });
});
