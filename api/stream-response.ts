import type { ServerResponse } from 'node:http';
import type { InvokeOutcome, ResponseStream } from '../controller/index.js';

/**
 * Sends a streamed invocation: the head at once (no content-length, so node frames the body
 * with chunked transfer encoding), each chunk as it arrives. `res.write` reporting a full
 * buffer holds the worker's credits until `drain`, so a slow client slows only its own handler.
 * A stream that breaks off (the handler threw, its time ran out) destroys the connection
 * without the last chunk: the client sees a truncated body, not a success. A client that goes
 * away cancels the handler's stream.
 */
export function sendStream(res: ServerResponse, outcome: InvokeOutcome, stream: ResponseStream): void {
  const headers = withInvocationHeaders(outcome);
  // A client that left while the handler was starting: its stream is cancelled at once.
  if (res.destroyed) return stream.cancel('the client went away');
  res.writeHead(outcome.statusCode, headers);
  // The head leaves now, not with the first chunk: the client knows the status at once.
  res.flushHeaders();
  res.on('drain', () => stream.drained());
  res.on('close', () => {
    if (!stream.ended) stream.cancel('the client went away');
  });
  stream.attach({
    write: (chunk) => res.write(chunk),
    end: (error) => {
      if (error === null) res.end();
      else res.destroy();
    },
  });
}

/**
 * The handler's headers plus the invocation's own (request id, revision, rate limit), buffered
 * or streamed alike. The worker client has dropped hop-by-hop and x-glambdar-* headers a
 * handler set; the object is this response's own (parsed from its frame), so it is completed
 * in place, not copied.
 */
export function withInvocationHeaders(outcome: InvokeOutcome): Record<string, string | string[] | number> {
  const headers: Record<string, string | string[] | number> = outcome.headers;
  headers['x-glambdar-request-id'] = outcome.requestId;
  headers['x-glambdar-revision'] = outcome.revision;
  if (outcome.rate.limit > 0) {
    headers['ratelimit-limit'] = outcome.rate.limit;
    headers['ratelimit-remaining'] = outcome.rate.remaining;
    headers['ratelimit-reset'] = Math.ceil(outcome.rate.resetMs / 1000);
  }
  return headers;
}
