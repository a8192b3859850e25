import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallbackUrl, parseWith } from '../../schemas/index.js';
import { InvalidInput, RouteNotFound, type Logger, type Runtime } from '../../controller/index.js';
import { sendError } from '../http-errors.js';
import { readBody, readInvocation } from '../invoke-handler.js';

/** The URL prefix of async invocations. */
export const ASYNC_PREFIX = '/async/';

/** The header naming where a job's result is posted when it ends. */
const CALLBACK_HEADER = 'x-callback-url';

/**
 * `POST|PUT /async/:name[@tag][/path]`, on the same lean path as `/invoke/` and read by the same
 * function, so the job's handler later receives what a synchronous call would have. Answered
 * 202 `{requestId, status: "queued"}` with `Location: /invocations/<requestId>` once the job is
 * committed; an unknown function is 404 and nothing is queued.
 */
export function createAsyncHandler(runtime: Runtime, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(runtime, req, res).catch((err: unknown) => sendError(res, err, log));
  };
}

async function handle(runtime: Runtime, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST' && req.method !== 'PUT') {
    req.resume();
    throw new RouteNotFound(`no route ${req.method} ${ASYNC_PREFIX}...: async invocations are POST or PUT`);
  }
  const rawCallback = req.headers[CALLBACK_HEADER];
  let callbackUrl: string | null = null;
  if (rawCallback !== undefined) {
    const parsed = parseWith(CallbackUrl, Array.isArray(rawCallback) ? rawCallback.join(',') : rawCallback);
    if (!parsed.ok) {
      req.resume();
      throw new InvalidInput(`X-Callback-Url: ${parsed.issues.join('; ')}`);
    }
    callbackUrl = parsed.value;
  }
  const { name, tag, request } = readInvocation(req, ASYNC_PREFIX, runtime);
  const job = runtime.enqueue(name, request, await readBody(req, request), callbackUrl, tag);
  const text = JSON.stringify({ requestId: job.requestId, status: job.status });
  res.writeHead(202, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    location: `/invocations/${job.requestId}`,
    'x-glambdar-request-id': job.requestId,
  });
  res.end(text);
}
