import type { Replica } from '../pool/replica.js';
import type { RevisionTarget, TrafficPlan } from '../revisions/traffic-plan.js';
import type { FunctionRecord } from '../state/records.js';

/**
 * The containers of one serving template (revisions that share code and container spec share
 * containers) and what they take over. The reconciler sizes each group apart.
 */
export interface ServingGroup {
  template: string;
  /** Where new replicas start from: the newest serving revision that runs this template. */
  record: FunctionRecord;
  targets: RevisionTarget[];
  /** Its share of the function's requests, in percent. */
  percent: number;
  /** Starting or ready labelled replicas of the template: the ones that stay. */
  own: Replica[];
  /**
   * What the group replaces once its own replicas are ready: its stem-born replicas (their
   * labels name no function), and for the latest revision the replicas of templates no
   * revision serves any more (a rolling update).
   */
  replacing: Replica[];
}

/**
 * Sorts a function's live replicas into the plan's serving groups. `orphans` run a template
 * no revision serves while no revision takes over from them (traffic moved to pinned
 * revisions): nothing routes to them, so they go at once.
 */
export function groupReplicas(replicas: readonly Replica[], plan: TrafficPlan): { groups: ServingGroup[]; orphans: Replica[] } {
  const groups = new Map<string, ServingGroup>();
  for (const t of plan.targets) {
    let g = groups.get(t.template);
    if (!g) {
      g = { template: t.template, record: t.record, targets: [], percent: 0, own: [], replacing: [] };
      groups.set(t.template, g);
    }
    g.targets.push(t);
    g.percent += t.percent;
    g.record = t.record; // targets come oldest first: the last one is the newest
  }
  const heir = plan.targets.find((t) => t.takesOver);
  const heirGroup = heir ? groups.get(heir.template) : undefined;
  const orphans: Replica[] = [];
  for (const r of replicas) {
    if (r.state !== 'starting' && r.state !== 'ready') continue;
    const g = groups.get(r.template);
    if (g) (r.fromStem && r.state === 'ready' ? g.replacing : g.own).push(r);
    else if (heirGroup) heirGroup.replacing.push(r);
    else orphans.push(r);
  }
  return { groups: [...groups.values()], orphans };
}

/**
 * Splits `total` into whole parts in proportion to `weights` (the largest remainders get the
 * rest); a zero weight gets nothing. How `minWarm`, which applies to the function as a whole,
 * is shared between the revisions of a split.
 */
export function shareOut(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0 || total <= 0) return weights.map(() => 0);
  const exact = weights.map((w) => (total * w) / sum);
  const parts = exact.map(Math.floor);
  let left = total - parts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => ({ i, r: x - Math.floor(x) })).filter(({ i }) => weights[i]! > 0).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left <= 0) break;
    parts[i]! += 1;
    left -= 1;
  }
  return parts;
}

/**
 * Lowers `wants` until they sum to at most `max` (`maxReplicas` bounds the function as a
 * whole), taking from the largest first and leaving each at least one while it wanted any.
 */
export function fitWithin(wants: readonly number[], max: number): number[] {
  const out = [...wants];
  let excess = out.reduce((a, b) => a + b, 0) - max;
  while (excess > 0) {
    let largest = -1;
    for (let i = 0; i < out.length; i++) if (out[i]! > 1 && (largest < 0 || out[i]! > out[largest]!)) largest = i;
    if (largest < 0) break;
    out[largest]! -= 1;
    excess -= 1;
  }
  return out;
}
