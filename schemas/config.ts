import { z } from 'zod';

/** A number read from an environment variable: text that is none is refused as such, not as "NaN". */
const envNumber = () =>
  z.coerce.number({ error: (issue) => (issue.code === 'invalid_type' && issue.expected === 'number' ? 'expected a number' : undefined) });

/** A comma-separated list from one variable: trimmed, empty entries dropped. */
const envList = () =>
  z
    .string()
    .optional()
    .transform((text) => (text ?? '').split(',').map((item) => item.trim()).filter((item) => item !== ''));

/**
 * True for a host name or address that only this machine reaches: `localhost`, 127.0.0.0/8,
 * `::1`. What `GLAMBDAR_AUTH=none` needs, so a runtime without a token never listens beyond it.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** An origin as browsers send it in `Origin`: scheme, host and port, no path. */
const OriginText = z.string().refine(
  (text) => {
    try {
      return new URL(text).origin === text.replace(/\/+$/, '');
    } catch {
      return false;
    }
  },
  { message: 'must list origins such as https://dash.example.com (scheme, host and port only), separated by commas' },
);

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration read from an environment variable: milliseconds, or a number with a unit (`90s`, `12h`, `7d`). */
const envDuration = () =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    const match = /^\s*(\d+)\s*(ms|s|m|h|d)?\s*$/.exec(String(value));
    if (!match) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration: milliseconds, or a number with ms, s, m, h or d (e.g. 7d)' });
      return z.NEVER;
    }
    return Number(match[1]) * DURATION_UNITS_MS[match[2] ?? 'ms']!;
  });

/**
 * The runtime's configuration, read once from the environment. Every field has an embedded
 * default so `glambdar serve` works with no settings at all.
 */
export const RuntimeConfigSchema = z
  .object({
    /** Data folder: glambdar.db, function code, sockets, manifests. */
    dir: z.string().min(1),
    host: z.string().min(1).default('127.0.0.1'),
    port: envNumber().int().min(0).max(65535).default(8000),
    /** Runtime image; when missing and not pullable, one is built from the host's node. */
    image: z.string().min(1).default('node:20-slim'),
    /** How long an invocation may wait for a container before 503. */
    queueTimeoutMs: envNumber().int().min(1).default(10_000),
    /** Invocations waiting for capacity, per function, before 503 at once. */
    maxQueuedPerFunction: envNumber().int().min(0).default(1000),
    /** How long a new container may take to answer on its socket. */
    startTimeoutMs: envNumber().int().min(100).default(30_000),
    /** Period of the full resync of every function. */
    resyncIntervalMs: envNumber().int().min(100).default(30_000),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
    /** Invocation records kept per function (older ones are trimmed). */
    logRetention: envNumber().int().min(1).default(10_000),
    /** How long finished (succeeded) async jobs are kept; dead ones are never trimmed automatically. */
    jobRetentionMs: envDuration().default(7 * 86_400_000),
    /** Async jobs kept per function (queued, running and dead); past it an async call gets 503. */
    maxJobsPerFunction: envNumber().int().min(1).default(100_000),
    /** Generic warm containers kept per size for first starts; 0 turns stem cells off. */
    stemCells: envNumber().int().min(0).max(20).default(2),
    /**
     * Free space kept on the data disk for deploys and deletions: below it records are dropped
     * and deploys refused. Not given: 64 MiB, or 5 % of a smaller disk.
     */
    diskReserveMb: envNumber().min(0).max(1024 * 1024).optional(),
    /** Revisions kept per function besides those with traffic or a tag (their code stays on disk). */
    revisionHistory: envNumber().int().min(1).max(1000).default(10),
    /** The watched folder of GitOps manifests; `<dir>/manifests` when not given. */
    manifestsDir: z.string().min(1).optional(),
    /** `token`: the control plane needs the admin token; `none` turns that off (loopback only). */
    auth: z.enum(['token', 'none'], { error: 'must be "token" or "none"' }).default('token'),
    /** The admin token, instead of the one generated into `<dir>/admin-token`. */
    adminToken: z
      .string()
      .min(16, 'must be at least 16 characters')
      .max(512, 'must be at most 512 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces (it is sent in an HTTP header)')
      .optional(),
    /** Host names the control routes answer besides the listening address, localhost and IP addresses. */
    allowedHosts: envList().transform((hosts) => hosts.map((h) => h.toLowerCase())),
    /** Origins whose browser pages may call the control routes (CORS); none by default. */
    corsOrigins: envList().pipe(z.array(OriginText)).transform((origins) => origins.map((o) => o.replace(/\/+$/, ''))),
  })
  .superRefine((config, ctx) => {
    if (config.auth === 'none' && !isLoopbackHost(config.host)) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: `is refused while GLAMBDAR_HOST (${config.host}) is not a loopback address: anyone who reaches the port could deploy code` });
    }
  })
  .transform((config) => ({ ...config, manifestsDir: config.manifestsDir ?? `${config.dir.replace(/\/+$/, '')}/manifests` }));
export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;

/** The environment variable behind each configuration field. */
export const CONFIG_ENV = {
  dir: 'GLAMBDAR_DIR',
  host: 'GLAMBDAR_HOST',
  port: 'GLAMBDAR_PORT',
  image: 'GLAMBDAR_IMAGE',
  queueTimeoutMs: 'GLAMBDAR_QUEUE_TIMEOUT_MS',
  maxQueuedPerFunction: 'GLAMBDAR_MAX_QUEUED',
  startTimeoutMs: 'GLAMBDAR_START_TIMEOUT_MS',
  stemCells: 'GLAMBDAR_STEM_CELLS',
  logRetention: 'GLAMBDAR_LOG_RETENTION',
  jobRetentionMs: 'GLAMBDAR_JOB_RETENTION',
  maxJobsPerFunction: 'GLAMBDAR_MAX_JOBS',
  resyncIntervalMs: 'GLAMBDAR_RESYNC_MS',
  logLevel: 'GLAMBDAR_LOG_LEVEL',
  manifestsDir: 'GLAMBDAR_MANIFESTS',
  auth: 'GLAMBDAR_AUTH',
  adminToken: 'GLAMBDAR_ADMIN_TOKEN',
  allowedHosts: 'GLAMBDAR_ALLOWED_HOSTS',
  corsOrigins: 'GLAMBDAR_CORS_ORIGINS',
  revisionHistory: 'GLAMBDAR_REVISION_HISTORY',
  diskReserveMb: 'GLAMBDAR_DISK_RESERVE_MB',
} as const;

/** Configuration fields whose value an error must never repeat. */
export const SECRET_CONFIG_FIELDS: ReadonlySet<string> = new Set(['adminToken']);

/** Reads GLAMBDAR_* variables; `defaultDir` is `~/.glambdar`. */
export function runtimeConfigInput(env: Record<string, string | undefined>, defaultDir: string): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [field, variable] of Object.entries(CONFIG_ENV)) input[field] = env[variable] === '' ? undefined : env[variable];
  input['dir'] ??= defaultDir;
  return input;
}
