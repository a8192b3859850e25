/** Helpers for the events unit tests: a function record and a job as the API would make them. */
import { FunctionSpec } from '../../schemas/index.js';
import type { FunctionRecord } from '../state/records.js';
import type { NewJob } from './job.js';

/** A live function record with the given spec fields. */
export function functionRecord(name: string, spec: Record<string, unknown> = {}): FunctionRecord {
  return {
    name,
    spec: FunctionSpec.parse(spec),
    codeDigest: 'd',
    source: 'api',
    manifestPath: null,
    generation: 1,
    revision: 1,
    createdAt: 0,
    updatedAt: 0,
    lastInvokedAt: null,
    invokeCount: 0,
    deleting: false,
  };
}

let next = 0;

/** A job as `POST /async/<funcName>/path` would store it. */
export function newJob(funcName: string, overrides: Partial<NewJob> = {}): NewJob {
  next += 1;
  return {
    requestId: `job-${next}`,
    funcName,
    request: { method: 'POST', path: '/path', query: { q: '1' }, headers: { 'content-type': 'application/json', 'x-user': 'u' } },
    body: Buffer.from(JSON.stringify({ n: next })),
    callbackUrl: null,
    scheduledAt: null,
    ...overrides,
  };
}
