import { isReservedResponseHeader } from '../../worker/protocol.js';

/**
 * The headers of a response without the reserved ones (compared case-insensitively), names in
 * lower case; a name given in two cases becomes one list. The worker's own object is returned
 * when there is nothing to drop (the usual case: no copy on the hot path).
 */
export function withoutReservedHeaders(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  let clean = true;
  for (const name in headers) {
    if (name !== name.toLowerCase() || isReservedResponseHeader(name)) {
      clean = false;
      break;
    }
  }
  if (clean) return headers;
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (isReservedResponseHeader(lower)) continue;
    const existing = out[lower];
    if (existing === undefined) out[lower] = value;
    else out[lower] = [...(Array.isArray(existing) ? existing : [existing]), ...(Array.isArray(value) ? value : [value])];
  }
  return out;
}
