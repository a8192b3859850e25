import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { removeSecretFoldersExcept } from '../pool/replica-socket.js';
import { adoptionRecord } from '../revisions/traffic-plan.js';
import type { TimerHandle } from '../support/clock.js';
import { withCauses } from '../support/errors.js';
import type { RuntimeParts } from '../wiring.js';

/**
 * Takes over the containers a previous run left: only labels set at create time say whose a
 * container is, and every revision with traffic or a tag keeps its own. A stem cell names no
 * function (a specialised one was about to be replaced by a labelled container): it goes, with
 * its folders. A function's standby (created, never started) stays its standby while its
 * record still serves. Adoption is idempotent (`Pool.adopt`). Secrets folders no adopted container
 * mounts go too: no value outlives its containers.
 */
export async function adoptRunning(parts: RuntimeParts): Promise<void> {
  const { sandbox, store, pool, plans, standbys, log } = parts;
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
      // A standby (created, never started) of a record the function still serves stays its standby.
      if (record && !c.running && !c.exited && record.generation === c.generation) {
        standbys.adopt(record, c.id, c.replicaKey);
        return;
      }
      if (!c.running || !record) {
        if (c.stem) await pool.removeStray(c.id, c.replicaKey).catch(() => undefined);
        return;
      }
      // A container that does not answer is removed by adopt; reconcile starts a new one.
      await pool.adopt(record, c.id, c.replicaKey).catch(() => undefined);
    }),
  );
  const kept = new Set<string>();
  for (const fn of store.list()) for (const r of pool.replicas(fn.name)) kept.add(r.key);
  for (const key of standbys.keys()) kept.add(key);
  await removeSecretFoldersExcept(parts.paths.secretMounts, kept).catch((err: unknown) => log.warn(`cannot sweep old secrets folders: ${withCauses(err)}`));
}

/**
 * Removes the socket and code folders of replica keys nothing holds any more: no replica of
 * the pool, no stem cell, no container the engine lists. A key is registered before its
 * folders are made, and the folders are listed before the keys are read, so a start under
 * way never loses its folders.
 */
export async function sweepFolders(parts: Pick<RuntimeParts, 'sandbox' | 'pool' | 'stemCells' | 'standbys' | 'paths' | 'log'>): Promise<string[]> {
  const containers = await parts.sandbox.list();
  const entries = await Promise.all([parts.paths.sockets, parts.paths.cells].map(async (dir) => ({ dir, names: await readdir(dir).catch(() => [] as string[]) })));
  const held = parts.pool.keys();
  for (const key of parts.stemCells.keys()) held.add(key);
  for (const key of parts.standbys.keys()) held.add(key);
  for (const c of containers) held.add(c.replicaKey);
  const removed: string[] = [];
  for (const { dir, names } of entries) {
    for (const name of names) {
      if (held.has(name)) continue;
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  if (removed.length > 0) parts.log.debug(`removed the folders of ${removed.length} gone container(s)`);
  return removed;
}

/**
 * The periodic full resync: every function, and every function a container names (deleted
 * while the runtime was down), is reconciled again; keys' last-used times are written;
 * stopped stem-born containers nobody claims and the folders of gone containers are removed;
 * the disk gets its ballast back.
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
    const { store, sandbox, pool, queue, clock, config, access, space, log } = this.#parts;
    try {
      access.flushUsage();
    } catch (err) {
      log.warn(`cannot record when keys were last used: ${withCauses(err)}`);
    }
    for (const fn of store.list()) queue.add(fn.name);
    // The ballast a deletion spent on a full disk comes back once there is room again.
    void space.ensureBallast();
    void sandbox
      .list()
      .then((containers) => {
        for (const c of containers) {
          if (!c.stem) {
            if (c.functionName) queue.add(c.functionName);
          } else if (c.exited) {
            // A stem-born container's labels name no function, so no reconcile ever claims it:
            // one that stopped while its removal failed (the engine was down) is swept here.
            pool.removeStray(c.id, c.replicaKey).catch(() => undefined);
          }
        }
      })
      .catch(() => undefined);
    void sweepFolders(this.#parts).catch((err: unknown) => log.warn(`could not sweep replica folders: ${withCauses(err)}`));
    this.#timer = clock.setTimeout(() => this.start(), config.resyncIntervalMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#parts.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
