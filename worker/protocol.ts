/**
 * The frames between the runtime and a worker: one definition of every frame header, the
 * protocol version, where the socket is, and which response headers a handler may not set.
 * The runtime validates what a worker sends with zod schemas (schemas/protocol.ts) that a
 * compile-time check (controller/pool/protocol-check.ts) ties to these types; the worker
 * checks what the runtime sends with the field tables below, which the compiler ties to them
 * too. A field added on one side and not the other fails `npm run typecheck`.
 *
 * This file has no imports: the worker folder is mounted alone into containers.
 */

/**
 * Version of this protocol, sent in `hello`; a runtime refuses a worker of another version.
 * 2: the handler interface in `load`/`hello`; 3: streamed responses; 4: `result.errorCode` and
 * the `output` frame; 5: `invoke` and `result` headers in a binary form (binary-header.ts) when
 * the runtime sends its invokes so.
 */
export const PROTOCOL_VERSION = 5;

/** The longest text of one `output` frame, in characters; the worker splits longer writes. */
export const MAX_OUTPUT_FRAME_CHARS = 16_384;

/**
 * The handler interfaces a worker can adapt a function to (worker/interfaces/). The spec's
 * list (schemas/spec.ts) is tied to this one by controller/pool/protocol-check.ts.
 */
export type InterfaceName = 'glambdar' | 'lambda' | 'openfaas' | 'knative' | 'fetch';
/** The same names as values, for the worker's own checks. */
export const INTERFACE_NAMES: readonly InterfaceName[] = ['glambdar', 'lambda', 'openfaas', 'knative', 'fetch'];

/** Where a container sees the folder holding the runtime's socket (mounted read-only). */
export const SOCKET_MOUNT = '/run/glambdar';
/** The runtime's socket in that folder, on the host and in the container alike. */
export const RUNTIME_SOCKET_NAME = 'runtime.sock';

/**
 * Response headers a handler may not set: they describe one hop (framing, connection reuse) or
 * are the runtime's own (`x-glambdar-*`). The runtime drops them, compared case-insensitively.
 */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'content-length',
  'upgrade',
  'trailer',
  'te',
]);

/** True for a response header the runtime drops; `lowerName` must be lower-case. */
export function isReservedResponseHeader(lowerName: string): boolean {
  return HOP_HEADERS.has(lowerName) || lowerName.startsWith('x-glambdar-');
}

/**
 * The headers of a response without the reserved ones (compared case-insensitively), names in
 * lower case; a name given in two cases becomes one list. The handler's own object is returned
 * when there is nothing to drop (the usual case: no copy on the hot path). The runtime applies it
 * to every result, the worker's HTTP mode to every response: one rule for both.
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

/** Runtime -> worker: run the handler once. Body: the raw request body. */
export interface InvokeHeader {
  t: 'invoke';
  id: number;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[]>;
  /** The invocation's id (`x-glambdar-request-id`): Lambda's `awsRequestId`, and the like. */
  requestId: string;
  /** How long the runtime waits for this answer (ms, from when it sent it): Lambda's `getRemainingTimeInMillis()`. */
  timeoutMs: number;
}

/**
 * Runtime -> stem-cell worker: load the function now in `GLAMBDAR_FN_DIR` (just placed there)
 * with these environment variables. A worker loads at most once.
 */
export interface LoadHeader {
  t: 'load';
  id: number;
  env: Record<string, string>;
  /** `spec.interface` (null: detect it from the exports), as `GLAMBDAR_INTERFACE` gives it to other workers. */
  interface: InterfaceName | null;
  /** `spec.handler` (null: the default entry), as `GLAMBDAR_HANDLER` gives it to other workers. */
  handler: string | null;
}

/** Worker -> runtime: the answer to a load frame. */
export interface LoadedHeader {
  t: 'loaded';
  id: number;
  loadError: string | null;
  /** The interface the function runs under; null when its load failed. */
  interface: InterfaceName | null;
}

/**
 * Worker -> runtime, first frame on every connection (the worker connects again after a runtime
 * restart): the function loaded, or why not.
 * `stem` is true for a generic worker still waiting for its load frame.
 */
export interface HelloHeader {
  t: 'hello';
  /** {@link PROTOCOL_VERSION} of the worker. */
  v: number;
  pid: number;
  loadError: string | null;
  stem: boolean;
  /** The interface the function runs under; null for a stem cell or a failed load. */
  interface: InterfaceName | null;
}

/** Worker -> runtime: the outcome of one invocation. Body: the response body bytes. */
export interface ResultHeader {
  t: 'result';
  id: number;
  statusCode: number;
  headers: Record<string, string | string[]>;
  stdout: string;
  stderr: string;
  /** Set when the handler threw or could not run; statusCode is then 500. */
  error: string | null;
  /**
   * Why the invocation failed when it was the caller's mistake: `INVALID_JSON_BODY` when the
   * error `req.json()` threw for a body that is not JSON escaped the handler. null otherwise.
   */
  errorCode: 'INVALID_JSON_BODY' | null;
  durationMs: number;
}

/**
 * Worker -> runtime: what the function printed outside any invocation (at module load, in a
 * background timer), as it is printed. The runtime keeps a bounded tail of it per container.
 */
