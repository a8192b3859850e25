/**
 * The two shapes a handler sees: the request object it receives, and the rules that turn
 * whatever it returns into status, headers and body bytes (or a stream of them).
 */
import { bodySource, isStreamBody, type BodySource, type Cancellation } from './body-source.js';

/** What the handler receives. `body` is the raw body decoded as UTF-8. */
export interface FunctionRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[]>;
  body: string;
  /** The raw body bytes, for binary payloads. */
  rawBody: Buffer;
  /**
   * Parses `body` as JSON; an empty body gives `null`, an invalid one rejects with a
   * SyntaxError the handler can catch (uncaught, the caller gets 400 `INVALID_JSON_BODY`).
   */
  json(): Promise<unknown>;
  /** Aborted when the client of a streamed response goes away (or its time is up). */
  readonly signal: AbortSignal;
}

/** A normalized response, ready for a result frame. Header names are lower-case. */
export interface FunctionResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** Set for a streamed response: the body is read from here (and `body` is empty). */
  stream?: BodySource;
}

/** Fields of the request that travel in the invoke frame's header. */
export interface RequestHead {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[]>;
}

const EMPTY = Buffer.alloc(0);
/** The signal of a request built outside an invocation: never aborted. */
const NEVER = { signal: new AbortController().signal };

/** The errors `json()` made: one of them escaping the handler is the caller's mistake, not the handler's. */
const invalidJsonErrors = new WeakSet<object>();

/** True when `err` is the error `json()` rejected with for a body that is not JSON. */
export function isInvalidJsonBody(err: unknown): boolean {
  return typeof err === 'object' && err !== null && invalidJsonErrors.has(err);
}

/** Builds the handler's request; the body is decoded only when read. */
export function createRequest(head: RequestHead, rawBody: Buffer, cancellation?: Cancellation): FunctionRequest {
  let text: string | undefined;
  const decode = (): string => (text ??= rawBody.toString('utf8'));
  return {
    method: head.method,
    path: head.path,
    query: head.query,
    headers: head.headers,
    get body(): string {
      return decode();
    },
    rawBody,
    get signal(): AbortSignal {
      return (cancellation ?? NEVER).signal;
    },
    json(): Promise<unknown> {
      const body = decode();
      if (body.trim() === '') return Promise.resolve(null);
      try {
        return Promise.resolve(JSON.parse(body) as unknown);
      } catch (cause) {
        const err = new SyntaxError(`request body is not valid JSON: ${(cause as Error).message}`, { cause });
        invalidJsonErrors.add(err);
        return Promise.reject(err);
      }
    },
  };
}

/**
 * Turns a handler's return value into a response.
 *
 * A non-null object with an own `statusCode`, `headers` or `body` key is the response shape;
 * anything else is the body itself, with status 200. Bodies: `undefined`/`null` are empty;
 * bytes default to `application/octet-stream`; strings to `text/plain; charset=utf-8`;
 * anything else is JSON (`application/json`). A content-type the handler set is kept.
 * Throws a TypeError naming the problem when the value cannot be sent (bad status code,
 * malformed headers, a body JSON cannot encode): the invocation then fails with 500.
 * A body that is a Node `Readable`, a WHATWG `ReadableStream` or an async iterable of strings
 * or bytes is streamed (default content type `application/octet-stream`).
 */
export function normalizeResponse(value: unknown): FunctionResponse {
  let statusCode = 200;
  let headers: Record<string, string | string[]> = {};
  let body: unknown = value;
  if (isResponseShape(value)) {
    if (value.statusCode !== undefined && value.statusCode !== null) statusCode = checkStatus(value.statusCode);
    if (value.headers !== undefined && value.headers !== null) headers = lowerHeaders(value.headers);
    body = value.body;
  }
  if (typeof body === 'object' && body !== null && !(body instanceof Uint8Array) && isStreamBody(body)) {
    if (headers['content-type'] === undefined) headers['content-type'] = 'application/octet-stream';
    return { statusCode, headers, body: EMPTY, stream: bodySource(body) };
  }
  const [bytes, contentType] = encodeBody(body);
  if (contentType !== undefined && headers['content-type'] === undefined) headers['content-type'] = contentType;
  return { statusCode, headers, body: bytes };
}

