/**
 * The worker's configuration, read from the environment once at start (of-watchdog style):
 * everything below depends on this typed value, never on `process.env` directly.
 */

import { RUNTIME_SOCKET_NAME, SOCKET_MOUNT } from './protocol.js';

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
export const WORKER_ENV_NAMES = ['GLAMBDAR_SOCKET', 'GLAMBDAR_FN_DIR', 'GLAMBDAR_STEM', 'GLAMBDAR_MAX_LOG_BYTES', 'GLAMBDAR_DRAIN_TIMEOUT_MS'] as const;

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
  };
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
