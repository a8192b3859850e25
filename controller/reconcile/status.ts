import { templateOf, type Replica } from '../pool/replica.js';
import type { Condition, FunctionRecord, FunctionSource, FunctionStatus } from '../state/records.js';
import type { FunctionSpec, HandlerInterface } from '../../schemas/index.js';
import { revisionOfReplica, trafficShares, type TrafficShare } from '../revisions/revision-info.js';
import type { TrafficPlan } from '../revisions/traffic-plan.js';

/** `GET /info` for one function: the original Glambdar fields plus desired and observed state. */
export interface FunctionInfo {
  name: string;
  createdAt: string;
  lastInvokedAt: string | null;
  invokeCount: number;
  rateLimit: number;
  maxConcurrency: number;
  generation: number;
  /** The latest revision: the generation that last changed code or spec. */
  revision: number;
  /** How requests are split: each serving revision with its percent and tags (one at 100 % without a split). */
  traffic: TrafficShare[];
  /** Digest of the function's code files: the version its containers run (and its image tag carries). */
  codeDigest: string;
  /** The handler interface: `spec.interface`, else the one its containers detected (null until one loaded it). */
  interface: HandlerInterface | null;
  source: FunctionSource;
  manifestPath: string | null;
  spec: FunctionSpec;
  status: FunctionStatus & { containers: ContainerStatus[]; standby: StandbyStatus | null } & ScheduleTimes;
}

/** When a function's schedule fired last and fires next (ISO), null without a schedule. */
export interface ScheduleTimes {
  lastScheduleTime: string | null;
  nextScheduleTime: string | null;
}

/** One container of a function as `GET /info` shows it (its id is the Docker container id). */
export interface ContainerStatus {
  id: string;
  state: 'starting' | 'ready' | 'draining' | 'dead';
  inFlight: number;
  generation: number;
  /** The revision it serves. */
  revision: number;
  fromStemCell: boolean;
}

/**
 * A function's standby as `GET /info` shows it: its next container, created by the engine and
 * not started (README "Standby containers").
 */
export interface StandbyStatus {
  id: string;
  /** The revision it was made for. */
  revision: number;
}

/** The status of a function never reconciled yet. */
export const EMPTY_STATUS: FunctionStatus = {
  observedGeneration: 0,
  phase: 'Pending',
  replicas: 0,
  readyReplicas: 0,
  busyReplicas: 0,
  desiredReplicas: 0,
  predictedRps: 0,
  conditions: [],
};

/** The replica counts of a status, from the pool's live replicas: the one place they are computed. */
export function replicaCounts(replicas: readonly Replica[]): Pick<FunctionStatus, 'replicas' | 'readyReplicas' | 'busyReplicas'> {
  let live = 0;
  let ready = 0;
  let busy = 0;
  for (const r of replicas) {
    if (r.state === 'dead') continue;
    live += 1;
    if (r.state === 'ready' && !r.loadError) ready += 1;
    if (r.inFlight > 0) busy += 1;
  }
  return { replicas: live, readyReplicas: ready, busyReplicas: busy };
}

/** Arrivals per second as status shows them: two decimals. */
export function roundedRps(rps: number): number {
  return Math.round(rps * 100) / 100;
}

/**
 * The stored status with the source's condition among the others; a function that serves while
 * its manifest file is invalid is `Degraded`, not `Ready`.
 */
function withSource(status: FunctionStatus, source: Condition | undefined): FunctionStatus {
  if (!source) return status;
  const order = ['CodeReady', 'PoolReady', 'SourceValid', 'Ready'];
  const conditions = [...status.conditions.filter((c) => c.type !== 'SourceValid'), source].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
  const phase = source.status === 'False' && status.phase === 'Ready' ? 'Degraded' : status.phase;
  return { ...status, conditions, phase };
}

/**
 * A function as `GET /info` shows it: the stored status with live replica counts and
 * prediction (the reconciler writes status only when something changed).
 */
export function functionInfo(
  fn: FunctionRecord,
  stored: FunctionStatus | undefined,
  replicas: readonly Replica[],
  predictedRps: number,
  plan: TrafficPlan,
  schedule: ScheduleTimes = { lastScheduleTime: null, nextScheduleTime: null },
  source?: Condition,
  standby: { id: string | null; template: string; generation: number } | null = null,
): FunctionInfo {
  const status = withSource(stored ?? EMPTY_STATUS, fn.source === 'manifest' ? source : undefined);
  return {
    name: fn.name,
    createdAt: new Date(fn.createdAt).toISOString(),
    lastInvokedAt: fn.lastInvokedAt === null ? null : new Date(fn.lastInvokedAt).toISOString(),
    invokeCount: fn.invokeCount,
    rateLimit: fn.spec.rateLimit,
    maxConcurrency: fn.spec.maxConcurrency,
    generation: fn.generation,
    revision: fn.revision,
    traffic: trafficShares(plan),
    codeDigest: fn.codeDigest,
    interface: fn.spec.interface ?? replicas.find((r) => r.interface !== null && r.template === templateOf(fn))?.interface ?? stored?.interface ?? null,
    source: fn.source,
    manifestPath: fn.manifestPath,
    spec: fn.spec,
    status: {
      ...status,
      ...replicaCounts(replicas),
      containers: replicas.map((r) => ({
        id: r.containerId ?? '',
        state: r.state,
        inFlight: r.inFlight,
        generation: r.generation,
        revision: revisionOfReplica(plan, r),
        fromStemCell: r.fromStem,
      })),
      standby: standby?.id ? { id: standby.id, revision: plan.revisionOfTemplate(standby.template) ?? standby.generation } : null,
      predictedRps: roundedRps(predictedRps),
      ...schedule,
    },
  };
}
