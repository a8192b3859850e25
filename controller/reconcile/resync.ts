import { removeSecretFoldersExcept } from '../pool/replica-socket.js';
import { adoptionRecord } from '../revisions/traffic-plan.js';
import type { TimerHandle } from '../support/clock.js';
import { withCauses } from '../support/errors.js';
import type { RuntimeParts } from '../wiring.js';

/**
 * Takes over the containers a previous run left: only labels set at create time say whose a
 * container is, and every revision with traffic or a tag keeps its own. A stem cell names no
 * function (a specialised one was about to be replaced by a labelled container): it goes.
 * Secrets folders no adopted container mounts go too: no value outlives its containers.
 */
export async function adoptRunning(parts: RuntimeParts): Promise<void> {
  const { sandbox, store, pool, plans, log } = parts;
  let containers;
  try {
    containers = await sandbox.list();
  } catch (err) {
    log.warn(`cannot list containers to adopt: ${withCauses(err)}`);
    return;
  }
  await Promise.all(
    containers.map(async (c) => {
      const fn = c.stem ? undefined : store.get(c.functionName);
      const record = fn && !fn.deleting ? adoptionRecord(plans.plan(fn), c) : undefined;
      if (!c.running || !record) {
        if (c.stem) await sandbox.remove(c.id).catch(() => undefined);
        return;
      }
      // A container that does not answer is removed by adopt; reconcile starts a new one.
      await pool.adopt(record, c.id, c.replicaKey).catch(() => undefined);
    }),
  );
  const kept = new Set<string>();
  for (const fn of store.list()) for (const r of pool.replicas(fn.name)) kept.add(r.key);
  await removeSecretFoldersExcept(parts.paths.secretMounts, kept).catch((err: unknown) => log.warn(`cannot sweep old secrets folders: ${withCauses(err)}`));
}

/**
 * The periodic full resync: every function, and every function a container names (deleted
 * while the runtime was down), is reconciled again; keys' last-used times are written.
 */
export class Resync {
  #parts: RuntimeParts;
  #timer: TimerHandle | null = null;
  #stopped = false;

  constructor(parts: RuntimeParts) {
    this.#parts = parts;
  }

  /** Runs one resync now and every `resyncIntervalMs` after, until `stop`. */
  start(): void {
    if (this.#stopped) return;
    const { store, sandbox, queue, clock, config, access, log } = this.#parts;
    try {
      access.flushUsage();
    } catch (err) {
      log.warn(`cannot record when keys were last used: ${withCauses(err)}`);
    }
    for (const fn of store.list()) queue.add(fn.name);
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
    this.#timer = clock.setTimeout(() => this.start(), config.resyncIntervalMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#parts.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
