import { z } from 'zod';

/**
 * The runtime's configuration, read once from the environment. Every field has an embedded
 * default so `glambdar serve` works with no settings at all.
 */
export const RuntimeConfigSchema = z
  .object({
    /** Data folder: glambdar.db, function code, sockets, manifests. */
    dir: z.string().min(1),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8000),
    /** Runtime image; when missing and not pullable, one is built from the host's node. */
    image: z.string().min(1).default('node:20-slim'),
    /** How long an invocation may wait for a container before 503. */
    queueTimeoutMs: z.coerce.number().int().min(1).default(10_000),
    /** Invocations waiting for capacity, per function, before 503 at once. */
    maxQueuedPerFunction: z.coerce.number().int().min(0).default(1000),
    /** How long a new container may take to answer on its socket. */
    startTimeoutMs: z.coerce.number().int().min(100).default(30_000),
    /** Period of the full resync of every function. */
    resyncIntervalMs: z.coerce.number().int().min(100).default(30_000),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    /** Invocation records kept per function (older ones are trimmed). */
    logRetention: z.coerce.number().int().min(1).default(10_000),
    /** Generic warm containers kept per size for first starts; 0 turns stem cells off. */
    stemCells: z.coerce.number().int().min(0).max(20).default(2),
    /** The watched folder of GitOps manifests; `<dir>/manifests` when not given. */
    manifestsDir: z.string().min(1).optional(),
  })
  .transform((config) => ({ ...config, manifestsDir: config.manifestsDir ?? `${config.dir.replace(/\/+$/, '')}/manifests` }));
export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;

/** Reads GLAMBDAR_* variables; `defaultDir` is `~/.glambdar`. */
export function runtimeConfigInput(env: Record<string, string | undefined>, defaultDir: string): Record<string, unknown> {
  const pick = (key: string) => (env[key] === undefined || env[key] === '' ? undefined : env[key]);
  return {
    dir: pick('GLAMBDAR_DIR') ?? defaultDir,
    host: pick('GLAMBDAR_HOST'),
    port: pick('GLAMBDAR_PORT'),
    image: pick('GLAMBDAR_IMAGE'),
    queueTimeoutMs: pick('GLAMBDAR_QUEUE_TIMEOUT_MS'),
    maxQueuedPerFunction: pick('GLAMBDAR_MAX_QUEUED'),
    startTimeoutMs: pick('GLAMBDAR_START_TIMEOUT_MS'),
    stemCells: pick('GLAMBDAR_STEM_CELLS'),
    logRetention: pick('GLAMBDAR_LOG_RETENTION'),
    resyncIntervalMs: pick('GLAMBDAR_RESYNC_MS'),
    logLevel: pick('GLAMBDAR_LOG_LEVEL'),
    manifestsDir: pick('GLAMBDAR_MANIFESTS'),
  };
}
