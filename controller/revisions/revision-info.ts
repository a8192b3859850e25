import type { FunctionSpec } from '../../schemas/index.js';
import type { Replica } from '../pool/replica.js';
import type { FunctionRecord, Revision } from '../state/records.js';
import type { TrafficPlan } from './traffic-plan.js';

/** One kept revision as `GET /revisions/:name` shows it. */
export interface RevisionInfo {
  revision: number;
  createdAt: string;
  digest: string;
  /** Its spec, without `traffic`. */
  spec: FunctionSpec;
  /** Its share of the function's requests, in percent. */
  traffic: number;
  tags: string[];
  /** The newest revision (what `latestRevision: true` names). */
  latest: boolean;
  replicas: number;
  readyReplicas: number;
}

/** One serving revision of a function's split, as `GET /info` shows it. */
export interface TrafficShare {
  revision: number;
  percent: number;
  tags: string[];
  /** Reached as the latest revision: it follows deploys and rollbacks. */
  latestRevision: boolean;
}

/** The split as `/info` shows it: each serving revision, oldest first. */
export function trafficShares(plan: TrafficPlan): TrafficShare[] {
  return plan.targets.map((t) => ({ revision: t.revision, percent: t.percent, tags: [...t.tags], latestRevision: t.takesOver }));
}

/**
 * The revision a replica counts for: the newest serving revision running its template (revisions
 * that differ only in function-wide fields share containers), else the one it was started for.
 */
export function revisionOfReplica(plan: TrafficPlan, replica: Replica): number {
  return plan.revisionOfTemplate(replica.template) ?? replica.generation;
}

/** Every kept revision, oldest first, with its traffic, tags and containers. */
export function revisionInfos(fn: FunctionRecord, revisions: readonly Revision[], plan: TrafficPlan, replicas: readonly Replica[]): RevisionInfo[] {
  const counts = new Map<number, { replicas: number; ready: number }>();
  for (const r of replicas) {
    if (r.state === 'dead') continue;
    const revision = revisionOfReplica(plan, r);
    const c = counts.get(revision) ?? { replicas: 0, ready: 0 };
    c.replicas += 1;
    if (r.state === 'ready' && !r.loadError) c.ready += 1;
    counts.set(revision, c);
  }
  return revisions.map((rev) => {
    const target = plan.targets.find((t) => t.revision === rev.revision);
    const c = counts.get(rev.revision);
    return {
      revision: rev.revision,
      createdAt: new Date(rev.createdAt).toISOString(),
      digest: rev.codeDigest,
      spec: rev.spec,
      traffic: target?.percent ?? 0,
      tags: target ? [...target.tags] : [],
      latest: rev.revision === fn.revision,
      replicas: c?.replicas ?? 0,
      readyReplicas: c?.ready ?? 0,
    };
  });
}
