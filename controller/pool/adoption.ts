import type { TrafficPlans } from '../revisions/plans.js';
import { adoptionRecord } from '../revisions/traffic-plan.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import type { Store } from '../state/store.js';
import { withCauses } from '../support/errors.js';
import type { Logger } from '../support/logger.js';
import { removeSecretFoldersExcept } from './replica-socket.js';
import type { Pool } from './router.js';

/** What adopting a previous run's containers reads and changes. */
export interface AdoptionParts {
  sandbox: Sandbox;
  store: Store;
  pool: Pool;
  plans: TrafficPlans;
  log: Logger;
  /** The folder of every container's secrets folder. */
  secretMounts: string;
}

/**
 * Adopts the warm containers a previous run left, by their labels (before the API serves,
 * so the first invoke after a restart is warm); removes stem cells and what no serving
 * revision runs, then the secrets folders no adopted container mounts.
 */
export async function adoptRunning({ sandbox, store, pool, plans, log, secretMounts }: AdoptionParts): Promise<void> {
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
  // Secrets folders no adopted container mounts go: no value outlives its containers.
  const kept = new Set<string>();
  for (const fn of store.list()) for (const r of pool.replicas(fn.name)) kept.add(r.key);
  await removeSecretFoldersExcept(secretMounts, kept).catch((err: unknown) => log.warn(`cannot sweep old secrets folders: ${withCauses(err)}`));
}
