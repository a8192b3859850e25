import type { FunctionRecord } from '../state/records.js';
import type { Store } from '../state/store.js';
import { buildPlan, type TrafficPlan } from './traffic-plan.js';

/**
 * Every function's traffic plan, built when its record changes (a new generation) and read
 * from memory afterwards: the invoke path costs a map lookup and two comparisons. The
 * Runtime builds a plan right after each write and the reconciler at each pass, so a request
 * rarely finds a plan missing (then it is built on the spot from the store's cached revisions).
 */
export class TrafficPlans {
  #store: Pick<Store, 'revisions'>;
  #plans = new Map<string, TrafficPlan>();

  constructor(store: Pick<Store, 'revisions'>) {
    this.#store = store;
  }

  /** The plan of this version of the record. */
  plan(fn: FunctionRecord): TrafficPlan {
    const cached = this.#plans.get(fn.name);
    if (cached && cached.generation === fn.generation && cached.createdAt === fn.createdAt) return cached;
    const plan = buildPlan(fn, this.#store.revisions(fn.name));
    this.#plans.set(fn.name, plan);
    return plan;
  }

  /** Drops a deleted function's plan. */
  forget(name: string): void {
    this.#plans.delete(name);
  }
}
