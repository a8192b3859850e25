/** The controller's public surface: what the API, the GitOps source and the bench use. */
export { Runtime } from './runtime.js';
export type { FunctionInfo, ContainerStatus, DeployRequest, RuntimeOptions } from './runtime.js';
export {
  GlambdarError,
  InvalidInput,
  InvalidName,
  InvalidArchive,
  FunctionNotFound,
  OwnedByManifest,
  PayloadTooLarge,
  RateLimited,
  HandlerError,
  FunctionLoadFailed,
  ContainerDied,
  NoCapacity,
  SandboxUnavailable,
  InvocationTimeout,
  TerminalError,
  RouteNotFound,
} from './support/errors.js';
export { checkFunctionName } from './support/function-name.js';
export { createLogger, silentLogger } from './support/logger.js';
export type { Logger, LogLevel } from './support/logger.js';
export { systemClock, FakeClock } from './support/clock.js';
export type { Clock, TimerHandle } from './support/clock.js';
export { installArchive, installFolder, installCode } from './code/install.js';
export type { CodeSource } from './code/install.js';
export type { Sandbox, ContainerSpec, ContainerInfo, SandboxEvent } from './sandbox/sandbox.js';
export type { FunctionRecord, FunctionSource, FunctionStatus, LogRecord, WriteOutcome } from './state/records.js';
