import { Service, type IService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { PingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import { ExportInvalid } from '../../controller/index.js';
import type { ManifestObject } from './manifest-object.js';
import {
  boundedName,
  denyEgress,
  environment,
  fiveFieldCron,
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

/** Environment names Knative sets in every container and refuses in a spec. */
const KNATIVE_ENV = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'];
/** Longest Kubernetes name of a revision (it becomes a label value). */
const MAX_REVISION_NAME = 63;
/** Knative's default `max-revision-timeout-seconds`. */
const KNATIVE_MAX_TIMEOUT_SECONDS = 600;
/** Share of `maxConcurrency` the autoscaler aims at: Knative's own default utilization, 70 %. */
const TARGET_UTILIZATION = 0.7;

type TrafficTarget = NonNullable<NonNullable<IService['spec']>['traffic']>[number];

/**
 * The Knative revision name of a function's revision: `<name>-r<revision>`. Traffic entries name
 * earlier revisions by it, so every export of a revision gives it the same name.
 */
export function revisionName(name: string, revision: number): string {
  return boundedName(name, `r${revision}`, MAX_REVISION_NAME);
}

/** The function as Knative objects: a Service, its egress-denying NetworkPolicy, and a PingSource for its schedule. */
export function knativeObjects(target: ExportTarget): ManifestObject[] {
  const objects: ManifestObject[] = [knativeService(target), denyEgress(target.name)];
  const ping = pingSource(target);
  if (ping) objects.push(ping);
  return objects;
}

function knativeService(target: ExportTarget): Service {
  const { spec, name } = target;
  const timeoutSeconds = seconds(spec.number('timeoutMs'));
  if (timeoutSeconds > KNATIVE_MAX_TIMEOUT_SECONDS) {
    target.notes.push(`timeoutSeconds ${timeoutSeconds} is over Knative's default limit (${KNATIVE_MAX_TIMEOUT_SECONDS}): raise max-revision-timeout-seconds in the config-defaults ConfigMap`);
  }
  const maxConcurrency = spec.number('maxConcurrency');
  const { volumes: podVolumes, mounts } = volumes(secretNames(target));
  const labels: Record<string, string> = functionLabels(name);
  // Keys do not carry over: a private function is not exposed outside the cluster.
  if (spec.optionalString('auth') === 'key') labels['networking.knative.dev/visibility'] = 'cluster-local';
  const traffic = trafficTargets(target);
  return new Service({
    metadata: { name, labels },
    spec: {
      template: {
        metadata: {
          name: revisionName(name, target.revision),
          labels: podLabels(target),
          annotations: {
            'autoscaling.knative.dev/min-scale': String(spec.number('minWarm')),
            'autoscaling.knative.dev/max-scale': String(spec.number('maxReplicas')),
            'autoscaling.knative.dev/target': String(Math.max(0.01, Math.round(maxConcurrency * TARGET_UTILIZATION * 100) / 100)),
            'autoscaling.knative.dev/scale-down-delay': `${windowSeconds(target, 'scaleDownDelayMs', "Knative's scale-down-delay")}s`,
            'autoscaling.knative.dev/scale-to-zero-pod-retention-period': `${windowSeconds(target, 'idleTimeoutMs', "Knative's scale-to-zero-pod-retention-period")}s`,
          },
        },
        spec: {
          containerConcurrency: maxConcurrency,
          timeoutSeconds,
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'function',
              image: target.image,
              ports: [{ name: 'http1', containerPort: WORKER_PORT }],
              env: environment(target, KNATIVE_ENV, 'Knative'),
              resources: resources(target),
              securityContext: hardening(),
              readinessProbe: { httpGet: { path: HEALTH_PATH } },
              volumeMounts: mounts,
            },
          ],
          volumes: podVolumes,
        },
      },
      ...(traffic.length > 0 ? { traffic } : {}),
    },
  });
}

/** `spec.traffic` as Knative traffic targets; a revision is named as {@link revisionName} names it. */
function trafficTargets(target: ExportTarget): TrafficTarget[] {
  const entries = target.spec.objects('traffic');
  const older = new Set<string>();
  const out = entries.map((entry, i): TrafficTarget => {
    const percent = typeof entry['percent'] === 'number' ? entry['percent'] : 0;
    const tag = typeof entry['tag'] === 'string' ? { tag: entry['tag'] } : {};
    if (entry['latestRevision'] === true) return { latestRevision: true, percent, ...tag };
    const revision = entry['revision'];
    if (typeof revision !== 'number') throw new ExportInvalid(`function "${target.name}": spec.traffic.${i} names no revision`);
    const revisionNameOf = revisionName(target.name, revision);
    if (revision !== target.revision) older.add(revisionNameOf);
    return { revisionName: revisionNameOf, percent, ...tag };
  });
  if (older.size > 0) {
    target.notes.push(`traffic goes to earlier revisions (${[...older].join(', ')}): each must exist in the cluster, from an earlier export of that revision applied there`);
  }
  return out;
}

/** `spec.schedule` as a PingSource that posts `schedulePayload` to the Service, as Glambdar's scheduler posts it to `/`. */
function pingSource(target: ExportTarget): PingSource | null {
  const { spec, name } = target;
  const schedule = spec.optionalString('schedule');
  const timezone = spec.optionalString('timezone');
  const payload = spec.optionalJson('schedulePayload');
  if (schedule === undefined) return null;
  return new PingSource({
    metadata: { name: boundedName(name, 'schedule', MAX_REVISION_NAME), labels: functionLabels(name) },
    spec: {
      schedule: fiveFieldCron(target, schedule, 'a Knative PingSource'),
      ...(timezone !== undefined ? { timezone } : {}),
      contentType: 'application/json',
      data: JSON.stringify(payload ?? {}),
      sink: { ref: { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name } },
    },
  });
}
