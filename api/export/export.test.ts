import { describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { exportFunction, NOT_CARRIED_OVER, renderExport } from './index.js';
import { COMING_FIELDS, FULL_SPEC, readBack, source } from './testing.js';

const EVERYTHING = { ...FULL_SPEC, ...COMING_FIELDS };
const knative = { format: 'knative', imagePrefix: 'glambdar' } as const;
const kubernetes = { format: 'kubernetes', imagePrefix: 'glambdar' } as const;

type Doc = ReturnType<typeof readBack>[number];
/** A nested value of a document, by path. */
function at(doc: Doc | undefined, ...path: Array<string | number>): unknown {
  let value: unknown = doc;
  for (const key of path) value = (value as Record<string | number, unknown> | undefined)?.[key];
  return value;
}
function find(docs: Doc[], kind: string, apiVersion?: string): Doc {
  const doc = docs.find((d) => d.kind === kind && (apiVersion === undefined || d.apiVersion === apiVersion));
  if (!doc) throw new Error(`no ${kind} in the export`);
  return doc;
}

describe('export to Knative', () => {
  it('a function using every spec field gives objects that validate against their schemas, also once printed and read back', () => {
    const docs = readBack(renderExport([source(EVERYTHING)], knative));
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      'serving.knative.dev/v1 Service',
      'networking.k8s.io/v1 NetworkPolicy',
      'sources.knative.dev/v1 PingSource',
    ]);
  });

  it('maps concurrency, scale bounds, target, delays, timeout, resources and env onto the Service', () => {
    const service = find(readBack(renderExport([source(EVERYTHING)], knative)), 'Service');
    const template = at(service, 'spec', 'template');
    expect(at(service, 'metadata', 'name')).toBe('hello');
    expect(at(template as Doc, 'metadata', 'name')).toBe('hello-r3');
    expect(at(template as Doc, 'metadata', 'annotations')).toEqual({
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '20',
      'autoscaling.knative.dev/target': '2.8',
      'autoscaling.knative.dev/scale-down-delay': '90s',
      'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '300s',
    });
    expect(at(template as Doc, 'spec', 'containerConcurrency')).toBe(4);
    expect(at(template as Doc, 'spec', 'timeoutSeconds')).toBe(13);
    const container = at(template as Doc, 'spec', 'containers', 0) as Doc;
    expect(at(container, 'image')).toBe('glambdar/hello:r3-0123456789ab');
    expect(at(container, 'resources')).toEqual({ limits: { memory: '256Mi', cpu: '1500m' }, requests: { memory: '256Mi', cpu: '1500m' } });
    expect(at(container, 'env')).toEqual([
      { name: 'GREETING', value: 'hi' },
      { name: 'MODE', value: 'prod' },
    ]);
  });

  it("applies Glambdar's hardening: non-root 65534, read-only root, no privilege escalation, no capabilities, seccomp, no token, a 64 MiB /tmp, no egress", () => {
    const docs = readBack(renderExport([source(FULL_SPEC)], knative));
    const podSpec = at(find(docs, 'Service'), 'spec', 'template', 'spec') as Doc;
    expect(at(podSpec, 'automountServiceAccountToken')).toBe(false);
    expect(at(podSpec, 'containers', 0, 'securityContext')).toEqual({
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(at(podSpec, 'volumes')).toEqual([{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }]);
    expect(at(podSpec, 'containers', 0, 'volumeMounts')).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(at(find(docs, 'NetworkPolicy'), 'spec')).toEqual({ podSelector: { matchLabels: { 'glambdar.function': 'hello' } }, policyTypes: ['Egress'], egress: [] });
  });

  it('mounts secrets read-only at /var/glambdar/secrets, one file per secret, and only names them', () => {
    const text = renderExport([source({ ...FULL_SPEC, secrets: ['db-password', 'api-key'] })], knative);
    const podSpec = at(find(readBack(text), 'Service'), 'spec', 'template', 'spec') as Doc;
    expect(at(podSpec, 'volumes', 1)).toEqual({
      name: 'secrets',
      projected: {
        sources: [
          { secret: { name: 'db-password', items: [{ key: 'value', path: 'db-password' }] } },
          { secret: { name: 'api-key', items: [{ key: 'value', path: 'api-key' }] } },
        ],
      },
    });
    expect(at(podSpec, 'containers', 0, 'volumeMounts', 1)).toEqual({ name: 'secrets', mountPath: '/var/glambdar/secrets', readOnly: true });
    // No Secret object, no data: the user creates the Secrets; the comments say which.
    expect(readBack(text).map((d) => d.kind)).not.toContain('Secret');
    expect(text).not.toMatch(/^\s*(data|stringData):/m);
    expect(text).toContain('# hello: revision 3');
    expect(text).toMatch(/^#\s+create these Secrets first \(values are never exported\).*: db-password, api-key$/m);
  });

  it('maps traffic to targets named by revision, a key-only function to cluster-local, and a schedule to a PingSource posting the payload', () => {
    const text = renderExport([source(EVERYTHING)], knative);
    const docs = readBack(text);
    const service = find(docs, 'Service');
    expect(at(service, 'spec', 'traffic')).toEqual([
      { revisionName: 'hello-r2', percent: 20, tag: 'previous' },
      { latestRevision: true, percent: 80, tag: 'current' },
    ]);
    expect(text).toMatch(/^#\s+traffic goes to earlier revisions \(hello-r2\)/m);
    expect(at(service, 'metadata', 'labels', 'networking.knative.dev/visibility')).toBe('cluster-local');
    expect(at(find(docs, 'PingSource'), 'spec')).toEqual({
      schedule: '*/5 * * * *',
      timezone: 'Europe/Paris',
      contentType: 'application/json',
      data: '{"report":"daily"}',
      sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'hello' } },
    });
  });

  it('leaves traffic, visibility and the PingSource out when the spec has none', () => {
    const docs = readBack(renderExport([source(FunctionSpec.parse({}))], knative));
    expect(docs.map((d) => d.kind)).toEqual(['Service', 'NetworkPolicy']);
    expect(at(docs[0], 'spec', 'traffic')).toBeUndefined();
    expect(at(docs[0], 'metadata', 'labels', 'networking.knative.dev/visibility')).toBeUndefined();
  });
});

describe('export to Kubernetes', () => {
  it('a function using every spec field gives objects that validate against the Kubernetes schemas, also once printed and read back', () => {
    const docs = readBack(renderExport([source(EVERYTHING)], kubernetes));
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      'apps/v1 Deployment',
      'v1 Service',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'networking.k8s.io/v1 NetworkPolicy',
      'batch/v1 CronJob',
    ]);
  });

  it('maps the spec onto a hardened Deployment, a Service on port 80, and an HPA with the scale bounds and scale-down delay', () => {
    const docs = readBack(renderExport([source({ ...FULL_SPEC, minWarm: 0 })], kubernetes));
    const pod = at(find(docs, 'Deployment'), 'spec', 'template', 'spec') as Doc;
    expect(at(pod, 'automountServiceAccountToken')).toBe(false);
    expect(at(pod, 'securityContext')).toEqual({ runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } });
    expect(at(pod, 'terminationGracePeriodSeconds')).toBe(18);
    expect(at(pod, 'containers', 0, 'securityContext', 'readOnlyRootFilesystem')).toBe(true);
    expect(at(pod, 'containers', 0, 'env')).toEqual([
      { name: 'GREETING', value: 'hi' },
      { name: 'MODE', value: 'prod' },
      { name: 'PORT', value: '8080' },
    ]);
    expect(at(pod, 'containers', 0, 'readinessProbe')).toEqual({ httpGet: { path: '/healthz', port: 'http' } });
    expect(at(find(docs, 'Service', 'v1'), 'spec', 'ports')).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    const hpa = at(find(docs, 'HorizontalPodAutoscaler'), 'spec') as Doc;
    // minWarm 0: an HPA cannot scale to zero, so one replica stays.
    expect([at(hpa, 'minReplicas'), at(hpa, 'maxReplicas'), at(hpa, 'behavior', 'scaleDown', 'stabilizationWindowSeconds')]).toEqual([1, 20, 90]);
  });

  it("maps a schedule to a CronJob that posts the payload to the Service from a hardened pod outside the function's NetworkPolicy", () => {
    const cron = find(readBack(renderExport([source(EVERYTHING)], kubernetes)), 'CronJob');
    expect(at(cron, 'spec', 'schedule')).toBe('*/5 * * * *');
    expect(at(cron, 'spec', 'timeZone')).toBe('Europe/Paris');
    expect(at(cron, 'spec', 'concurrencyPolicy')).toBe('Forbid');
    expect(at(cron, 'spec', 'startingDeadlineSeconds')).toBe(120);
    expect(at(cron, 'spec', 'jobTemplate', 'spec', 'backoffLimit')).toBe(2);
    const pod = at(cron, 'spec', 'jobTemplate', 'spec', 'template') as Doc;
    expect(at(pod, 'metadata', 'labels')).toEqual({ 'glambdar.schedule': 'hello' });
    expect(at(pod, 'spec', 'containers', 0, 'env')).toEqual([
      { name: 'TARGET_URL', value: 'http://hello/' },
      { name: 'PAYLOAD', value: '{"report":"daily"}' },
      { name: 'TIMEOUT_MS', value: '12500' },
    ]);
    expect(at(pod, 'spec', 'containers', 0, 'securityContext', 'capabilities')).toEqual({ drop: ['ALL'] });
  });
});

