/**
 * The original interface: `handler(req)` with `req.method/path/query/headers/body/rawBody`
 * and `await req.json()`, returning `{statusCode?, headers?, body}` or a bare body
 * (worker/request.ts holds both shapes); a stream as `body` is streamed, `req.signal` aborts
 * when its client goes away. Nothing is added on this path: it is the hot one.
 */
import { createRequest, normalizeResponse } from '../request.js';
import type { Invoke, UserFunction } from './types.js';

/** Adapts a glambdar handler. */
export function glambdarAdapter(handler: UserFunction): Invoke {
  return async (head, body, cancellation) => normalizeResponse(await handler(createRequest(head, body, cancellation)));
}
