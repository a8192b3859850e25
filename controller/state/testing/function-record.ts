import { FunctionSpec } from '../../../schemas/index.js';
import type { FunctionRecord } from '../records.js';

/** A live function's record as the store hands it out, for pool and reconcile tests. */
export function functionRecord(spec: Partial<FunctionSpec>, name = 'hello', codeDigest = 'd1', generation = 1): FunctionRecord {
  return {
    name,
    spec: FunctionSpec.parse(spec),
    codeDigest,
    source: 'api',
    manifestPath: null,
    generation,
    revision: generation,
    createdAt: 0,
    updatedAt: 0,
    lastInvokedAt: null,
    invokeCount: 0,
    deleting: false,
  };
}
