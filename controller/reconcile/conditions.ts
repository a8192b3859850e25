import type { Condition, ConditionReason, ConditionStatus, ConditionType } from '../state/records.js';

/**
 * Sets a condition in a list, keeping `lastTransitionTime` when the status did not change,
 * as Kubernetes' meta.SetStatusCondition does.
 */
export function setCondition(
  previous: readonly Condition[],
  type: ConditionType,
  status: ConditionStatus,
  reason: ConditionReason,
  message: string,
  observedGeneration: number,
  now: number,
): Condition[] {
  const old = previous.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : new Date(now).toISOString();
  const next: Condition = { type, status, reason, message, lastTransitionTime, observedGeneration };
  const order: ConditionType[] = ['CodeReady', 'PoolReady', 'SourceValid', 'Ready'];
  const rest = previous.filter((c) => c.type !== type);
  return [...rest, next].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type));
}
