import { z } from 'zod';
import { HandlerInterface } from './spec.js';

/**
 * Validation of the worker frames the runtime receives (the codec itself is worker/framing.ts).
 * A worker runs user code, and that code can write raw frames to its own connection, so what it
 * sends is checked before the runtime trusts it: a frame that fails here ends the connection.
 */

/** An HTTP token (RFC 9110), as node checks header names. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What node accepts in a header value: no control characters but tab (a CR or LF would split the response). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Headers of one response: at most this many names, values of at most this many characters. */
export const MAX_RESPONSE_HEADERS = 100;
export const MAX_HEADER_VALUE_CHARS = 16 * 1024;
/** Captured stdout or stderr of one invocation, in characters (the worker caps bytes lower). */
export const MAX_LOG_CHARS = 1024 * 1024;

/**
 * Response headers: names that are tokens, string (or list) values without control characters.
 * One pass by hand inside the schema: it runs for every response, and zod's record of unions
 * costs this hot path about twice as much.
 */
const HEADERS_MESSAGE = `headers must be at most ${MAX_RESPONSE_HEADERS} token names with string values of at most ${MAX_HEADER_VALUE_CHARS} characters and no control characters`;
const Headers = z.custom<Record<string, string | string[]>>(validHeaders, { message: HEADERS_MESSAGE });

function validHeaders(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  let count = 0;
  for (const name in value) {
    if (++count > MAX_RESPONSE_HEADERS || name.length > 256 || !HEADER_NAME.test(name)) return false;
    const v = (value as Record<string, unknown>)[name];
    if (typeof v === 'string') {
      if (!validHeaderValue(v)) return false;
    } else if (Array.isArray(v)) {
      if (v.length > MAX_RESPONSE_HEADERS) return false;
      for (const item of v as unknown[]) if (typeof item !== 'string' || !validHeaderValue(item)) return false;
    } else return false;
  }
  return true;
}

function validHeaderValue(value: string): boolean {
  return value.length <= MAX_HEADER_VALUE_CHARS && HEADER_VALUE.test(value);
}

const FrameId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const HelloFrame = z.object({
  t: z.literal('hello'),
  v: z.number().int(),
  pid: z.number().int(),
  loadError: z.string().max(MAX_LOG_CHARS).nullable(),
  stem: z.boolean(),
  /** The interface the loaded function runs under (null: not loaded, or its load failed). */
  interface: HandlerInterface.nullable(),
});

export const LoadedFrame = z.object({
  t: z.literal('loaded'),
  id: FrameId,
  loadError: z.string().max(MAX_LOG_CHARS).nullable(),
  interface: HandlerInterface.nullable(),
});

