import { z } from 'zod';

/**
 * A traffic tag names a revision in the route `/invoke/<name>@<tag>`: a DNS label, as a
 * function name is, so it is safe in URLs and cannot contain the `@` that separates it.
 */
export const TRAFFIC_TAG_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Most entries a traffic block may hold. */
const MAX_TRAFFIC_ENTRIES = 20;

/**
 * One entry of `spec.traffic`, in Knative's shape: a revision (by number, or the latest one),
 * its share of the function's requests in whole percent, and an optional tag that reaches it
 * whatever the split. `percent` defaults to 0 (a tag alone).
 */
export const TrafficEntry = z
  .strictObject({
    revision: z.number().int().min(1).optional(),
    latestRevision: z.boolean().optional(),
    percent: z.number().int('must be a whole number').min(0).max(100).default(0),
    tag: z
      .string()
      .regex(TRAFFIC_TAG_PATTERN, 'must be a DNS label: lower-case letters, digits and "-", 1-63 characters')
      .optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.latestRevision === true && entry.revision !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['revision'], message: 'an entry names either a revision or latestRevision: true, not both' });
    } else if (entry.latestRevision !== true && entry.revision === undefined) {
      ctx.addIssue({ code: 'custom', path: ['revision'], message: 'an entry needs a revision number or latestRevision: true' });
    }
  });
export type TrafficEntry = z.infer<typeof TrafficEntry>;

/**
 * `spec.traffic`: how a function's requests are split between its revisions. Percentages are
 * whole numbers summing to 100; a tag names one entry. Empty or null means no split: every
 * request goes to the latest revision. Whether a named revision is still kept is checked where
 * revisions are known (the desired-state write), not here.
 */
export const Traffic = z
  .array(TrafficEntry)
  .max(MAX_TRAFFIC_ENTRIES, `at most ${MAX_TRAFFIC_ENTRIES} entries`)
  .superRefine((entries, ctx) => {
    if (entries.length === 0) return;
    const sum = entries.reduce((total, e) => total + e.percent, 0);
    if (sum !== 100) ctx.addIssue({ code: 'custom', message: `percentages must sum to 100; these sum to ${sum}` });
    const seen = new Set<string>();
    entries.forEach((e, i) => {
      if (e.tag === undefined) return;
      if (seen.has(e.tag)) ctx.addIssue({ code: 'custom', path: [i, 'tag'], message: `tag "${e.tag}" is used by more than one entry` });
      seen.add(e.tag);
    });
  });
export type Traffic = z.infer<typeof Traffic>;

/** The spec field: null or an empty list is no split, stored as no field at all. */
export const TrafficField = Traffic.nullish().transform((entries) => (entries && entries.length > 0 ? entries : undefined));