describe('export output', () => {
  it('names the image <prefix>/<name>:r<revision>-<12 characters of the code digest>: the generation until revisions exist', () => {
    const byGeneration = exportFunction(source(FULL_SPEC, 'hello', 7), { format: 'knative', imagePrefix: 'registry.local:5000/team' });
    expect(byGeneration.image).toBe('registry.local:5000/team/hello:r7-0123456789ab');
    const byRevision = exportFunction({ ...source(FULL_SPEC, 'hello', 7), revision: 5 }, knative);
    expect(byRevision.image).toBe('glambdar/hello:r5-0123456789ab');
  });

  it('prints the fields that do not carry over, with their reasons, as comments above the first object', () => {
    for (const options of [knative, kubernetes]) {
      const text = renderExport([source(EVERYTHING)], options);
      const head = text.slice(0, text.indexOf('\n---\n'));
      for (const [field, reason] of Object.entries(NOT_CARRIED_OVER[options.format])) expect(head).toContain(`#   ${field}: ${reason}\n`);
      expect(head.split('\n').every((line) => line === '' || line.startsWith('#'))).toBe(true);
    }
  });

  it('lists only the fields not carried over that the functions have', () => {
    const text = renderExport([source(FULL_SPEC)], knative);
    expect(text).toContain('#   rateLimit: ');
    expect(text).not.toContain('#   auth: ');
  });

  it('refuses, printing nothing, when an object breaks its schema, and names the object and the field', () => {
    const broken = { ...FULL_SPEC, maxConcurrency: 2.5 };
    expect(() => renderExport([source(FULL_SPEC, 'fine'), source(broken, 'broken')], knative)).toThrow(
      expect.objectContaining({ code: 'EXPORT_INVALID', message: expect.stringMatching(/"broken": the Service "broken" does not validate .*containerConcurrency must be integer/) }),
    );
    expect(() => renderExport([source({ ...FULL_SPEC, minWarm: 1.5 })], kubernetes)).toThrow(expect.objectContaining({ message: expect.stringMatching(/HorizontalPodAutoscaler "hello".*minReplicas/) }));
  });

  it('refuses env names the platform sets itself, and schedules with a seconds field, naming them', () => {
    expect(() => renderExport([source({ ...FULL_SPEC, env: { PORT: '1', K_SERVICE: 'x' } })], knative)).toThrow(/env PORT, K_SERVICE are reserved by Knative/);
    expect(() => renderExport([source({ ...FULL_SPEC, env: { PORT: '1' } })], kubernetes)).toThrow(/env PORT is reserved/);
    expect(() => renderExport([source({ ...FULL_SPEC, schedule: '*/10 * * * * *' })], kubernetes)).toThrow(/schedule "\*\/10 \* \* \* \* \*" has 6 fields; a Kubernetes CronJob takes 5/);
  });

  it('exports a delay over the hour the platform allows as that hour, and says so', () => {
    const long = { ...FULL_SPEC, scaleDownDelayMs: 2 * 3_600_000 };
    const text = renderExport([source(long)], knative);
    expect(at(find(readBack(text), 'Service'), 'spec', 'template', 'metadata', 'annotations', 'autoscaling.knative.dev/scale-down-delay')).toBe('3600s');
    expect(text).toMatch(/^#\s+scaleDownDelayMs 7200000 is over the limit of Knative's scale-down-delay \(3600 s\): exported as 3600 s$/m);
  });

  it('keeps names of long functions within Kubernetes limits, and apart', () => {
    const a = 'a'.repeat(60);
    const b = `${'a'.repeat(59)}b`;
    const names = [a, b].map((name) => find(readBack(renderExport([source(EVERYTHING, name)], kubernetes)), 'CronJob').metadata.name);
    expect(names.every((n) => n.length <= 52 && n.endsWith('-schedule'))).toBe(true);
    expect(names[0]).not.toBe(names[1]);
    const revision = at(find(readBack(renderExport([source(FULL_SPEC, a)], knative)), 'Service'), 'spec', 'template', 'metadata', 'name') as string;
    expect(revision.length).toBeLessThanOrEqual(63);
    expect(revision.endsWith('-r3')).toBe(true);
  });

  it('exports several functions one after another, each under its own comment', () => {
    const text = renderExport([source(FULL_SPEC, 'one'), source(FULL_SPEC, 'two')], kubernetes);
    expect(readBack(text).filter((d) => d.kind === 'Deployment').map((d) => d.metadata.name)).toEqual(['one', 'two']);
    expect(text.indexOf('# one: revision 3')).toBeLessThan(text.indexOf('# two: revision 3'));
  });
});
