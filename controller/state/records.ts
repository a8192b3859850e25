import type { FunctionSpec, HandlerInterface } from '../../schemas/index.js';

/** Where a function's desired state comes from; a manifest-owned function changes only there. */
export type FunctionSource = 'api' | 'manifest';

/** Desired state as the API or a manifest writes it. */
export interface DesiredFunction {
  name: string;
  spec: FunctionSpec;
  codeDigest: string;
  /**
   * Which values of `spec.secrets` the containers hold: a digest of the names and of each
   * secret's version (random per value, so it says nothing of the value). '' without secrets.
   * A new value changes it, which changes the container template and rolls the containers.
   */
  secretsVersion?: string;
  source: FunctionSource;
  manifestPath: string | null;
}

/** A stored function: desired state plus bookkeeping the store owns. */
export interface FunctionRecord extends DesiredFunction {
  /** Bumped by the store when spec or code changes, never by status writes. */
  generation: number;
  /**
   * The latest revision: the generation that last changed code or spec (`traffic` aside, which
   * routes between revisions and is not part of one). Its code and spec are this record's.
   */
  revision: number;
  createdAt: number;
  updatedAt: number;
  lastInvokedAt: number | null;
  invokeCount: number;
  /** Set by delete; the reconciler removes containers and files, then the record. */
  deleting: boolean;
}

/** What an idempotent write did. */
export type WriteOutcome = 'unchanged' | 'created' | 'updated' | 'deleted';

/** `SourceValid`: for a manifest's function, whether its file applies (the Runtime adds it to what `/info` shows). */
export type ConditionType = 'CodeReady' | 'PoolReady' | 'SourceValid' | 'Ready';
export type ConditionStatus = 'True' | 'False' | 'Unknown';
/** The fixed set of condition reasons. */
export type ConditionReason =
  | 'CodeInstalled'
  | 'CodeMissing'
  | 'ContainersReady'
  | 'ScaledToZero'
  | 'Starting'
  | 'RollingUpdate'
  | 'LoadFailed'
  | 'StartFailed'
  | 'SandboxUnavailable'
  | 'Deleting'
  | 'Reconciled'
  | 'ManifestApplied'
  | 'ManifestInvalid';

/** One condition, as in Kubernetes. */
export interface Condition {
  type: ConditionType;
  status: ConditionStatus;
  reason: ConditionReason;
  message: string;
  lastTransitionTime: string;
  observedGeneration: number;
}

export type Phase = 'Pending' | 'Ready' | 'Degraded' | 'Failed' | 'Terminating';

/** Observed state the reconciler writes. Counts are refreshed live when read. */
export interface FunctionStatus {
  observedGeneration: number;
  phase: Phase;
  replicas: number;
  readyReplicas: number;
  busyReplicas: number;
  desiredReplicas: number;
  predictedRps: number;
  conditions: Condition[];
  /**
   * The handler interface the function's current containers run it under, as their workers
   * report it (detected from the exports when `spec.interface` is unset); kept while scaled to
   * zero until the spec or code changes. Absent or null: not known yet.
   */
  interface?: HandlerInterface | null;
}

/**
 * One revision of a function: an immutable version of its code and spec, numbered by the
 * generation that made it. The store keeps the newest few and every one that traffic names.
 */
export interface Revision {
  functionName: string;
  revision: number;
  createdAt: number;
  codeDigest: string;
  /** The spec as the revision made it, without `traffic`. */
  spec: FunctionSpec;
}

/** One invocation, as the invoke path records it. */
export interface InvocationRecord {
  requestId: string;
  funcName: string;
  /** The revision whose code answered. */
  revision: number;
  invokedAt: number;
  durationMs: number;
  statusCode: number;
  coldStart: boolean;
  stdout: string;
  stderr: string;
  error: string | null;
  /** Body bytes sent to the client (a stream's as far as it got); null in records made before it was kept. */
  bytesSent: number | null;
  /** For a streamed response: ms from the invocation's start to its head (status and headers); null otherwise. */
  ttfbMs: number | null;
}

/** A stored invocation record, as `GET /logs` returns it. */
export interface LogRecord extends Omit<InvocationRecord, 'invokedAt' | 'revision'> {
  id: number;
  invokedAt: string;
  /** null for records written before revisions existed. */
  revision: number | null;
}
