import { z } from 'zod';
import { Traffic, TrafficField } from './traffic.js';

/** A function name is a DNS label, as in Kubernetes, so it is safe in paths, labels and URLs. */
export const FUNCTION_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What {@link FUNCTION_NAME_PATTERN} asks for, in words: the one message for a bad name. */
export const FUNCTION_NAME_RULE = 'must be a DNS label: lower-case letters, digits and "-", 1-63 characters, starting and ending with a letter or digit';

/** A function's name. */
export const FunctionName = z.string().regex(FUNCTION_NAME_PATTERN, FUNCTION_NAME_RULE);

/** A secret's name follows the function-name rule: it becomes a file name inside containers. */
export const SecretName = z.string().regex(FUNCTION_NAME_PATTERN, FUNCTION_NAME_RULE);

/** Secrets one function may name. */
const MAX_SECRETS_PER_FUNCTION = 64;

/** Who may invoke a function: anyone (`none`, the original Glambdar), or holders of one of its keys (`key`). */
export const AUTH_MODES = ['none', 'key'] as const;

const int = (min: number) => z.number().int().min(min);

/** Environment names the runtime and the worker read; a function may set none of them. */
export const RESERVED_ENV_PREFIX = 'GLAMBDAR_';
const MAX_ENV_VALUE_CHARS = 32 * 1024;
const MAX_ENV_VARIABLES = 256;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Largest `schedulePayload`, as JSON: it is stored with every job a schedule enqueues. */
const MAX_SCHEDULE_PAYLOAD_CHARS = 64 * 1024;

/** An IANA time zone name the platform knows (`Intl` says which). */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The retry policy of async jobs: every try counts in `attempts`; waits double from `backoffMs` up to `maxBackoffMs`. */
const retryShape = {
  attempts: int(1).max(100),
  backoffMs: int(0).max(DAY_MS),
  maxBackoffMs: int(0).max(DAY_MS),
};

/**
 * The handler interfaces a function may be written to (README "Handler interfaces"): the
 * original `glambdar`, and the contracts of AWS Lambda (API Gateway payload 2.0), OpenFaaS
 * (node20 template), Knative (`func`'s Node template) and fetch-style runtimes.
 */
export const HANDLER_INTERFACES = ['glambdar', 'lambda', 'openfaas', 'knative', 'fetch'] as const;
export const HandlerInterface = z.enum(HANDLER_INTERFACES);
export type HandlerInterface = z.infer<typeof HandlerInterface>;

/** One path segment of a handler: no leading dot (so no `..`, no hidden files), no slash. */
const HANDLER_SEGMENT = '[A-Za-z0-9_@$-][A-Za-z0-9_.@$-]*';
const HANDLER_PATH = new RegExp(`^(?:${HANDLER_SEGMENT}/)*${HANDLER_SEGMENT}$`);
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAX_HANDLER_CHARS = 256;

/**
 * `spec.handler`: `path/file.export` as Lambda writes it (the file without its extension, then
 * the export), or `path/file` alone to let the interface pick the export. The worker splits it
 * (worker/entry-files.ts); here only its shape is checked.
 */
export const HandlerPath = z
  .string()
  .max(MAX_HANDLER_CHARS, `must be at most ${MAX_HANDLER_CHARS} characters`)
  .refine((handler) => HANDLER_PATH.test(handler), {
    message: 'must be a relative path to the file without its extension, then the export: e.g. "index.handler" or "src/app.handler" (no leading "/", no "." or ".." segments)',
  })
  .refine(
    (handler) => {
      const last = handler.slice(handler.lastIndexOf('/') + 1);
      const dot = last.lastIndexOf('.');
      return dot < 0 || IDENTIFIER.test(last.slice(dot + 1));
    },
    { message: 'the part after the last "." must be the name of an export (a JavaScript identifier)' },
  );

