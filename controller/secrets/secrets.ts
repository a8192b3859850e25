import { createHash, randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../support/clock.js';
import { InvalidInput, PayloadTooLarge, SecretNotFound } from '../support/errors.js';
import { checkSecretName } from '../support/function-name.js';
import type { WriteOutcome } from '../state/records.js';
import type { SecretRecord, SecretStore } from './secret-store.js';

/** Largest secret value (README "Secrets"). */
export const MAX_SECRET_BYTES = 64 * 1024;

/** A secret as `GET /secrets` shows it: never its value. */
export interface SecretInfo {
  name: string;
  size: number;
  createdAt: string;
  updatedAt: string;
}

const infoOf = (r: SecretRecord): SecretInfo => ({
  name: r.name,
  size: r.size,
  createdAt: new Date(r.createdAt).toISOString(),
  updatedAt: new Date(r.updatedAt).toISOString(),
});

/**
 * The secret store as the controller uses it: validated writes, a list without values, the
 * version digest a function's containers are templated on, and the files a container mounts.
 * Everything is cached (read once at start, changed by every write here), so a container
 * started for a waiting request reads no database for its secrets.
 */
export class Secrets {
  #store: SecretStore;
  #clock: Pick<Clock, 'now'>;
  #records = new Map<string, SecretRecord>();
  #values = new Map<string, Buffer>();

  constructor(options: { store: SecretStore; clock: Pick<Clock, 'now'> }) {
    this.#store = options.store;
    this.#clock = options.clock;
    for (const r of options.store.list()) {
      this.#records.set(r.name, r);
      const value = options.store.value(r.name);
      if (value) this.#values.set(r.name, value);
    }
  }

  /** Creates or replaces a secret; the same value again is `unchanged` (no container rolls). */
  put(rawName: string, value: Buffer): { outcome: WriteOutcome; secret: SecretInfo } {
    const name = checkSecretName(rawName);
    if (value.length === 0) throw new InvalidInput(`secret "${name}": the value is empty; send it as the request body`);
    if (value.length > MAX_SECRET_BYTES) throw new PayloadTooLarge(`secret "${name}": the value is larger than ${MAX_SECRET_BYTES / 1024} KiB`);
    const existing = this.#records.get(name);
    if (existing && this.#values.get(name)?.equals(value)) return { outcome: 'unchanged', secret: infoOf(existing) };
    const record = this.#store.put(name, value, randomBytes(8).toString('hex'), this.#clock.now());
    this.#records.set(name, record);
    // A copy: the caller's buffer (express's body) is not ours to keep.
    this.#values.set(name, Buffer.from(value));
    return { outcome: existing ? 'updated' : 'created', secret: infoOf(record) };
  }

  /** One secret without its value, or SecretNotFound. */
  info(rawName: string): SecretInfo {
    const record = this.#records.get(checkSecretName(rawName));
    if (!record) throw new SecretNotFound(rawName);
    return infoOf(record);
  }

  /** Every secret, by name, without values. */
  list(): SecretInfo[] {
    return [...this.#records.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map(infoOf);
  }

  /** Deletes a secret (the caller has checked that no function names it). */
  delete(rawName: string): void {
    const name = checkSecretName(rawName);
    if (!this.#records.has(name)) throw new SecretNotFound(name);
    // The cache goes first: from here no spec can name it, whatever the store's write costs.
    this.#records.delete(name);
    this.#values.delete(name);
    this.#store.delete(name);
  }

  /**
   * The digest of the named secrets' versions ('' for none), order-free; InvalidInput naming
   * every one that does not exist.
   */
  versionOf(names: readonly string[]): string {
    if (names.length === 0) return '';
    const missing = names.filter((n) => !this.#records.has(n));
    if (missing.length > 0) {
      const listed = missing.map((n) => `"${n}"`).join(', ');
      throw new InvalidInput(`invalid spec: secrets: ${missing.length > 1 ? 'secrets' : 'secret'} ${listed} ${missing.length > 1 ? 'do' : 'does'} not exist; create ${missing.length > 1 ? 'them' : 'it'} first with PUT /secrets/${missing[0]}`);
    }
    const hash = createHash('sha256');
    for (const n of [...names].sort()) hash.update(`${n}:${this.#records.get(n)!.version}\n`);
    return hash.digest('hex').slice(0, 16);
  }

  /**
   * Writes the named secrets into `dir` (a container's own secrets folder, mounted read-only at
   * `/var/glambdar/secrets`), one file each, readable by the container's user. The folder is new
   * or empty; a file already there is an error, never overwritten through a link.
   */
  async writeInto(names: readonly string[], dir: string): Promise<void> {
    for (const name of names) {
      const value = this.#values.get(name);
      if (!value) throw new SecretNotFound(name);
      const file = join(dir, name);
      await writeFile(file, value, { flag: 'wx', mode: 0o444 });
      await chmod(file, 0o444);
    }
  }

  close(): void {
    this.#store.close();
  }
}
