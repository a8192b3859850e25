import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../support/logger.js';
import { withCauses } from '../support/errors.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { FunctionRecord } from '../state/records.js';
import { labelledSpec } from './labelled-spec.js';
import { templateOf } from './replica.js';
import { makeSecretsFolder, makeSocketFolder, removeReplicaFolders, socketDirOf } from './replica-socket.js';

/** A function's container, created by the engine and not started: its next start skips the create. */
export interface Standby {
  readonly key: string;
  readonly functionName: string;
  /** The record it was made for: a start of another template or revision cannot use it. */
  readonly template: string;
  readonly generation: number;
  readonly digest: string;
  readonly socketDir: string;
  readonly secretsDir: string | null;
  /** Its container's id once created; rejects when the engine could not create it. */
  readonly created: Promise<string>;
  /** The same id once known (null while the engine creates it), for `GET /info`. */
  id: string | null;
}

/**
 * Standby creates the engine runs at once. A start with many functions (or a manifest folder
 * of many) queues the rest rather than asking dockerd for all of them together.
 */
const CREATES_AT_ONCE = 2;

/** Where standbys come from. */
export interface StandbyOptions {
  sandbox: Sandbox;
  log: Logger;
  functionsDir: string;
  socketsDir: string;
  workerDir: string;
  /** Where each container's own secrets folder is made; without it standbys have no secrets mount. */
  secretMountsDir?: string;
}

/**
 * One created, unstarted container per function (Kubernetes has no such thing; it is what
 * keeps a function's start at the engine's `start`). The engine's create is 11-20 ms of a cold
 * start that does not go through a stem cell (docs/design.md): made ahead, at a deploy and
 * after each start that used the previous one, it is off the path. A created container runs
 * nothing and holds no memory or CPU; its secrets are written when it is taken, not before,
 * so a rotated value is never stale. The reconciler says which record each function's standby
 * is for (`ensure`); a start takes it when the record matches (`take`); a restart adopts what
 * the previous run left (`adopt`).
 */
export class Standbys {
  #o: StandbyOptions;
  #byFunction = new Map<string, Standby>();
  /** Keys of standbys not taken whose folders or container may exist: made, or being removed. */
  #held = new Set<string>();
  #removals = new Set<Promise<void>>();
  #stopped = false;
  /** Standbys whose create has begun (the others wait for one of the engine's slots). */
  #begun = new WeakSet<Standby>();
  /** Standbys given up (replaced, deleted, or taken while still queued). */
  #givenUp = new WeakSet<Standby>();
  #creating = 0;
  #queued: Array<() => void> = [];

  constructor(options: StandbyOptions) {
    this.#o = options;
  }

