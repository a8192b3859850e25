import type { ErrorRequestHandler, Response } from 'express';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { GlambdarError, InsufficientStorage, InvalidInput, NoCapacity, PayloadTooLarge, QueueFull, RateLimited, Unauthorized, type Logger } from '../controller/index.js';

/** The one mapping from error code to HTTP status. */
const STATUS_BY_CODE: Record<string, number> = {
  INVALID_INPUT: 400,
  INVALID_NAME: 400,
  INVALID_ARCHIVE: 400,
  INVALID_JSON_BODY: 400,
  INVALID_CODE: 400,
  COMPILE_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ORIGIN_NOT_ALLOWED: 403,
  FUNCTION_NOT_FOUND: 404,
  TAG_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  SECRET_NOT_FOUND: 404,
  KEY_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  JOB_NOT_DEAD: 409,
  OWNED_BY_MANIFEST: 409,
  OWNED_BY_API: 409,
  FUNCTION_DELETING: 409,
  SECRET_IN_USE: 409,
  PAYLOAD_TOO_LARGE: 413,
  HOST_NOT_ALLOWED: 421,
  EXPORT_INVALID: 422,
  NOT_READY: 422,
  RATE_LIMITED: 429,
  HANDLER_ERROR: 500,
  FUNCTION_LOAD_FAILED: 500,
  CONTAINER_DIED: 502,
  IMAGE_BUILD_FAILED: 502,
  NO_CAPACITY: 503,
  SANDBOX_UNAVAILABLE: 503,
  QUEUE_FULL: 503,
  INVOCATION_TIMEOUT: 504,
  INSUFFICIENT_STORAGE: 507,
};

/** HTTP status of an error; anything unknown is a 500. */
export function httpStatusOf(err: GlambdarError): number {
  return STATUS_BY_CODE[err.code] ?? 500;
}

/** Status, headers and JSON body for any thrown value; unknown errors never leak their text. */
export function errorResponse(err: unknown, log: Logger): { status: number; headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (!(err instanceof GlambdarError)) {
    log.error(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return { status: 500, headers, body: JSON.stringify({ error: 'internal error', code: 'INTERNAL' }) };
  }
  const status = httpStatusOf(err);
  if (err instanceof RateLimited) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    headers['ratelimit-limit'] = String(err.limit);
    headers['ratelimit-remaining'] = '0';
    headers['ratelimit-reset'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
  } else if (err instanceof QueueFull) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
  } else if (err instanceof NoCapacity || err.code === 'SANDBOX_UNAVAILABLE') {
    headers['retry-after'] = '1';
  } else if (err instanceof Unauthorized) {
    headers['www-authenticate'] = 'Bearer realm="glambdar"';
  }
  if (err.invocation) {
    headers['x-glambdar-request-id'] = err.invocation.requestId;
    headers['x-glambdar-revision'] = String(err.invocation.revision);
  }
  if (status >= 500 && err.code !== 'HANDLER_ERROR' && err.code !== 'FUNCTION_LOAD_FAILED') log.warn(`${err.code}: ${err.message}`);
  return { status, headers, body: JSON.stringify({ error: err.message, code: err.code }) };
}

/** Writes an error to a bare node response (the invoke fast path). */
export function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const { status, headers, body } = errorResponse(err, log);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // A writeHead that threw on a bad header has set its reason phrase already ("500 OK"): name ours.
  res.writeHead(status, STATUS_CODES[status], { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The express error middleware: the only place control-plane routes turn errors into HTTP. */
export function errorMiddleware(log: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res: Response, _next) => {
    sendError(res, translateExpressError(err), log);
  };
}

/** Body-parser and multer errors carry their own shapes; turn them into ours. */
function translateExpressError(err: unknown): unknown {
  if (err instanceof GlambdarError) return err;
  const e = err as { type?: string; code?: string; status?: number; message?: string; field?: string };
  if (e?.type === 'entity.too.large') return new PayloadTooLarge('request body is too large');
  if (e?.code === 'ENOSPC') return new InsufficientStorage('the data disk is full: the upload could not be stored; free space or delete functions');
  if (e?.type === 'entity.parse.failed') return new InvalidInput('request body is not valid JSON');
  if (e?.code === 'LIMIT_FILE_SIZE') return new PayloadTooLarge('upload is larger than 50 MiB');
  if (typeof e?.code === 'string' && e.code.startsWith('LIMIT_')) return new InvalidInput(`upload rejected: ${e.message ?? e.code}`);
  if (e?.status === 400 || e?.status === 415) return new InvalidInput(e.message ?? 'bad request');
  return err;
}
