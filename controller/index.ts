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
} from './errors.js';
export { createLogger, silentLogger } from './logger.js';
export type { Logger, LogLevel } from './logger.js';
export { systemClock, FakeClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export { installArchive, installFolder } from './code-archive.js';
export type { Sandbox, ContainerSpec, ContainerInfo, SandboxEvent } from './sandbox.js';
export type { FunctionRecord, FunctionSource, FunctionStatus, LogRecord, WriteOutcome } from './types.js';
