import type { ExportFormat } from '../../schemas/index.js';

/**
 * Spec fields an export does not carry over, per format, each with the reason and what to do
 * instead. The export prints the ones a function has as comments at the top of its output,
 * and docs/kubernetes.md lists them all; every other spec field is mapped (the completeness
 * test, api/export/completeness.test.ts, fails on a field that is neither). Fields of features
 * still to come are listed ahead, so their arrival does not break the export.
 */
export const NOT_CARRIED_OVER: Readonly<Record<ExportFormat, Readonly<Record<string, string>>>> = {
  knative: {
    rateLimit: 'Knative Serving has no per-function rate limit; set one in your ingress or gateway',
    auth: 'function keys stay in Glambdar; a "key" function is exported cluster-local (networking.knative.dev/visibility), so put an authenticating gateway in front of it',
    retry: 'async invocations (POST /async) are Glambdar\'s; a Knative Service answers synchronously and a PingSource does not retry',
    asyncConcurrency: 'async invocations (POST /async) are Glambdar\'s; Knative Serving has no async queue',
    concurrencyPolicy: 'a PingSource fires on every tick; it cannot skip a tick while the previous call runs',
    startingDeadlineSeconds: 'a PingSource does not make up a tick it missed',
  },
  kubernetes: {
    rateLimit: 'Kubernetes has no per-function rate limit; set one in your ingress or gateway',
    maxConcurrency: 'nothing in front of a plain Deployment bounds requests per pod; the HorizontalPodAutoscaler scales on CPU instead (use --format knative for containerConcurrency)',
    idleTimeoutMs: 'a HorizontalPodAutoscaler keeps at least one replica: no scale to zero (use --format knative)',
    traffic: 'one Deployment runs the latest revision; a split between revisions needs a service mesh or the Gateway API (use --format knative)',
    auth: 'function keys stay in Glambdar; the exported Service is ClusterIP only, so put an authenticating gateway in front of it',
    asyncConcurrency: 'async invocations (POST /async) are Glambdar\'s; Kubernetes has no async queue',
  },
};

/**
 * Spec fields the image carries rather than the manifests: `glambdar image` bakes them into
 * the image the export references, so every format has them.
 */
export const CARRIED_BY_IMAGE: Readonly<Record<string, string>> = {
  interface: 'the handler interface is baked into the image by glambdar image',
  handler: 'the handler entry is baked into the image by glambdar image',
};

/**
 * Values at which a field listed above loses nothing in any format: a public function
 * (`auth: none`, the default every spec now has) has no keys to leave behind.
 */
const LOSES_NOTHING_AT: Readonly<Record<string, unknown>> = { auth: 'none' };

/** True when a spec field at this value loses nothing in an export, though the field is listed above. */
export function losesNothing(field: string, value: unknown): boolean {
  return Object.hasOwn(LOSES_NOTHING_AT, field) && LOSES_NOTHING_AT[field] === value;
}

/** The fields of `fields` a format does not carry over, with their reasons, in the order given. */
export function notCarriedOver(format: ExportFormat, fields: Iterable<string>): Array<[field: string, reason: string]> {
  const table = NOT_CARRIED_OVER[format];
  return [...fields].filter((field) => Object.hasOwn(table, field)).map((field) => [field, table[field]!]);
}
