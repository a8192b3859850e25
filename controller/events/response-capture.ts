import { isUtf8 } from 'node:buffer';
import type { StoredResponse } from './job.js';

/** How much of a response body a job keeps (the full size is kept beside it). */
export const MAX_KEPT_BODY_BYTES = 256 * 1024;

/**
 * A response as a job keeps it: at most the first 256 KiB of the body, as text when that is
 * UTF-8 (a character cut at the end is dropped), as base64 otherwise.
 */
export function captureResponse(headers: Record<string, string | string[]>, body: Buffer): StoredResponse {
  const truncated = body.length > MAX_KEPT_BODY_BYTES;
  let kept = truncated ? body.subarray(0, MAX_KEPT_BODY_BYTES) : body;
  if (truncated) {
    // A multi-byte character split by the cut: up to 3 trailing bytes of it.
    for (let drop = 0; drop <= 3 && drop < kept.length; drop++) {
      if (isUtf8(kept.subarray(0, kept.length - drop))) {
        kept = kept.subarray(0, kept.length - drop);
        break;
      }
    }
  }
  const text = isUtf8(kept);
  return {
    headers,
    body: kept.toString(text ? 'utf8' : 'base64'),
    encoding: text ? 'utf8' : 'base64',
    size: body.length,
    truncated,
  };
}