export const ResultFrame = z.object({
  t: z.literal('result'),
  id: FrameId,
  /** A final status only: 1xx are interim answers a client would take for another exchange. */
  statusCode: z.number().int().min(200).max(599),
  headers: Headers,
  stdout: z.string().max(MAX_LOG_CHARS),
  stderr: z.string().max(MAX_LOG_CHARS),
  error: z.string().max(MAX_LOG_CHARS).nullable(),
  errorCode: z.literal('INVALID_JSON_BODY').nullable(),
  durationMs: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** The longest text of one output frame (worker/protocol.ts MAX_OUTPUT_FRAME_CHARS). */
export const MAX_OUTPUT_CHARS = 16_384;

/** Output printed outside any invocation. */
export const OutputFrame = z.object({
  t: z.literal('output'),
  stream: z.enum(['stdout', 'stderr']),
  text: z.string().max(MAX_OUTPUT_CHARS),
});

/**
 * The result frame's rules again, as one hand-written check per field: a result arrives with
 * every response, and zod's object parse (a copy of the frame, a check object per field) was
 * the largest single cost of the runtime's own code per request. The table is typed by the
 * schema's type, which controller/pool/protocol-check.ts ties to `ResultHeader`: a field added
 * to the frame without a check here fails `npm run typecheck`. Each check gives null when the
 * value is valid, else the message zod gives for it (schemas/protocol.test.ts holds them equal).
 */
type FieldChecks<T> = { readonly [K in keyof T]-?: (value: unknown) => string | null };

const logText = (value: unknown): string | null =>
  typeof value !== 'string' ? 'expected string' : value.length > MAX_LOG_CHARS ? `too long: at most ${MAX_LOG_CHARS} characters` : null;

const RESULT_CHECKS: FieldChecks<z.infer<typeof ResultFrame>> = {
  t: (v) => (v === 'result' ? null : 'expected "result"'),
  id: (v) => (Number.isSafeInteger(v) && (v as number) >= 1 ? null : 'expected an integer from 1'),
  statusCode: (v) => (Number.isInteger(v) && (v as number) >= 200 && (v as number) <= 599 ? null : 'expected an integer from 200 to 599'),
  headers: (v) => (validHeaders(v) ? null : HEADERS_MESSAGE),
  stdout: logText,
  stderr: logText,
  error: (v) => (v === null ? null : logText(v)),
  errorCode: (v) => (v === null || v === 'INVALID_JSON_BODY' ? null : 'expected "INVALID_JSON_BODY" or null'),
  durationMs: (v) => (typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER ? null : 'expected a number from 0'),
};

/**
 * Why a result frame is invalid (`field: message`), or null when {@link ResultFrame} would
 * accept it; the frame is then used as it is (fields it does not know are ignored, as zod
 * ignores them). One named read and one direct call per field, not a loop over the table: a
 * loop reads nine names at one site, which V8 serves through its megamorphic lookup, a path
 * among those the runtime's profile spends more in than the hop floor's (docs/design.md).
 * schemas/protocol.test.ts checks that every field of the schema is checked here.
 */
export function resultFrameIssue(frame: unknown): string | null {
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) return 'frame: expected object';
  const f = frame as Record<string, unknown>;
  const c = RESULT_CHECKS;
  let issue: string | null;
  if ((issue = c.t(f.t)) !== null) return `t: ${issue}`;
  if ((issue = c.id(f.id)) !== null) return `id: ${issue}`;
  if ((issue = c.statusCode(f.statusCode)) !== null) return `statusCode: ${issue}`;
  if ((issue = c.headers(f.headers)) !== null) return `headers: ${issue}`;
  if ((issue = c.stdout(f.stdout)) !== null) return `stdout: ${issue}`;
  if ((issue = c.stderr(f.stderr)) !== null) return `stderr: ${issue}`;
  if ((issue = c.error(f.error)) !== null) return `error: ${issue}`;
  if ((issue = c.errorCode(f.errorCode)) !== null) return `errorCode: ${issue}`;
  if ((issue = c.durationMs(f.durationMs)) !== null) return `durationMs: ${issue}`;
  return null;
}

/** A streamed response's status and headers (the same rules as a result's). */
export const HeadFrame = z.object({
  t: z.literal('head'),
  id: FrameId,
  statusCode: z.number().int().min(200).max(599),
  headers: Headers,
});

/** The next bytes of a streamed response: checked by hand on the hot path too ({@link chunkFrameIssue}). */
export const ChunkFrame = z.object({
  t: z.literal('chunk'),
  id: FrameId,
});

/** A streamed response is over; `error` says why it broke off. */
export const EndFrame = z.object({
  t: z.literal('end'),
  id: FrameId,
  stdout: z.string().max(MAX_LOG_CHARS),
  stderr: z.string().max(MAX_LOG_CHARS),
  error: z.string().max(MAX_LOG_CHARS).nullable(),
  durationMs: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** Why a chunk frame is invalid, or null: one per body piece of a stream, so by hand like results. */
export function chunkFrameIssue(frame: unknown): string | null {
  const id = (frame as { id?: unknown }).id;
  return Number.isSafeInteger(id) && (id as number) >= 1 ? null : 'id: expected an integer from 1';
}

/** Every frame a worker may send. */
export const FromWorkerFrame = z.discriminatedUnion('t', [HelloFrame, ResultFrame, LoadedFrame, OutputFrame, HeadFrame, ChunkFrame, EndFrame]);
export type FromWorkerFrame = z.infer<typeof FromWorkerFrame>;
export type HelloFrame = z.infer<typeof HelloFrame>;

/**
 * Frames the runtime sends. The runtime builds them from typed values, so they are not parsed
 * on its side; they are here so the compile-time check ties every frame of the protocol.
 */
const StringOrList = z.union([z.string(), z.array(z.string())]);
export const InvokeFrame = z.object({
  t: z.literal('invoke'),
  id: FrameId,
  method: z.string(),
  path: z.string(),
  query: z.record(z.string(), StringOrList),
  headers: z.record(z.string(), StringOrList),
  requestId: z.string(),
  timeoutMs: z.number(),
});
export const CreditFrame = z.object({
  t: z.literal('credit'),
  id: FrameId,
  bytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
export const CancelFrame = z.object({
  t: z.literal('cancel'),
  id: FrameId,
});
export const LoadFrame = z.object({
  t: z.literal('load'),
  id: FrameId,
  env: z.record(z.string(), z.string()),
  interface: HandlerInterface.nullable(),
  handler: z.string().nullable(),
});