/** Every spec field with its rule; defaults live in {@link FunctionSpec}. */
const specShape = {
  rateLimit: int(0),
  maxConcurrency: int(1).max(1000),
  minWarm: int(0).max(100),
  maxReplicas: int(1).max(100),
  timeoutMs: int(1).max(15 * 60 * 1000),
  memoryMb: int(32).max(16 * 1024),
  cpus: z.number().min(0.1).max(64),
  env: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
        .refine((name) => !name.toUpperCase().startsWith(RESERVED_ENV_PREFIX), {
          message: `names starting with ${RESERVED_ENV_PREFIX} are reserved for the runtime and its worker`,
        }),
      z
        .string()
        .max(MAX_ENV_VALUE_CHARS, `must be at most ${MAX_ENV_VALUE_CHARS} characters`)
        .refine((value) => !value.includes('\0'), { message: 'must not contain a NUL character' }),
    )
    .refine((env) => Object.keys(env).length <= MAX_ENV_VARIABLES, { message: `at most ${MAX_ENV_VARIABLES} variables` }),
  scaleDownDelayMs: int(0).max(DAY_MS),
  idleTimeoutMs: int(0).max(DAY_MS),
  auth: z.enum(AUTH_MODES, { error: `must be one of: ${AUTH_MODES.join(', ')}` }),
  secrets: z
    .array(SecretName)
    .max(MAX_SECRETS_PER_FUNCTION, `at most ${MAX_SECRETS_PER_FUNCTION} secrets`)
    .refine((names) => new Set(names).size === names.length, { message: 'names a secret twice' }),
  asyncConcurrency: int(1).max(1000),
  /**
   * A cron expression: 5 fields, or 6 with seconds first. Its grammar is croner's, checked by the
   * controller (schemas import only zod); here only its shape. null: no schedule.
   */
  schedule: z
    .string()
    .trim()
    .refine((cron) => [5, 6].includes(cron.split(/\s+/).length), { message: 'must be a cron expression of 5 fields, or 6 with seconds first' })
    .nullable(),
  timezone: z.string().refine(isTimeZone, { message: 'must be an IANA time zone name, e.g. "Europe/Paris" or "UTC"' }),
  concurrencyPolicy: z.enum(['Allow', 'Forbid']),
  schedulePayload: z
    .json()
    .refine((payload) => JSON.stringify(payload).length <= MAX_SCHEDULE_PAYLOAD_CHARS, { message: `must be at most ${MAX_SCHEDULE_PAYLOAD_CHARS} characters as JSON` }),
  startingDeadlineSeconds: int(0).max(DAY_MS / 1000),
};

/**
 * Every spec field's default: the one place they are written. A record stored before a field
 * existed reads as these defaults too (the store fills them in).
 */
export const SPEC_DEFAULTS = Object.freeze({
  rateLimit: 0,
  maxConcurrency: 10,
  minWarm: 0,
  maxReplicas: 10,
  timeoutMs: 30_000,
  memoryMb: 128,
  cpus: 0.5,
  env: Object.freeze({}) as Record<string, string>,
  /** The autoscaler lowers its recommendation only to the highest one of this window. */
  scaleDownDelayMs: 60_000,
  /** With minWarm 0, the function scales to zero after this long without a request. */
  idleTimeoutMs: 600_000,
  /** Public, as the original Glambdar. */
  auth: 'none' as (typeof AUTH_MODES)[number],
  /** Secrets mounted as files at /var/glambdar/secrets/<name>. */
  secrets: Object.freeze([]) as readonly string[] as string[],
  /** Async jobs: tries per job (every try counts), first wait between them, longest wait. */
  retry: Object.freeze({ attempts: 3, backoffMs: 1000, maxBackoffMs: 60_000 }),
  /** Async jobs of the function running at once, so a backlog leaves containers to synchronous calls. */
  asyncConcurrency: 10,
  /** No schedule. */
  schedule: null as string | null,
  timezone: 'UTC',
  /** `Forbid` skips a fire while the previous scheduled job is still queued or running. */
  concurrencyPolicy: 'Allow' as 'Allow' | 'Forbid',
  /** The JSON body of each scheduled job. */
  schedulePayload: Object.freeze({}) as z.core.util.JSONType,
  /** After downtime, a fire missed less than this long ago is made once (never more). */
  startingDeadlineSeconds: 300,
});

