import { Service as KnativeService } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { PingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { FunctionSpec } from '../../schemas/index.js';
import type { ExportSource } from './index.js';

/**
 * Test helpers for the export: a function that sets every spec field (those of features still
 * to come too), and the printed YAML read back and validated as `kubectl apply` would get it.
 */

/** Every field of today's spec, each away from its default. */
export const FULL_SPEC = FunctionSpec.parse({
  rateLimit: 100,
  maxConcurrency: 4,
  minWarm: 1,
  maxReplicas: 20,
  timeoutMs: 12_500,
  memoryMb: 256,
  cpus: 1.5,
  env: { GREETING: 'hi', MODE: 'prod' },
  scaleDownDelayMs: 90_000,
  idleTimeoutMs: 300_000,
});

/** Fields other features add (the names the features share), as they will look in a spec. */
export const COMING_FIELDS = {
  secrets: ['db-password', 'api-key'],
  auth: 'key',
  schedule: '*/5 * * * *',
  timezone: 'Europe/Paris',
  concurrencyPolicy: 'Forbid',
  startingDeadlineSeconds: 120,
  schedulePayload: { report: 'daily' },
  retry: { attempts: 3, backoffMs: 1000, maxBackoffMs: 60_000 },
  asyncConcurrency: 5,
  traffic: [
    { revision: 2, percent: 20, tag: 'previous' },
    { latestRevision: true, percent: 80, tag: 'current' },
  ],
  interface: 'glambdar',
  handler: 'index.handler',
};

/** A function as `GET /info/:name` gives it, with `spec` as given. */
export function source(spec: Readonly<Record<string, unknown>>, name = 'hello', generation = 3): ExportSource {
  return { name, generation, codeDigest: '0123456789abcdef', spec };
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'serving.knative.dev/v1 Service': KnativeService,
  'sources.knative.dev/v1 PingSource': PingSource,
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1 CronJob': CronJob,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
};

/** The documents of a printed export, each validated again by its model; throws on an unknown kind or an invalid one. */
export function readBack(yaml: string): Array<{ apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown }> {
  return parseAllDocuments(yaml)
    .map((doc) => doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string } } | null)
    .filter((doc) => doc !== null)
    .map((doc) => {
      const Model = MODELS[`${doc.apiVersion} ${doc.kind}`];
      if (!Model) throw new Error(`unexpected object ${doc.apiVersion} ${doc.kind}`);
      new Model(doc as never).validate();
      return doc;
    });
}
