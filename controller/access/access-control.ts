import { hash, randomBytes } from 'node:crypto';
import type { Clock } from '../support/clock.js';
import { Forbidden, InvalidInput, KeyNotFound, Unauthorized } from '../support/errors.js';
import type { FunctionRecord } from '../state/records.js';
import type { KeyStore, StoredKey } from './key-store.js';

/** Keys one function may hold. */
export const MAX_KEYS_PER_FUNCTION = 100;

/** A key as `GET /keys/:name` lists it: never the key. */
export interface KeyInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** A new key, as `POST /keys/:name` returns it: the only time the key itself is shown. */
export interface NewKey extends KeyInfo {
  function: string;
  key: string;
}

/** A cached key: its hash for the constant-time compare, and its last use. */
interface CachedKey {
  id: string;
  functionName: string;
  /** sha256 of the key, base64url (the store keeps it as hex). */
  digest: string;
  createdAt: number;
  lastUsedAt: number | null;
  /** Used since the last write of last-used times. */
  dirty: boolean;
}

/** Keys read `gk_<id>_<secret>`: the id finds the cached hash without depending on the secret. */
const KEY_PREFIX = 'gk_';
const ID_CHARS = 12;

/**
 * sha256 as base64url text: a string on the V8 heap costs the invoke path about half what a
 * Buffer (an ArrayBuffer of its own) does.
 */
const sha256 = (text: string): string => hash('sha256', text, 'base64url');

/**
 * Compares two digests in constant time: no early exit, every character looked at. Digests
 * have a fixed length, so comparing lengths first tells nothing; and an attacker cannot steer
 * a digest's characters toward a match anyway.
 */
