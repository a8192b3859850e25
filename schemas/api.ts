import { z } from 'zod';
import { FunctionName } from './spec.js';
import { DEFAULT_IMAGE_PREFIX, ImagePrefix } from './image.js';

const ISO_DATE_TIME = z.iso.datetime({ offset: true });
/** What `since` accepts, in words: the one message for a bad value. */
const SINCE_RULE = 'must be milliseconds since the epoch (e.g. 1735689600000) or an ISO 8601 date-time with a zone (e.g. 2025-01-01T00:00:00Z or 2025-01-01T01:00:00+01:00)';

/** `GET /info` query: pages as the Kubernetes list API does. */
export const InfoQuery = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  continue: z.string().min(1).max(1024).optional(),
  format: z.enum(['table', 'json']).optional(),
});
export type InfoQuery = z.infer<typeof InfoQuery>;

/** `GET /logs/:name` query. */
export const LogsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** Only records invoked at or after this time (ms since epoch or an ISO date). */
  since: z
    .string()
    .transform((value, ctx) => {
      if (/^\d+$/.test(value)) return Number(value);
      if (ISO_DATE_TIME.safeParse(value).success) return Date.parse(value);
      ctx.addIssue({ code: 'custom', message: SINCE_RULE });
      return z.NEVER;
    })
    .optional(),
  follow: z
    .enum(['1', 'true', '0', 'false'])
    .transform((v) => v === '1' || v === 'true')
    .optional(),
  /** What the containers printed outside invocations instead of the invocation records. */
  container: z
    .enum(['1', 'true', '0', 'false'])
    .transform((v) => v === '1' || v === 'true')
    .optional(),
});
export type LogsQuery = z.infer<typeof LogsQuery>;

/**
 * `POST /rollback/:name` body: the revision to roll back to, by number or by a tag of the
 * traffic; with neither, the one before the latest.
 */
export const RollbackBody = z
  .strictObject({
    revision: z.number().int().min(1).optional(),
    tag: z.string().min(1).max(63).optional(),
  })
  .refine((b) => b.revision === undefined || b.tag === undefined, { message: 'give a revision or a tag, not both', path: ['tag'] });
export type RollbackBody = z.infer<typeof RollbackBody>;
/** Where an async job's result is posted: `X-Callback-Url` on `POST /async/:name`. */
export const CallbackUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine(
    (url) => {
      try {
        const { protocol } = new URL(url);
        return protocol === 'http:' || protocol === 'https:';
      } catch {
        return false;
      }
    },
    { message: 'must be an absolute http:// or https:// URL' },
  );

/** `GET /invocations` query: newest first, by function and status. */
export const InvocationsQuery = z.strictObject({
  function: FunctionName.optional(),
  status: z.enum(['queued', 'running', 'succeeded', 'dead']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type InvocationsQuery = z.infer<typeof InvocationsQuery>;
/** The formats `GET /export` writes. */
export const EXPORT_FORMATS = ['knative', 'kubernetes'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** `GET /export[/:name]` query: the target format (required) and the image prefix. */
export const ExportQuery = z.object({
  format: z.enum(EXPORT_FORMATS, { error: `must be one of: ${EXPORT_FORMATS.join(', ')}` }),
  imagePrefix: ImagePrefix.default(DEFAULT_IMAGE_PREFIX),
});
export type ExportQuery = z.infer<typeof ExportQuery>;

/** `GET /stats[/:name]` query: how many whole seconds of series, up to the 15 minutes kept. */
export const StatsQuery = z.strictObject({
  seconds: z.coerce.number().int().min(1).max(900).default(900),
});
export type StatsQuery = z.infer<typeof StatsQuery>;
