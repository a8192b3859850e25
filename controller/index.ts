/**
 * The controller's public surface: what the API, the GitOps source and the bench use. The
 * rest stays internal; `api/` imports nothing of the controller but this file.
 */
export { openRuntime } from './wiring.js';
export { collectOrphans, removeInstanceContainers, instanceOf } from './cleanup.js';
export type { RemovedContainer } from './cleanup.js';
export type { RuntimeOptions } from './wiring.js';
export type { Runtime } from './runtime.js';
export type { MetricsSnapshot } from './wiring.js';
export type { SecretListing, SecretWrite } from './secrets/secret-admin.js';
export type { KeyInfo, NewKey } from './access/access-control.js';
export { MAX_SECRET_BYTES } from './secrets/secrets.js';
export type { SecretInfo } from './secrets/secrets.js';
export type { FunctionInfo, ContainerStatus } from './reconcile/status.js';
export type { InfoPage, ListOptions } from './reconcile/info-listing.js';
export type { RevisionInfo, TrafficShare } from './revisions/revision-info.js';
export type { DeployRequest, RollbackTarget, WriteResult } from './state/desired-state.js';
export type { FunctionRecord, FunctionSource, FunctionStatus, LogRecord, Revision, WriteOutcome } from './state/records.js';
export type { InvocationReply, InvokeOutcome } from './invocation/invoker.js';
export type { ContainerOutputEntry } from './invocation/container-output.js';
export type { InvokeRequest } from './pool/worker-client.js';
export type { ResponseStream, StreamSink } from './pool/response-stream.js';
export type { InvocationSnapshot } from './invocation/invocation-metrics.js';
export type { FunctionStats, TickSample } from './stats/function-series.js';
export type { StatsOverview, FunctionOverview } from './stats/stats-history.js';
export type { ProcessStats } from './stats/process-probe.js';
export type { JobView, JobStatus, JobCounts, StoredResponse } from './events/job.js';
export { JOB_STATUSES } from './events/job.js';
export type { JobMetrics } from './events/events.js';
export type { AttemptCounts } from './events/dispatcher.js';
export {
  GlambdarError,
  InvalidInput,
  InvalidName,
  InvalidArchive,
  InvalidCode,
  CompileFailed,
  FunctionNotFound,
  FunctionDeleting,
  TagNotFound,
  OwnedByManifest,
  OwnedByApi,
  PayloadTooLarge,
  RateLimited,
  HandlerError,
  InvalidJsonBody,
  FunctionLoadFailed,
  NotReady,
  ContainerDied,
  NoCapacity,
  SandboxUnavailable,
  InsufficientStorage,
  InvocationTimeout,
  RouteNotFound,
  Unauthorized,
  Forbidden,
  HostNotAllowed,
  OriginNotAllowed,
  SecretNotFound,
  SecretInUse,
  KeyNotFound,
  JobNotFound,
  JobNotDead,
  QueueFull,
  ExportInvalid,
  ImageBuildFailed,
} from './support/errors.js';
export { IMAGE_HTTP_PORT } from './images/function-image.js';
export type { ImageBuilder, ImageBuildRequest, ImageResult, BuiltImage } from './images/function-image.js';
export { checkFunctionName, checkSecretName, splitTaggedName, suggestFunctionName } from './support/function-name.js';
export type { InvokeTarget } from './support/function-name.js';
export { createLogger, silentLogger } from './support/logger.js';
export type { Logger, LogLevel } from './support/logger.js';
export { systemClock } from './support/clock.js';
export { compiledFile } from './support/compiled-file.js';
export type { Clock, TimerHandle } from './support/clock.js';
export { installCode } from './code/install.js';
export { looksLikeZip } from './code/zip-archive.js';
export type { CodeSource } from './code/install.js';
export type { Sandbox } from './sandbox/sandbox.js';