function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** The token of `Authorization: Bearer <token>` (scheme in any case), or undefined. */
function bearer(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined;
  if (!header.startsWith('Bearer ') && header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}

const adminRefused = () =>
  new Unauthorized('this route needs the admin token: send "Authorization: Bearer <token>" (the token is in the file admin-token of the runtime\'s data folder, ~/.glambdar by default)');
const keyRefused = (name: string) =>
  new Unauthorized(`function "${name}" is private: send "Authorization: Bearer <key>" with one of its keys (POST /keys/${name} makes one)`);

/**
 * Who may do what: the admin token for the control plane, a key (or the admin token) for a
 * private function. Every compare is of sha256 digests, in constant time; keys are stored only
 * as hashes and cached, so checking an invocation reads no database: O(1), a hash and a map
 * lookup by the key's id. Last-used times are kept in memory and written by `flushUsage`.
 */
export class AccessControl {
  #adminDigest: string;
  /** Its length, which is no secret (a generated token is 43 characters): other tokens skip the hash. */
  #required: boolean;
  #store: KeyStore;
  #clock: Pick<Clock, 'now'>;
  #keys = new Map<string, CachedKey>();

  /** `required: false` (GLAMBDAR_AUTH=none) opens the control plane; private functions stay private. */
  constructor(options: { adminToken: string; required: boolean; keys: KeyStore; clock: Pick<Clock, 'now'> }) {
    this.#adminDigest = sha256(options.adminToken);
    this.#required = options.required;
    this.#store = options.keys;
    this.#clock = options.clock;
    for (const k of options.keys.all()) this.#keys.set(k.id, { ...cached(k), dirty: false });
  }

  /** Throws Unauthorized unless the header carries the admin token (or the control plane is open). */
  checkAdmin(authorization: string | undefined): void {
    if (!this.#required) return;
    const token = bearer(authorization);
    if (token === undefined || !sameDigest(sha256(token), this.#adminDigest)) throw adminRefused();
  }

  /**
   * Whether a caller may invoke `fn` (undefined: no such function, which the invoker answers).
   * A public function takes anyone; a private one a key of its own or the admin token (401
   * otherwise, 403 for a key of another function). Returns true when the Authorization header
   * carried a Glambdar credential, which the function must not see: every credential a
   * private function is called with, and the admin token whatever the function.
   */
  authorizeInvoke(fn: FunctionRecord | undefined, authorization: string | undefined): boolean {
    if (fn === undefined || fn.deleting) return false;
    if (fn.spec.auth === 'none') {
      if (authorization === undefined) return false;
      const token = bearer(authorization);
      // Always hashed and compared, whatever its length: a shortcut on the length would tell by
      // its timing how long the admin token is.
      return token !== undefined && sameDigest(sha256(token), this.#adminDigest);
    }
    const token = bearer(authorization);
    if (token === undefined) throw keyRefused(fn.name);
    const digest = sha256(token);
    if (sameDigest(digest, this.#adminDigest)) return true;
    const key = token.startsWith(KEY_PREFIX) ? this.#keys.get(token.slice(KEY_PREFIX.length, KEY_PREFIX.length + ID_CHARS)) : undefined;
    if (key === undefined || !sameDigest(digest, key.digest)) throw keyRefused(fn.name);
    if (key.functionName !== fn.name) throw new Forbidden(`this key belongs to another function; function "${fn.name}" takes only its own keys`);
    key.lastUsedAt = this.#clock.now();
    key.dirty = true;
    return true;
  }

  /** Makes a key for a function; the caller has checked that the function exists. */
  createKey(functionName: string): NewKey {
    let count = 0;
    for (const k of this.#keys.values()) if (k.functionName === functionName) count += 1;
    if (count >= MAX_KEYS_PER_FUNCTION) {
      throw new InvalidInput(`function "${functionName}" already has ${MAX_KEYS_PER_FUNCTION} keys; revoke one first (DELETE /keys/${functionName}/<id>)`);
    }
    const id = randomBytes(ID_CHARS / 2).toString('hex');
    const key = `${KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
    const stored: StoredKey = { id, functionName, hash: hash('sha256', key, 'hex'), createdAt: this.#clock.now(), lastUsedAt: null };
    this.#store.insert(stored);
    this.#keys.set(id, { ...cached(stored), dirty: false });
    return { function: functionName, key, ...infoOf(stored) };
  }

  /** A function's keys, oldest first, without the keys themselves. */
  listKeys(functionName: string): KeyInfo[] {
    const out: KeyInfo[] = [];
    for (const k of this.#keys.values()) if (k.functionName === functionName) out.push(infoOf(k));
    return out;
  }

  /** Revokes a key: from the next request on, it opens nothing. */
  revokeKey(functionName: string, id: string): void {
    const key = this.#keys.get(id);
    if (!key || key.functionName !== functionName) throw new KeyNotFound(functionName, id);
    this.#keys.delete(id);
    this.#store.delete(functionName, id);
  }

  /** Drops every key of a deleted function, so a function made later under its name starts with none. */
  forgetFunction(functionName: string): void {
    for (const [id, k] of this.#keys) if (k.functionName === functionName) this.#keys.delete(id);
    this.#store.deleteFunction(functionName);
  }

  /** Drops the keys of functions that no longer exist (deleted while a crash cut the cleanup short). */
  sweep(exists: (functionName: string) => boolean): void {
    const gone = new Set<string>();
    for (const k of this.#keys.values()) if (!exists(k.functionName)) gone.add(k.functionName);
    for (const name of gone) this.forgetFunction(name);
  }

  /** Writes the last-used times kept in memory since the last call. */
  flushUsage(): void {
    const uses: Array<{ id: string; lastUsedAt: number }> = [];
    for (const k of this.#keys.values()) {
      if (!k.dirty || k.lastUsedAt === null) continue;
      k.dirty = false;
      uses.push({ id: k.id, lastUsedAt: k.lastUsedAt });
    }
    this.#store.recordUse(uses);
  }

  /** Writes what is pending and closes the store. */
  close(): void {
    this.flushUsage();
    this.#store.close();
  }
}

/** A stored key as the cache holds it: its hex hash as base64url, for the compare with a presented key's digest. */
function cached(k: StoredKey): Omit<CachedKey, 'dirty'> {
  return { id: k.id, functionName: k.functionName, digest: Buffer.from(k.hash, 'hex').toString('base64url'), createdAt: k.createdAt, lastUsedAt: k.lastUsedAt };
}

function infoOf(k: { id: string; createdAt: number; lastUsedAt: number | null }): KeyInfo {
  return { id: k.id, createdAt: new Date(k.createdAt).toISOString(), lastUsedAt: k.lastUsedAt === null ? null : new Date(k.lastUsedAt).toISOString() };
}
