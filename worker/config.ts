/**
 * The worker's configuration, read from the environment once at start (of-watchdog style):
 * everything below depends on this typed value, never on `process.env` directly.
 */

import { INTERFACE_NAMES, RUNTIME_SOCKET_NAME, SOCKET_MOUNT, type InterfaceName } from './protocol.js';

/** Typed worker settings. */
export interface WorkerConfig {
  /** The runtime's Unix socket, which the worker connects to (`GLAMBDAR_SOCKET`). */
  socketPath: string;
  /** Folder holding the function's code (`GLAMBDAR_FN_DIR`). */
  fnDir: string;
  /** Cap on captured stdout+stderr bytes per invocation (`GLAMBDAR_MAX_LOG_BYTES`). */
  maxLogBytes: number;
  /** How long a SIGTERM waits for in-flight invocations (`GLAMBDAR_DRAIN_TIMEOUT_MS`). */
  drainTimeoutMs: number;
  /** A stem cell (`GLAMBDAR_STEM=1`): load nothing until a load frame says so. */
  stem: boolean;
  /** `spec.interface` (`GLAMBDAR_INTERFACE`); unset: detected from the module's exports. */
  interface?: InterfaceName | null;
  /** `spec.handler` (`GLAMBDAR_HANDLER`), e.g. `src/app.handler`; unset: `index`. */
  handler?: string | null;
  /**
   * HTTP mode (worker/http-mode.ts): the port to serve the function on, outside Glambdar (an
   * image `glambdar image` built, run by Knative or Kubernetes). `GLAMBDAR_WORKER_HTTP_PORT`,
   * else `PORT` (as Knative sets it) when no `GLAMBDAR_SOCKET` is set: a Glambdar container
   * always has a socket, so a function's own `PORT` variable never switches it to HTTP mode.
   * Unset: the Unix-socket mode, the one Glambdar uses.
   */
  httpPort?: number;
  /** HTTP mode: the function's name (`GLAMBDAR_FUNCTION`), for timeout messages and logs. */
  functionName?: string;
  /** HTTP mode: the revision the image holds (`GLAMBDAR_REVISION`), sent as `x-glambdar-revision`. */
  revision?: number;
  /** HTTP mode: `spec.timeoutMs` (`GLAMBDAR_TIMEOUT_MS`): past it a request is answered 504. */
  timeoutMs?: number;
}

/** Defaults used when a variable is unset or empty. */
export const DEFAULT_CONFIG: Readonly<WorkerConfig> = Object.freeze({
  socketPath: `${SOCKET_MOUNT}/${RUNTIME_SOCKET_NAME}`,
  fnDir: '/fn',
  maxLogBytes: 262_144,
  drainTimeoutMs: 10_000,
  stem: false,
});

/**
 * The variables the runtime sets for the worker itself. `main.ts` removes them once read, so a
 * function sees the same environment whether its container was started for it or was a stem cell.
 */
export const WORKER_ENV_NAMES = [
  'GLAMBDAR_SOCKET',
  'GLAMBDAR_FN_DIR',
  'GLAMBDAR_STEM',
  'GLAMBDAR_MAX_LOG_BYTES',
  'GLAMBDAR_DRAIN_TIMEOUT_MS',
  'GLAMBDAR_INTERFACE',
  'GLAMBDAR_HANDLER',
  'GLAMBDAR_WORKER_HTTP_PORT',
  'GLAMBDAR_FUNCTION',
  'GLAMBDAR_REVISION',
  'GLAMBDAR_TIMEOUT_MS',
] as const;

/**
 * Parses the environment into a {@link WorkerConfig}.
 * Throws with a message naming the variable when a number is malformed, since a worker
 * started with a wrong setting should fail loudly rather than run with a silent default.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return {
    socketPath: text(env, 'GLAMBDAR_SOCKET', DEFAULT_CONFIG.socketPath),
    fnDir: text(env, 'GLAMBDAR_FN_DIR', DEFAULT_CONFIG.fnDir),
    maxLogBytes: count(env, 'GLAMBDAR_MAX_LOG_BYTES', DEFAULT_CONFIG.maxLogBytes),
    drainTimeoutMs: count(env, 'GLAMBDAR_DRAIN_TIMEOUT_MS', DEFAULT_CONFIG.drainTimeoutMs),
    stem: env['GLAMBDAR_STEM'] === '1',
    // Unset stays undefined (not null), so a config without them equals DEFAULT_CONFIG.
    interface: interfaceName(env) ?? undefined,
    handler: text(env, 'GLAMBDAR_HANDLER', '') || undefined,
    ...httpSettings(env),
  };
}

/** The HTTP mode's settings; none at all in the socket mode, so its config stays as it was. */
function httpSettings(env: NodeJS.ProcessEnv): Pick<WorkerConfig, 'httpPort' | 'functionName' | 'revision' | 'timeoutMs'> {
  const explicit = text(env, 'GLAMBDAR_WORKER_HTTP_PORT', '');
  const knative = env['GLAMBDAR_SOCKET'] === undefined || env['GLAMBDAR_SOCKET'] === '' ? text(env, 'PORT', '') : '';
  const name = explicit !== '' ? 'GLAMBDAR_WORKER_HTTP_PORT' : knative !== '' ? 'PORT' : null;
  if (name === null) return {};
  const port = count(env, name, 0);
  if (port < 1 || port > 65_535) throw new Error(`${name} must be a port between 1 and 65535, got ${JSON.stringify(env[name])}`);
  const settings: Pick<WorkerConfig, 'httpPort' | 'functionName' | 'revision' | 'timeoutMs'> = { httpPort: port };
  const functionName = text(env, 'GLAMBDAR_FUNCTION', '');
  if (functionName !== '') settings.functionName = functionName;
  if (text(env, 'GLAMBDAR_REVISION', '') !== '') settings.revision = count(env, 'GLAMBDAR_REVISION', 0);
  if (text(env, 'GLAMBDAR_TIMEOUT_MS', '') !== '') settings.timeoutMs = count(env, 'GLAMBDAR_TIMEOUT_MS', 0);
  return settings;
}

function interfaceName(env: NodeJS.ProcessEnv): InterfaceName | null {
  const value = env['GLAMBDAR_INTERFACE'];
  if (value === undefined || value === '') return null;
  if (!INTERFACE_NAMES.includes(value as InterfaceName)) {
    throw new Error(`GLAMBDAR_INTERFACE must be one of ${INTERFACE_NAMES.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as InterfaceName;
}

function text(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

function count(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = env[name]?.trim();
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(env[name])}`);
  }
  return n;
}