  /**
   * Makes sure `fn`'s standby is for this record, replacing one made for another in the
   * background. Returns at once; a create that fails is logged, and the next call tries again.
   */
  ensure(fn: FunctionRecord): void {
    if (this.#stopped) return;
    const current = this.#byFunction.get(fn.name);
    if (current && fits(current, fn)) return;
    if (current) this.#discard(current);
    const key = randomBytes(5).toString('hex');
    this.#held.add(key);
    const { socketsDir, secretMountsDir } = this.#o;
    const secretsDir = secretMountsDir === undefined ? null : join(secretMountsDir, key);
    // Assigned below, before the create reads it (it first waits for a slot: at least a turn).
    let standby!: Standby;
    const created = (async () => {
      await this.#slot();
      try {
        if (this.#givenUp.has(standby)) throw new Error('given up before its create began');
        this.#begun.add(standby);
        const [socketDir] = await Promise.all([makeSocketFolder(socketsDir, key), secretMountsDir === undefined ? null : makeSecretsFolder(secretMountsDir, key)]);
        return await this.#o.sandbox.create(labelledSpec(fn, key, { functionsDir: this.#o.functionsDir, workerDir: this.#o.workerDir, socketDir, secretsDir }));
      } finally {
        this.#free();
      }
    })();
    standby = {
      key,
      functionName: fn.name,
      template: templateOf(fn),
      generation: fn.generation,
      digest: fn.codeDigest,
      socketDir: socketDirOf(socketsDir, key),
      secretsDir,
      created,
      id: null,
    };
    this.#track(standby, 'create');
  }

  /**
   * Takes over a standby a previous run left (a created container labelled for `fn`'s record):
   * its folders are made again if a sweep took them. One already there for `fn` wins; the
   * other is removed.
   */
  adopt(fn: FunctionRecord, containerId: string, key: string): void {
    const { socketsDir, secretMountsDir } = this.#o;
    const secretsDir = secretMountsDir === undefined ? null : join(secretMountsDir, key);
    const created = Promise.all([makeSocketFolder(socketsDir, key), secretsDir === null ? null : makeSecretsFolder(secretMountsDir!, key)]).then(() => containerId);
    this.#held.add(key);
    const standby: Standby = { key, functionName: fn.name, template: templateOf(fn), generation: fn.generation, digest: fn.codeDigest, socketDir: socketDirOf(socketsDir, key), secretsDir, created, id: containerId };
    this.#begun.add(standby);
    if (this.#stopped || this.#byFunction.has(fn.name)) {
      this.#discard(standby);
      return;
    }
    this.#track(standby, 'take over');
  }

  /**
   * Hands `fn`'s standby to a start, when it was made for this record (its create may still be
   * under way: awaiting it is sooner than a create of its own). The taker owns its container
   * and folders from then on.
   */
  take(fn: FunctionRecord): Standby | null {
    const standby = this.#byFunction.get(fn.name);
    if (!standby || !fits(standby, fn)) return null;
    if (!this.#begun.has(standby)) {
      // Still queued behind other functions' creates: a create of the start's own is sooner.
      this.#discard(standby);
      return null;
    }
    this.#byFunction.delete(fn.name);
    this.#held.delete(standby.key);
    return standby;
  }

  /** `functionName`'s standby, not taken yet (its create may be under way). */
  of(functionName: string): Readonly<Standby> | null {
    return this.#byFunction.get(functionName) ?? null;
  }

  /** True while this replica key is a standby's (not a stray container to remove). */
  holds(replicaKey: string): boolean {
    return this.#held.has(replicaKey);
  }

  /** Keys whose folders are a standby's. */
  keys(): Set<string> {
    return new Set(this.#held);
  }

  /** Removes `functionName`'s standby (its function is deleted); resolves once it is gone. */
  async discard(functionName: string): Promise<void> {
    const standby = this.#byFunction.get(functionName);
    if (standby) this.#discard(standby);
    await Promise.all(this.#removals);
  }

  /**
   * Makes no more, and waits for the creates and removals under way. The standbys stay, as
   * every container of a stopped runtime does: the next start adopts them (or removes them).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all([...[...this.#byFunction.values()].map((s) => s.created.catch(() => undefined)), ...this.#removals]);
  }

  /**
   * Makes `standby` its function's, notes its id once created, and drops it when it cannot be
   * made (`doing` says what failed); the next reconcile makes another.
   */
  #track(standby: Standby, doing: string): void {
    this.#byFunction.set(standby.functionName, standby);
    standby.created.then(
      (id) => void (standby.id = id),
      (err: unknown) => {
        // Taken meanwhile: the start that took it falls back to a create of its own. Given up: no news.
        if (!this.#held.has(standby.key) || this.#givenUp.has(standby)) return;
        this.#o.log.warn(`could not ${doing} the standby container of ${standby.functionName}: ${withCauses(err)}`);
        if (this.#byFunction.get(standby.functionName) === standby) this.#discard(standby);
      },
    );
  }

  /** Resolves when one of the {@link CREATES_AT_ONCE} slots is this create's. */
  #slot(): Promise<void> {
    if (this.#creating < CREATES_AT_ONCE) {
      this.#creating += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queued.push(resolve));
  }

  /** Hands a finished create's slot to the next in line. */
  #free(): void {
    const next = this.#queued.shift();
    if (next) next();
    else this.#creating -= 1;
  }

  #discard(standby: Standby): void {
    this.#givenUp.add(standby);
    if (this.#byFunction.get(standby.functionName) === standby) this.#byFunction.delete(standby.functionName);
    const removal = (async () => {
      // One still queued never gets its create (it checks when its slot comes): nothing to wait for.
      const id = this.#begun.has(standby) ? await standby.created.catch(() => null) : null;
      if (id !== null) {
        await this.#o.sandbox.remove(id).catch((err: unknown) => {
          // Left to the reconciler, which removes a labelled container no replica stands for.
          this.#o.log.warn(`could not remove the standby container of ${standby.functionName}: ${withCauses(err)}`);
        });
      }
      await removeReplicaFolders(this.#o.socketsDir, null, standby.key, this.#o.secretMountsDir);
    })().finally(() => {
      this.#held.delete(standby.key);
      this.#removals.delete(removal);
    });
    this.#removals.add(removal);
  }
}

/** A standby serves a start of the same template and revision (a lambda's version is in its environment). */
function fits(standby: Standby, fn: FunctionRecord): boolean {
  return standby.template === templateOf(fn) && standby.generation === fn.generation;
}
