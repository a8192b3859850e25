import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import type { IPodSecurityContext } from 'kubernetes-models/v1/PodSecurityContext';
import { Service } from 'kubernetes-models/v1/Service';
import { ExportInvalid } from '../../controller/index.js';
import type { ManifestObject } from './manifest-object.js';
import {
  boundedName,
  denyEgress,
  environment,
  fiveFieldCron,
  FUNCTION_UID,
  functionLabels,
  hardening,
  HEALTH_PATH,
  podLabels,
  resources,
  seconds,
  secretNames,
  volumes,
  windowSeconds,
  WORKER_PORT,
  type ExportTarget,
} from './pod.js';

/** Environment names the export sets itself: the worker's port. */
const RESERVED_ENV = ['PORT'];
/** CPU utilization the HorizontalPodAutoscaler aims at: the 70 % Knative aims at in concurrency. */
const TARGET_CPU_PERCENT = 70;
/** Longest CronJob name (its Jobs get an 11-character suffix). */
const MAX_CRONJOB_NAME = 52;
/** Time for the worker to exit once its in-flight requests are done. */
const EXIT_GRACE_SECONDS = 5;

/**
 * What a scheduled call does: POST the payload to the function's Service at `/`, as Glambdar's
 * scheduler does, with the fire time in `x-glambdar-schedule`. A 5xx or 429 fails the Job, so
 * Kubernetes retries it up to `backoffLimit`.
 */
const CALL_SCRIPT = [
  "fetch(process.env.TARGET_URL, { method: 'POST', body: process.env.PAYLOAD,",
  "  headers: { 'content-type': 'application/json', 'x-glambdar-schedule': new Date().toISOString() },",
  '  signal: AbortSignal.timeout(Number(process.env.TIMEOUT_MS)) })',
  '  .then((res) => { console.log(res.status); process.exit(res.status >= 500 || res.status === 429 ? 1 : 0); },',
  '        (err) => { console.error(err.message); process.exit(1); });',
].join('\n');

/**
 * The function as plain Kubernetes objects: a Deployment, a Service, a HorizontalPodAutoscaler,
 * its egress-denying NetworkPolicy, and a CronJob for its schedule.
 */
export function kubernetesObjects(target: ExportTarget): ManifestObject[] {
  const objects: ManifestObject[] = [deployment(target), service(target), autoscaler(target), denyEgress(target.name)];
  const cron = cronJob(target);
  if (cron) objects.push(cron);
  return objects;
}

function deployment(target: ExportTarget): Deployment {
  const { name, spec } = target;
  const { volumes: podVolumes, mounts } = volumes(secretNames(target));
  const timeoutSeconds = seconds(spec.number('timeoutMs'));
  return new Deployment({
    metadata: { name, labels: functionLabels(name) },
    spec: {
      // No replicas: the HorizontalPodAutoscaler owns the count.
      selector: { matchLabels: { 'glambdar.function': name } },
      template: {
        metadata: { labels: podLabels(target) },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurity(),
          // SIGTERM lets in-flight requests finish: as long as the longest one may run.
          terminationGracePeriodSeconds: timeoutSeconds + EXIT_GRACE_SECONDS,
          containers: [
            {
              name: 'function',
              image: target.image,
              ports: [{ name: 'http', containerPort: WORKER_PORT }],
              env: [...environment(target, RESERVED_ENV, 'the export (the worker listens on it)'), { name: 'PORT', value: String(WORKER_PORT) }],
              resources: resources(target),
              securityContext: hardening(),
              readinessProbe: { httpGet: { path: HEALTH_PATH, port: 'http' } },
              volumeMounts: mounts,
            },
          ],
          volumes: podVolumes,
        },
      },
    },
  });
}

function service(target: ExportTarget): Service {
  return new Service({
    metadata: { name: target.name, labels: functionLabels(target.name) },
    spec: {
      type: 'ClusterIP',
      selector: { 'glambdar.function': target.name },
      ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    },
  });
}

function autoscaler(target: ExportTarget): HorizontalPodAutoscaler {
  const { name, spec } = target;
  return new HorizontalPodAutoscaler({
    metadata: { name, labels: functionLabels(name) },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: Math.max(1, spec.number('minWarm')),
      maxReplicas: spec.number('maxReplicas'),
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: TARGET_CPU_PERCENT } } }],
      behavior: { scaleDown: { stabilizationWindowSeconds: windowSeconds(target, 'scaleDownDelayMs', "the HorizontalPodAutoscaler's stabilization window") } },
    },
  });
}

/** `spec.schedule` as a CronJob whose pod (the function's own image, hardened alike) calls the Service. */
function cronJob(target: ExportTarget): CronJob | null {
  const { name, spec } = target;
  const schedule = spec.optionalString('schedule');
  const timeZone = spec.optionalString('timezone');
  const payload = spec.optionalJson('schedulePayload');
  const concurrencyPolicy = cronPolicy(target, spec.optionalString('concurrencyPolicy'));
  const startingDeadlineSeconds = spec.optionalNumber('startingDeadlineSeconds');
  const attempts = spec.optionalObject('retry')?.['attempts'];
  if (schedule === undefined) return null;
  const timeoutMs = spec.number('timeoutMs');
  return new CronJob({
    metadata: { name: boundedName(name, 'schedule', MAX_CRONJOB_NAME), labels: functionLabels(name) },
    spec: {
      schedule: fiveFieldCron(target, schedule, 'a Kubernetes CronJob'),
      ...(timeZone !== undefined ? { timeZone } : {}),
      ...(concurrencyPolicy !== undefined ? { concurrencyPolicy } : {}),
      ...(startingDeadlineSeconds !== undefined ? { startingDeadlineSeconds } : {}),
      jobTemplate: {
        spec: {
          ...(typeof attempts === 'number' ? { backoffLimit: Math.max(0, attempts - 1) } : {}),
          template: {
            // Not the function's label: its egress-denying NetworkPolicy must not select the caller.
            metadata: { labels: { 'glambdar.schedule': name } },
            spec: {
              restartPolicy: 'Never',
              automountServiceAccountToken: false,
              enableServiceLinks: false,
              securityContext: podSecurity(),
              containers: [
                {
                  name: 'call',
                  image: target.image,
                  command: ['node', '-e', CALL_SCRIPT],
                  env: [
                    { name: 'TARGET_URL', value: `http://${name}/` },
                    { name: 'PAYLOAD', value: JSON.stringify(payload ?? {}) },
                    { name: 'TIMEOUT_MS', value: String(timeoutMs) },
                  ],
                  resources: { limits: { memory: '64Mi', cpu: '100m' }, requests: { memory: '64Mi', cpu: '100m' } },
                  securityContext: hardening(),
                },
              ],
            },
          },
        },
      },
    },
  });
}

/** `spec.concurrencyPolicy` as a CronJob's (both say Allow or Forbid). */
function cronPolicy(target: ExportTarget, policy: string | undefined): 'Allow' | 'Forbid' | undefined {
  if (policy === undefined || policy === 'Allow' || policy === 'Forbid') return policy;
  throw new ExportInvalid(`function "${target.name}": concurrencyPolicy "${policy}" is not Allow or Forbid`);
}

/** The pod-level half of the hardening (plain Kubernetes takes it; Knative only behind a feature flag). */
function podSecurity(): IPodSecurityContext {
  return { runAsNonRoot: true, runAsUser: FUNCTION_UID, runAsGroup: FUNCTION_UID, seccompProfile: { type: 'RuntimeDefault' } };
}