interface ResponseShape {
  statusCode?: unknown;
  headers?: unknown;
  body?: unknown;
}

function isResponseShape(value: unknown): value is ResponseShape {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return false;
  return Object.hasOwn(value, 'statusCode') || Object.hasOwn(value, 'body') || Object.hasOwn(value, 'headers');
}

/**
 * A final status: 200..599. 1xx are interim responses (100 Continue, 101 Switching Protocols)
 * that an HTTP client would take for another exchange, never an answer of their own.
 */
export function checkStatus(code: unknown): number {
  if (typeof code === 'number' && Number.isInteger(code) && code >= 200 && code <= 599) return code;
  throw new TypeError(`handler returned an invalid statusCode ${describe(code)}: expected an integer 200..599`);
}

export function lowerHeaders(raw: unknown): Record<string, string | string[]> {
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TypeError(`handler returned invalid headers ${describe(raw)}: expected an object`);
  }
  // No prototype: a header named __proto__ is a header, not the record's prototype.
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of Object.entries(raw as object)) {
    if (value === undefined || value === null) continue;
    if (!HEADER_NAME.test(name)) throw new TypeError(`handler returned an invalid header name ${describe(name)}`);
    out[name.toLowerCase()] = Array.isArray(value) ? value.map((item: unknown) => headerValue(item, name)) : headerValue(value, name);
  }
  return out;
}

/** An HTTP token (RFC 9110), as node checks header names. */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What node refuses in a header value: control characters (a newline would split the response). */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

export function headerValue(value: unknown, name: string): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else throw new TypeError(`handler returned an invalid value for header ${name}: ${describe(value)}`);
  if (INVALID_HEADER_VALUE.test(text)) throw new TypeError(`handler returned an invalid value for header ${name}: ${describe(text)} holds a control character`);
  return text;
}

export function encodeBody(body: unknown): [Buffer, string | undefined] {
  if (body === undefined || body === null) return [EMPTY, undefined];
  const streamed = streamKind(body);
  if (streamed !== undefined) {
    throw new TypeError(`handler returned ${streamed} as its body, which cannot be streamed: return a Node Readable, a ReadableStream or an async iterable to stream, or a string, a Buffer or a JSON value`);
  }
  if (typeof body === 'string') return [Buffer.from(body, 'utf8'), 'text/plain; charset=utf-8'];
  if (body instanceof Uint8Array) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    return [bytes, 'application/octet-stream'];
  }
  if (body instanceof ArrayBuffer) return [Buffer.from(body), 'application/octet-stream'];
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (err) {
    throw new TypeError(`handler returned a body that cannot be encoded as JSON: ${(err as Error).message}`);
  }
  if (json === undefined) throw new TypeError(`handler returned a body that cannot be encoded as JSON: ${describe(body)}`);
  return [Buffer.from(json, 'utf8'), 'application/json'];
}

/**
 * What kind of stream a body is, or undefined: a Node stream, a web ReadableStream, a
 * generator or any other (async) iterator. Those normalizeResponse streams never get here;
 * the rest (a generator, a stream-like object that is no Readable) is refused, since JSON
 * would send their internals, not their data.
 */
function streamKind(body: unknown): string | undefined {
  if (typeof body !== 'object' || body instanceof Uint8Array || Array.isArray(body)) return undefined;
  const value = body as Record<PropertyKey, unknown>;
  if (typeof value['pipe'] === 'function' && typeof value['on'] === 'function') return 'a Node stream';
  if (typeof value['getReader'] === 'function') return 'a ReadableStream';
  if (typeof value[Symbol.asyncIterator] === 'function') return 'an async iterable';
  if (typeof value[Symbol.iterator] === 'function' && typeof value['next'] === 'function') return 'a generator';
  return undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'an array';
  return value !== null && typeof value === 'object' ? 'an object' : String(value);
}
