import type { Replica } from '../pool/replica.js';
import type { Condition, ConditionReason, FunctionRecord, FunctionStatus, Phase } from '../state/records.js';
import { setCondition } from './conditions.js';
import { templateOf } from '../pool/replica.js';
import { replicaCounts, roundedRps } from './status.js';

/** What a reconcile knows better than the pool: a missing code folder, an engine away, a deletion. */
export interface StatusOverride {
  code?: ['False', ConditionReason, string];
  pool?: ['False', ConditionReason, string];
  terminating?: boolean;
}

/** What the next status is computed from. */
export interface StatusInput {
  fn: FunctionRecord;
  previous: FunctionStatus | undefined;
  replicas: readonly Replica[];
  /** Templates some serving revision runs: their replicas are the function's current ones. */
  serving: ReadonlySet<string>;
  /** Replicas the reconciler converges to, every serving revision's together. */
  desired: number;
  predictedRps: number;
  /** Why the last start failed, while none has succeeded since. */
  startError: Error | null;
  now: number;
  override: StatusOverride;
}

/**
 * The status a reconcile writes: conditions `CodeReady`, `PoolReady` and `Ready` (each keeps
 * its transition time while its status holds), a phase, and counts.
 */
export function nextStatus(input: StatusInput): FunctionStatus {
  const { fn, override, now, desired } = input;
  const gen = fn.generation;
  const current = input.replicas.filter((r) => input.serving.has(r.template) && r.state !== 'dead');
  const ready = current.filter((r) => r.state === 'ready' && !r.loadError).length;
  const loadError = current.find((r) => r.loadError)?.loadError ?? null;

  let conditions: Condition[] = input.previous?.conditions ?? [];
  const code = override.code ?? ['True', 'CodeInstalled', `code ${fn.codeDigest} installed`];
  conditions = setCondition(conditions, 'CodeReady', code[0], code[1], code[2], gen, now);

  let pool: ['True' | 'False', ConditionReason, string];
  if (override.terminating) pool = ['False', 'Deleting', 'function is being deleted'];
  else if (override.pool) pool = override.pool;
  else if (loadError) pool = ['False', 'LoadFailed', loadError];
  else if (input.startError && ready < Math.max(desired, 1)) pool = ['False', 'StartFailed', input.startError.message];
  else if (ready >= desired) {
    pool =
      ready === 0
        ? ['True', 'ScaledToZero', 'no warm containers; one starts on the next request']
        : ['True', 'ContainersReady', `${ready} of ${Math.max(desired, ready)} containers ready`];
  } else pool = ['False', 'Starting', `${ready} of ${desired} containers ready`];
  conditions = setCondition(conditions, 'PoolReady', pool[0], pool[1], pool[2], gen, now);
  const allTrue = code[0] === 'True' && pool[0] === 'True';
  conditions = setCondition(
    conditions,
    'Ready',
    allTrue ? 'True' : 'False',
    allTrue ? 'Reconciled' : code[0] === 'True' ? pool[1] : code[1],
    allTrue ? 'desired state reached' : code[0] === 'True' ? pool[2] : code[2],
    gen,
    now,
  );

  let phase: Phase;
  if (override.terminating) phase = 'Terminating';
  else if (allTrue) phase = 'Ready';
  else if (pool[1] === 'LoadFailed' && input.replicas.some((r) => r.state === 'ready' && !r.loadError)) phase = 'Degraded';
  else if (code[0] === 'False' || pool[1] === 'LoadFailed' || pool[1] === 'StartFailed') phase = 'Failed';
  else if (pool[1] === 'SandboxUnavailable') phase = ready > 0 ? 'Degraded' : 'Failed';
  else phase = 'Pending';

  return {
    observedGeneration: gen,
    phase,
    ...replicaCounts(input.replicas),
    desiredReplicas: desired,
    predictedRps: roundedRps(input.predictedRps),
    conditions,
    interface: reportedInterface(input, current),
  };
}

/**
 * What the latest revision's containers report, else any current one's; with none running,
 * what the status said for this generation (a new generation may run other code).
 */
function reportedInterface(input: StatusInput, current: readonly Replica[]): FunctionStatus['interface'] {
  const latest = templateOf(input.fn);
  const reported = current.find((r) => r.interface && r.template === latest) ?? current.find((r) => r.interface);
  if (reported) return reported.interface;
  return input.previous?.observedGeneration === input.fn.generation ? (input.previous.interface ?? null) : null;
}
