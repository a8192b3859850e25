import { createHash } from 'node:crypto';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ExportInvalid, IMAGE_HTTP_PORT } from '../../controller/index.js';
import type { SpecReader } from './spec-reader.js';

/** One function as a mapping sees it: who it is, which image runs it, its spec, and notes for the reader. */
export interface ExportTarget {
  name: string;
  revision: number;
  codeDigest: string;
  /** `<prefix>/<name>:r<revision>-<digest>`, the image `glambdar image` builds. */
  image: string;
  spec: SpecReader;
  /** Lines printed as comments above the function's objects: what the user must know or do. */
  notes: string[];
}

/** The uid and gid Glambdar runs functions as (nobody). */
export const FUNCTION_UID = 65534;
/** Where the worker reads secrets, one file per secret (as in Glambdar's containers). */
export const SECRETS_DIR = '/var/glambdar/secrets';
/** The key each exported Secret holds its value under. */
export const SECRET_KEY = 'value';
/** The port the worker listens on in HTTP mode, the one `glambdar image` sets (Knative sets `PORT` to it). */
export const WORKER_PORT = IMAGE_HTTP_PORT;
/** The worker's probe path in HTTP mode. */
export const HEALTH_PATH = '/healthz';
/** The hour Knative's autoscaler windows and the HPA's stabilization window are limited to. */
export const MAX_WINDOW_SECONDS = 3600;
/** Glambdar's `/tmp` in every container: a 64 MiB tmpfs. */
const TMP_SIZE = '64Mi';

/** Labels on every exported object of a function. */
export function functionLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'glambdar.function': name };
}

/** Labels on a function's pods, as on its Glambdar containers: the selector of its NetworkPolicy. */
export function podLabels(target: ExportTarget): Record<string, string> {
  return { 'glambdar.function': target.name, 'glambdar.revision': String(target.revision), 'glambdar.digest': target.codeDigest };
}

/** Whole seconds, rounded up, of a spec duration in milliseconds. */
export function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * A spec duration as a number of seconds no longer than the platform's hour, with a note when
 * the spec's value is over it (the platform would refuse it).
 */
export function windowSeconds(target: ExportTarget, field: string, what: string): number {
  const wanted = seconds(target.spec.number(field));
  if (wanted <= MAX_WINDOW_SECONDS) return wanted;
  target.notes.push(`${field} ${target.spec.number(field)} is over the limit of ${what} (${MAX_WINDOW_SECONDS} s): exported as ${MAX_WINDOW_SECONDS} s`);
  return MAX_WINDOW_SECONDS;
}

/**
 * A name `<base>-<suffix>` no longer than `max`: a long base is cut and a hash of it keeps
 * names of different functions apart.
 */
export function boundedName(base: string, suffix: string, max: number): string {
  const plain = `${base}-${suffix}`;
  if (plain.length <= max) return plain;
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 6);
  const room = max - suffix.length - hash.length - 2;
  return `${base.slice(0, room).replace(/-+$/, '')}-${hash}-${suffix}`;
}

/** The security context of every function container: what Glambdar's Docker hardening is in Kubernetes terms. */
export function hardening(): ISecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: FUNCTION_UID,
    runAsGroup: FUNCTION_UID,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Limits and requests alike (Guaranteed QoS): the spec's memory and CPU. */
export function resources(target: ExportTarget): NonNullable<IContainer['resources']> {
  const amounts = { memory: `${target.spec.number('memoryMb')}Mi`, cpu: `${Math.round(target.spec.number('cpus') * 1000)}m` };
  return { limits: { ...amounts }, requests: { ...amounts } };
}

/** The spec's env; a name the platform sets itself is refused, since it would break the worker or be rejected. */
export function environment(target: ExportTarget, reserved: readonly string[], platform: string): Array<{ name: string; value: string }> {
  const env = target.spec.stringMap('env');
  const clash = Object.keys(env).filter((name) => reserved.includes(name));
  if (clash.length > 0) {
    throw new ExportInvalid(`function "${target.name}": env ${clash.join(', ')} ${clash.length > 1 ? 'are' : 'is'} reserved by ${platform}; rename ${clash.length > 1 ? 'them' : 'it'} in the spec to export`);
  }
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** Secret names the function reads, each a file in {@link SECRETS_DIR}; the values stay in Glambdar. */
export function secretNames(target: ExportTarget): string[] {
  const names = target.spec.strings('secrets');
  if (names.length > 0) {
    target.notes.push(
      `create these Secrets first (values are never exported), e.g. kubectl create secret generic NAME --from-file=${SECRET_KEY}=FILE: ${names.join(', ')}`,
    );
  }
  return names;
}

/** The volumes of a function's pod: a memory-backed /tmp, and its secrets projected as files. */
export function volumes(secrets: readonly string[]): { volumes: IVolume[]; mounts: IVolumeMount[] } {
  const out: IVolume[] = [{ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: TMP_SIZE } }];
  const mounts: IVolumeMount[] = [{ name: 'tmp', mountPath: '/tmp' }];
  if (secrets.length > 0) {
    out.push({
      name: 'secrets',
      projected: { sources: secrets.map((name) => ({ secret: { name, items: [{ key: SECRET_KEY, path: name }] } })) },
    });
    mounts.push({ name: 'secrets', mountPath: SECRETS_DIR, readOnly: true });
  }
  return { volumes: out, mounts };
}

/**
 * A NetworkPolicy that lets the function's pods send nothing: Glambdar's network `none`.
 * Requests still come in; the pods reach no other pod, no DNS and nothing outside.
 */
export function denyEgress(name: string): NetworkPolicy {
  return new NetworkPolicy({
    metadata: { name: `${name}-deny-egress`, labels: functionLabels(name) },
    spec: { podSelector: { matchLabels: { 'glambdar.function': name } }, policyTypes: ['Egress'], egress: [] },
  });
}

/** A cron expression a Kubernetes CronJob or a Knative PingSource takes: five fields, no seconds. */
export function fiveFieldCron(target: ExportTarget, schedule: string, platform: string): string {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw new ExportInvalid(`function "${target.name}": schedule "${schedule}" has ${fields.length} fields; ${platform} takes 5 (no seconds field)`);
  }
  return fields.join(' ');
}
