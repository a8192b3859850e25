import { z } from 'zod';
import { issueMessage } from './issues.js';
import { FunctionName, FunctionSpec, SpecPatch } from './spec.js';

/**
 * The annotation that hands a function deployed through the API over to a manifest: without
 * it, a manifest naming such a function is a conflict (README "GitOps").
 */
export const ADOPT_ANNOTATION = 'glambdar/adopt';

/** `metadata.annotations`, as Kubernetes has them: string keys and string values. */
const Annotations = z.record(z.string().min(1).max(253), z.string({ error: 'annotation values are strings: quote them ("true")' }).max(64 * 1024));

/** The only manifest version there is. */
export const MANIFEST_API_VERSION = 'glambdar/v1';
/** The only kind of manifest document there is. */
export const MANIFEST_KIND = 'Function';

const required = (what: string) => (issue: { input: unknown }) =>
  issue.input === undefined ? 'is required' : `must be ${what}`;

/** `spec` of a manifest: where the code is, plus any spec field (the rest take their defaults). */
const ManifestSpec = z
  .strictObject({
    code: z.string({ error: required('a path (a .zip, or a folder holding index.js)') }).min(1, 'must not be empty'),
    ...SpecPatch.shape,
  }, { error: required('a mapping with code and any spec field') })
  .superRefine((spec, ctx) => {
    // A manifest states the whole spec, so the cross-field rules of FunctionSpec apply as written.
    const { code: _code, ...rest } = spec;
    const full = FunctionSpec.safeParse(rest);
    if (!full.success) for (const issue of full.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  });

/**
 * One document of a manifest file (README "GitOps"). Every object is strict: an unknown
 * field is an error naming it, as a typo in a GitOps file must not be silently ignored.
 */
export const ManifestDocument = z.strictObject({
  apiVersion: z.literal(MANIFEST_API_VERSION, { error: required(`"${MANIFEST_API_VERSION}"`) }),
  kind: z.literal(MANIFEST_KIND, { error: required(`"${MANIFEST_KIND}"`) }),
  metadata: z.strictObject({ name: FunctionName, annotations: Annotations.optional() }, { error: required('a mapping with a name') }),
  spec: ManifestSpec,
});
export type ManifestDocument = z.infer<typeof ManifestDocument>;

/** One problem of a manifest document: the field's dotted path ('' for the document) and what is wrong. */
export interface ManifestIssue {
  path: string;
  message: string;
}

/** The fields each object of a manifest allows, for messages about unknown ones. */
const ALLOWED_FIELDS: Record<string, readonly string[]> = {
  '': Object.keys(ManifestDocument.shape),
  metadata: ['name', 'annotations'],
  spec: ['code', ...Object.keys(SpecPatch.shape)],
};

/**
 * Validates one parsed YAML document. Never throws; each issue names one field, and an unknown
 * field is reported at its own path (`spec.replicas`) with the fields that are allowed there.
 */
export function parseManifestDocument(input: unknown): { ok: true; value: ManifestDocument } | { ok: false; issues: ManifestIssue[] } {
  const result = ManifestDocument.safeParse(input);
  if (result.success) return { ok: true, value: result.data };
  const issues: ManifestIssue[] = [];
  for (const issue of result.error.issues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const allowed = ALLOWED_FIELDS[path];
      for (const key of issue.keys) {
        issues.push({
          path: path ? `${path}.${key}` : key,
          message: `unknown field "${key}"${allowed ? `; allowed here: ${allowed.join(', ')}` : ''}`,
        });
      }
    } else if (path === '' && issue.code === 'invalid_type') {
      issues.push({ path, message: 'a manifest document must be a mapping with apiVersion, kind, metadata and spec' });
    } else {
      const message = issueMessage(issue);
      // The whole-spec check repeats what the field's own rule said: once is enough.
      if (!issues.some((i) => i.path === path && i.message === message)) issues.push({ path, message });
    }
  }
  return { ok: false, issues };
}
