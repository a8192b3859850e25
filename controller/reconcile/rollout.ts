import type { Pool } from '../pool/router.js';
import { templateOf } from '../pool/replica.js';
import type { FunctionRecord } from '../state/records.js';
import type { Store } from '../state/store.js';
import type { Clock } from '../support/clock.js';
import { NotReady } from '../support/errors.js';

/** What waiting for a rollout reads: the pool's replicas, the stored status, the time. */
export interface RolloutDeps {
  pool: Pick<Pool, 'replicas' | 'start'>;
  store: Pick<Store, 'getStatus' | 'get'>;
  clock: Clock;
}

/** How often the wait looks again. */
const POLL_MS = 25;

/**
 * Resolves once a container of `fn`'s generation has loaded its code, like
 * `kubectl rollout status`; rejects with NotReady carrying the load or start error, or when
 * `timeoutMs` passes. The reconciler starts the containers of a function with `minWarm` > 0;
 * for one that scales to zero, nothing would start until a request comes, so one container is
 * started here to load it (the reconciler scales it away as it would any idle one).
 */
export async function awaitRollout(deps: RolloutDeps, fn: FunctionRecord, timeoutMs: number): Promise<void> {
  const template = templateOf(fn);
  const deadline = deps.clock.now() + timeoutMs;
  const what = `generation ${fn.generation} of function "${fn.name}"`;
  let probe: Promise<unknown> | null = null;
  // Set by the probe's own start, which ends while this loop waits.
  const probed: { error: Error | null } = { error: null };
  for (;;) {
    const current = deps.store.get(fn.name);
    if (!current || current.deleting) throw new NotReady(`${what} did not become ready: the function was deleted`);
    const own = deps.pool.replicas(fn.name).filter((r) => r.template === template);
    if (own.some((r) => r.state === 'ready' && !r.loadError)) return;
    const failed = own.find((r) => r.state === 'ready' && r.loadError);
    if (failed) throw new NotReady(`${what} did not become ready: its function failed to load: ${failed.loadError}`);
    if (probed.error) throw new NotReady(`${what} did not become ready: ${probed.error.message}`);
    const pool = deps.store.getStatus(fn.name)?.conditions.find((c) => c.type === 'PoolReady');
    if (pool && pool.observedGeneration === fn.generation && pool.status === 'False' && pool.reason === 'StartFailed') {
      throw new NotReady(`${what} did not become ready: ${pool.message}`);
    }
    if (probe === null && fn.spec.minWarm === 0 && !own.some((r) => r.state === 'starting')) {
      probe = deps.pool.start(fn).catch((err: unknown) => {
        probed.error = err instanceof Error ? err : new Error(String(err));
      });
    }
    const left = deadline - deps.clock.now();
    if (left <= 0) throw new NotReady(`${what} did not become ready within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => deps.clock.setTimeout(resolve, Math.min(POLL_MS, left)));
  }
}
