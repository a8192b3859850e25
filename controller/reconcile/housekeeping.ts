import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool } from '../pool/router.js';
import type { StemCells } from '../pool/stem-cells.js';
import type { TrafficPlans } from '../revisions/plans.js';
import { adoptionRecord } from '../revisions/traffic-plan.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { DiskSpace } from '../state/disk-space.js';
import type { Store } from '../state/store.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import { withCauses } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import type { WorkQueue } from './workqueue.js';

/** What housekeeping reads and touches. */
export interface HousekeepingOptions {
  store: Store;
  sandbox: Sandbox;
  pool: Pool;
  plans: TrafficPlans;
  queue: WorkQueue;
  clock: Clock;
  log: Logger;
  space: Pick<DiskSpace, 'ensureBallast'>;
  stemCells: Pick<StemCells, 'keys'>;
  /** The folders named by replica keys: `<sockets>/<key>/` and `<cells>/<key>/`. */
  socketsDir: string;
  cellsDir: string;
  resyncIntervalMs: number;
}

/**
 * What the runtime does besides reconciling one function: at start, adopt the containers a
 * previous run left; then every resync period, enqueue every function (and those only the
 * engine still knows), sweep stopped stem-born containers nobody claims, remove the folders
 * of containers that are gone, and give the disk its ballast back.
 */
export class Housekeeping {
  #o: HousekeepingOptions;
  #timer: TimerHandle | null = null;
  #stopped = false;

  constructor(options: HousekeepingOptions) {
    this.#o = options;
  }

  /**
   * Adopts the running containers a previous run left, by the labels set at create time, so
   * the first invoke after a restart is warm.
   */
  async adoptRunning(): Promise<void> {
    const { sandbox, store, pool, plans, log } = this.#o;
    let containers;
    try {
      containers = await sandbox.list();
    } catch (err) {
      log.warn(`cannot list containers to adopt: ${withCauses(err)}`);
      return;
    }
    await Promise.all(
      containers.map(async (c) => {
        // Only labels set at create time say whose a container is. A stem cell's name no function
        // (a specialised one was about to be replaced by a labelled container): it goes.
        const fn = c.stem ? undefined : store.get(c.functionName);
        // Every revision with traffic or a tag keeps its containers.
        const record = fn && !fn.deleting ? adoptionRecord(plans.plan(fn), c) : undefined;
        if (!c.running || !record) {
          if (c.stem) await pool.removeStray(c.id, c.replicaKey).catch(() => undefined);
          return;
        }
        // A container that does not answer is removed by adopt; reconcile starts a new one.
        await pool.adopt(record, c.id, c.replicaKey).catch(() => undefined);
      }),
    );
  }

  /**
   * Removes the socket and code folders of replica keys nothing holds any more: no replica of
   * the pool, no stem cell, no container the engine lists. A key is registered before its
   * folders are made, and the folders are listed before the keys are read, so a start under
   * way never loses its folders.
   */
  async sweepFolders(): Promise<string[]> {
    const containers = await this.#o.sandbox.list();
    const entries = await Promise.all([this.#o.socketsDir, this.#o.cellsDir].map(async (dir) => ({ dir, names: await readdir(dir).catch(() => [] as string[]) })));
    const held = this.#o.pool.keys();
    for (const key of this.#o.stemCells.keys()) held.add(key);
    for (const c of containers) held.add(c.replicaKey);
    const removed: string[] = [];
    for (const { dir, names } of entries) {
      for (const name of names) {
        if (held.has(name)) continue;
        await rm(join(dir, name), { recursive: true, force: true });
        removed.push(name);
      }
    }
    if (removed.length > 0) this.#o.log.debug(`removed the folders of ${removed.length} gone container(s)`);
    return removed;
  }

  /** Starts the periodic resync; the first runs now. */
  startResync(): void {
    this.#resync();
  }

  /** Stops the periodic resync. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #resync(): void {
    if (this.#stopped) return;
    const { store, sandbox, queue, clock } = this.#o;
    for (const fn of store.list()) queue.add(fn.name);
    // The ballast a deletion spent on a full disk comes back once there is room again.
    void this.#o.space.ensureBallast();
    // Containers of functions the store no longer knows (deleted while we were down) too.
    void sandbox
      .list()
      .then((containers) => {
        for (const c of containers) {
          if (!c.stem) {
            if (c.functionName) queue.add(c.functionName);
          } else if (c.exited) {
            // A stem-born container's labels name no function, so no reconcile ever claims it:
            // one that stopped while its removal failed (the engine was down) is swept here.
            this.#o.pool.removeStray(c.id, c.replicaKey).catch(() => undefined);
          }
        }
      })
      .catch(() => undefined);
    void this.sweepFolders().catch((err: unknown) => this.#o.log.warn(`could not sweep replica folders: ${withCauses(err)}`));
    this.#timer = clock.setTimeout(() => this.#resync(), this.#o.resyncIntervalMs);
  }
}
