import type { Pool } from '../pool/router.js';
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
  resyncIntervalMs: number;
}

/**
 * What the runtime does besides reconciling one function: at start, adopt the containers a
 * previous run left; then every resync period, enqueue every function (and those only the
 * engine still knows), sweep stopped stem-born containers nobody claims, and give the disk
 * its ballast back.
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
          if (c.stem) await sandbox.remove(c.id).catch(() => undefined);
          return;
        }
        // A container that does not answer is removed by adopt; reconcile starts a new one.
        await pool.adopt(record, c.id, c.replicaKey).catch(() => undefined);
      }),
    );
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
            sandbox.remove(c.id).catch(() => undefined);
          }
        }
      })
      .catch(() => undefined);
    this.#timer = clock.setTimeout(() => this.#resync(), this.#o.resyncIntervalMs);
  }
}