export interface OutputHeader {
  t: 'output';
  stream: 'stdout' | 'stderr';
  text: string;
}

/**
 * A streamed response (docs/design.md "Streaming"): the worker sends a `head` as soon as the
 * status and headers are known, then `chunk` frames (body: bytes), then one `end`. The worker
 * may have at most {@link STREAM_WINDOW_BYTES} chunk bytes unacknowledged per stream: it starts
 * with that many credits, each chunk spends its length, and `credit` frames from the runtime
 * (sent as the client drains) give them back. A `cancel` from the runtime (client gone,
 * timeout) stops the handler's stream; the worker still ends it with an `end`.
 */
export const STREAM_WINDOW_BYTES = 256 * 1024;
/** Largest body of one chunk frame: a bigger write leaves in pieces. */
export const STREAM_CHUNK_BYTES = 32 * 1024;

/** Worker -> runtime: a streamed response's status and headers. No body. */
export interface HeadHeader {
  t: 'head';
  id: number;
  statusCode: number;
  headers: Record<string, string | string[]>;
}

/** Worker -> runtime: the next bytes of a streamed response. Body: the bytes (at most the credits it has). */
export interface ChunkHeader {
  t: 'chunk';
  id: number;
}

/** Worker -> runtime: a streamed response is over, whole (`error` null) or broken off. No body. */
export interface EndHeader {
  t: 'end';
  id: number;
  stdout: string;
  stderr: string;
  /** Why the stream broke off (the handler threw mid-stream, or it was cancelled); null when whole. */
  error: string | null;
  durationMs: number;
}

/** Runtime -> worker: the client took `bytes` more of stream `id`: that many more may be sent. */
export interface CreditHeader {
  t: 'credit';
  id: number;
  bytes: number;
}

/** Runtime -> worker: stop stream `id` (the client went away, or its time is up). */
export interface CancelHeader {
  t: 'cancel';
  id: number;
}

/** Every frame the runtime sends. */
export type ToWorkerHeader = InvokeHeader | LoadHeader | CreditHeader | CancelHeader;
/** Every frame the worker sends. */
export type FromWorkerHeader = HelloHeader | ResultHeader | LoadedHeader | OutputHeader | HeadHeader | ChunkHeader | EndHeader;

/** A check per field of a frame header: adding a field to the type without a check here fails to compile. */
type FieldChecks<H> = { readonly [K in keyof H]-?: (value: unknown) => boolean };

const isId = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 1;
const isString = (v: unknown): boolean => typeof v === 'string';
const isNullableString = (v: unknown): boolean => v === null || typeof v === 'string';
const isInterface = (v: unknown): boolean => v === null || INTERFACE_NAMES.includes(v as InterfaceName);
const isPlainRecord = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

const INVOKE_FIELDS: FieldChecks<InvokeHeader> = {
  t: (v) => v === 'invoke',
  id: isId,
  method: isString,
  path: isString,
  query: isPlainRecord,
  headers: isPlainRecord,
  requestId: isString,
  timeoutMs: (v) => typeof v === 'number' && v >= 0,
};

const LOAD_FIELDS: FieldChecks<LoadHeader> = {
  t: (v) => v === 'load',
  id: isId,
  env: isPlainRecord,
  interface: isInterface,
  handler: isNullableString,
};

const CREDIT_FIELDS: FieldChecks<CreditHeader> = {
  t: (v) => v === 'credit',
  id: isId,
  bytes: (v) => Number.isSafeInteger(v) && (v as number) >= 1,
};

const CANCEL_FIELDS: FieldChecks<CancelHeader> = {
  t: (v) => v === 'cancel',
  id: isId,
};

function matches<H>(checks: FieldChecks<H>, header: unknown): header is H {
  if (!isPlainRecord(header)) return false;
  for (const key in checks) if (!checks[key]((header as Record<string, unknown>)[key])) return false;
  return true;
}

/**
 * An invoke frame from the runtime, every field of the expected type. One per invocation: each
 * field is read by name, not in `matches`' loop (one keyed load that sees every field name takes
 * V8's slow megamorphic path).
 */
export function isInvokeHeader(header: unknown): header is InvokeHeader {
  if (!isPlainRecord(header)) return false;
  const h = header as { readonly [K in keyof InvokeHeader]: unknown };
  const c = INVOKE_FIELDS;
  return (
    c.t(h.t) && c.id(h.id) && c.method(h.method) && c.path(h.path) && c.query(h.query) && c.headers(h.headers) && c.requestId(h.requestId) && c.timeoutMs(h.timeoutMs)
  );
}

/** A load frame from the runtime, every field of the expected type. */
export function isLoadHeader(header: unknown): header is LoadHeader {
  return matches(LOAD_FIELDS, header);
}

/** A credit frame from the runtime, every field of the expected type. */
export function isCreditHeader(header: unknown): header is CreditHeader {
  return matches(CREDIT_FIELDS, header);
}

/** A cancel frame from the runtime, every field of the expected type. */
export function isCancelHeader(header: unknown): header is CancelHeader {
  return matches(CANCEL_FIELDS, header);
}