/** The desired state of one function, defaults filled in (README "Function spec"). */
export const FunctionSpec = z
  .strictObject({
    rateLimit: specShape.rateLimit.default(SPEC_DEFAULTS.rateLimit),
    maxConcurrency: specShape.maxConcurrency.default(SPEC_DEFAULTS.maxConcurrency),
    minWarm: specShape.minWarm.default(SPEC_DEFAULTS.minWarm),
    maxReplicas: specShape.maxReplicas.default(SPEC_DEFAULTS.maxReplicas),
    timeoutMs: specShape.timeoutMs.default(SPEC_DEFAULTS.timeoutMs),
    memoryMb: specShape.memoryMb.default(SPEC_DEFAULTS.memoryMb),
    cpus: specShape.cpus.default(SPEC_DEFAULTS.cpus),
    env: specShape.env.default(() => ({})),
    scaleDownDelayMs: specShape.scaleDownDelayMs.default(SPEC_DEFAULTS.scaleDownDelayMs),
    idleTimeoutMs: specShape.idleTimeoutMs.default(SPEC_DEFAULTS.idleTimeoutMs),
    auth: specShape.auth.default(SPEC_DEFAULTS.auth),
    secrets: specShape.secrets.default(() => []),
    /** How requests are split between revisions; absent: all to the latest (schemas/traffic.ts). */
    traffic: TrafficField.optional(),
    retry: z
      .strictObject({
        attempts: retryShape.attempts.default(SPEC_DEFAULTS.retry.attempts),
        backoffMs: retryShape.backoffMs.default(SPEC_DEFAULTS.retry.backoffMs),
        maxBackoffMs: retryShape.maxBackoffMs.default(SPEC_DEFAULTS.retry.maxBackoffMs),
      })
      .default(() => ({ ...SPEC_DEFAULTS.retry })),
    asyncConcurrency: specShape.asyncConcurrency.default(SPEC_DEFAULTS.asyncConcurrency),
    schedule: specShape.schedule.default(SPEC_DEFAULTS.schedule),
    timezone: specShape.timezone.default(SPEC_DEFAULTS.timezone),
    concurrencyPolicy: specShape.concurrencyPolicy.default(SPEC_DEFAULTS.concurrencyPolicy),
    schedulePayload: specShape.schedulePayload.default(() => ({})),
    startingDeadlineSeconds: specShape.startingDeadlineSeconds.default(SPEC_DEFAULTS.startingDeadlineSeconds),
    /** The handler interface; absent: detected from the module's exports when it loads. */
    interface: HandlerInterface.nullish().transform((value) => value ?? undefined).optional(),
    /** Where the handler is; absent: `index` at the root (index.mjs, .js, .cjs, .ts...) with the interface's export. */
    handler: HandlerPath.nullish().transform((value) => value ?? undefined).optional(),
  })
  .refine((s) => s.minWarm <= s.maxReplicas, { message: 'minWarm must not exceed maxReplicas', path: ['minWarm'] })
  .refine((s) => s.retry.backoffMs <= s.retry.maxBackoffMs, { message: 'backoffMs must not exceed maxBackoffMs', path: ['retry', 'backoffMs'] });
export type FunctionSpec = z.infer<typeof FunctionSpec>;

/** A partial spec, as `POST /config/:name` and deploy form fields give it. Unknown fields are errors. */
export const SpecPatch = z.strictObject({
  rateLimit: specShape.rateLimit.optional(),
  maxConcurrency: specShape.maxConcurrency.optional(),
  minWarm: specShape.minWarm.optional(),
  maxReplicas: specShape.maxReplicas.optional(),
  timeoutMs: specShape.timeoutMs.optional(),
  memoryMb: specShape.memoryMb.optional(),
  cpus: specShape.cpus.optional(),
  env: specShape.env.optional(),
  scaleDownDelayMs: specShape.scaleDownDelayMs.optional(),
  idleTimeoutMs: specShape.idleTimeoutMs.optional(),
  auth: specShape.auth.optional(),
  secrets: specShape.secrets.optional(),
  /** null (or []) removes the split, as a JSON merge patch removes a field. */
  traffic: Traffic.nullable().optional(),
  /** Merged field by field over the current policy (a JSON merge patch). */
  retry: z.strictObject({ attempts: retryShape.attempts.optional(), backoffMs: retryShape.backoffMs.optional(), maxBackoffMs: retryShape.maxBackoffMs.optional() }).optional(),
  asyncConcurrency: specShape.asyncConcurrency.optional(),
  /** null removes the schedule. */
  schedule: specShape.schedule.optional(),
  timezone: specShape.timezone.optional(),
  concurrencyPolicy: specShape.concurrencyPolicy.optional(),
  schedulePayload: specShape.schedulePayload.optional(),
  startingDeadlineSeconds: specShape.startingDeadlineSeconds.optional(),
  /** null: detect the interface again. */
  interface: HandlerInterface.nullable().optional(),
  /** null: back to the default entry. */
  handler: HandlerPath.nullable().optional(),
});
export type SpecPatch = z.infer<typeof SpecPatch>;

/** Spec fields whose change needs new containers; the others apply live. */
export const CONTAINER_FIELDS = ['memoryMb', 'cpus', 'env', 'secrets', 'interface', 'handler'] as const;

/**
 * Spec fields that belong to the function as a whole, not to one revision: while traffic is
 * split, every revision is limited, sized, routed and called asynchronously by the current
 * values of these. Every other field (code-level: env, memory, cpus, concurrency, timeout...)
 * is the revision's own.
 */
export const FUNCTION_WIDE_FIELDS = [
  'rateLimit',
  'minWarm',
  'maxReplicas',
  'scaleDownDelayMs',
  'idleTimeoutMs',
  'traffic',
  'retry',
  'asyncConcurrency',
  'schedule',
  'timezone',
  'concurrencyPolicy',
  'schedulePayload',
  'startingDeadlineSeconds',
  // Who may invoke it: every revision, whatever the split (and a rollback keeps it).
  'auth',
] as const;

/**
 * Spec fields a patch merges key by key into the current value (JSON merge patch: a key set
 * to null is removed), not replaces.
 */
export const NESTED_SPEC_FIELDS = ['retry', 'env'] as const;

/** Numeric spec fields, which multipart form fields carry as strings. */
const NUMERIC_FIELDS = new Set(['rateLimit', 'maxConcurrency', 'minWarm', 'maxReplicas', 'timeoutMs', 'memoryMb', 'cpus', 'scaleDownDelayMs', 'idleTimeoutMs', 'asyncConcurrency', 'startingDeadlineSeconds']);
/** Spec fields that form fields carry as JSON text. */
const JSON_FIELDS = new Set(['env', 'retry', 'schedulePayload', 'traffic']);

/**
 * Turns multipart form fields (all strings) into a SpecPatch input: numbers are converted,
 * `env`, `retry`, `schedulePayload` and `traffic` are JSON text, an empty `schedule`,
 * `interface` or `handler` is none, `secrets` a JSON array or names separated by commas
 * (`secrets=db-password,api-key`; empty: none). `name` is not a spec field and is skipped.
 */
export function specPatchFromForm(fields: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(fields)) {
    if (key === 'name') continue;
    if (typeof raw !== 'string') {
      out[key] = raw;
    } else if (NUMERIC_FIELDS.has(key)) {
      // Not a number: kept as the text, so the error says "received string", not "received NaN".
      const number = raw.trim() === '' ? Number.NaN : Number(raw);
      out[key] = Number.isNaN(number) ? raw : number;
    } else if ((key === 'schedule' || key === 'interface' || key === 'handler') && raw.trim() === '') {
      out[key] = null;
    } else if (JSON_FIELDS.has(key)) {
      try {
        out[key] = JSON.parse(raw);
      } catch {
        out[key] = raw;
      }
    } else if (key === 'secrets') {
      out[key] = secretsFromForm(raw);
    } else {
      out[key] = raw;
    }
  }
  return out;
}

/** `secrets` as a form field: a JSON array, or comma-separated names. */
function secretsFromForm(raw: string): unknown {
  const text = raw.trim();
  if (text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch {
      return raw;
    }
  }
  return text === '' ? [] : text.split(',').map((name) => name.trim());
}
