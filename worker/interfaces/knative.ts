/**
 * Knative Functions, as `func`'s Node.js template runs them (faas-js-runtime):
 * `handle(context, body)`, where `context` carries the request (`log`, `query`, `headers`,
 * `method`, `httpVersion`, `body`) and the answer is `{statusCode, headers, body}`, a bare body,
 * or nothing (204). A thrown error answers its `statusCode` (500 without one) and its message.
 */
import { checkStatus, encodeBody, lowerHeaders, type FunctionResponse } from '../request.js';
import { errorStack, errorText, isJsonType, mediaType, type Invoke, type UserFunction } from './types.js';

/** The template's logger, as far as functions use it: one line per call. */
export interface KnativeLog {
  trace(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  fatal(...args: unknown[]): void;
}

/** The template's invocation context. */
export interface KnativeContext {
  log: KnativeLog;
  query: Record<string, string | string[]>;
  headers: Record<string, string | string[]>;
  method: string;
  httpVersion: string;
  httpVersionMajor: number;
  httpVersionMinor: number;
  contentType: string | undefined;
  body: unknown;
  rawBody: Buffer;
}

/** Writes `level: message` lines to the invocation's log (stderr from warn up). */
function logger(): KnativeLog {
  const line = (level: string, stream: NodeJS.WriteStream) => (...args: unknown[]) => {
    stream.write(`${level}: ${args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? errorStack(a) : safeJson(a))).join(' ')}\n`);
  };
  return {
    trace: line('trace', process.stdout),
    debug: line('debug', process.stdout),
    info: line('info', process.stdout),
    warn: line('warn', process.stderr),
    error: line('error', process.stderr),
    fatal: line('fatal', process.stderr),
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The body as the template hands it over: parsed JSON for JSON types, an object for a form,
 * text for text and unknown types, undefined when empty. Malformed JSON stays text.
 */
export function knativeBody(headers: Record<string, string | string[]>, body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const type = mediaType(headers['content-type']);
  const text = body.toString('utf8');
  if (isJsonType(type)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
  if (type === 'application/octet-stream') return body;
  return text;
}

/** Adapts a Knative `handle(context, body)`. */
export function knativeAdapter(handle: UserFunction): Invoke {
  const log = logger();
  return async (head, rawBody) => {
    const body = knativeBody(head.headers, rawBody);
    const contentType = head.headers['content-type'];
    const context: KnativeContext = {
      log,
      query: { ...head.query },
      headers: head.headers,
      method: head.method,
      httpVersion: '1.1',
      httpVersionMajor: 1,
      httpVersionMinor: 1,
      contentType: Array.isArray(contentType) ? contentType[0] : contentType,
      body,
      rawBody,
    };
    let answer: unknown;
    try {
      answer = await handle(context, body);
    } catch (err) {
      log.error(err);
      return thrown(err);
    }
    return knativeResponse(answer);
  };
}

/** An error's status: its `statusCode` (or a numeric `code`), else 500; its message as text. */
function thrown(err: unknown): FunctionResponse {
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  const candidate = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.code === 'number' ? e.code : 500;
  const statusCode = Number.isInteger(candidate) && candidate >= 200 && candidate <= 599 ? candidate : 500;
  return { statusCode, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: Buffer.from(errorText(err), 'utf8') };
}

/**
 * Maps what `handle` returned: nothing (or an empty string) is 204; a string is text; an object
 * with `statusCode`, `headers` or `body` is the response; any other value is a JSON body.
 */
export function knativeResponse(answer: unknown): FunctionResponse {
  if (answer === undefined || answer === null || answer === '') return { statusCode: 204, headers: {}, body: Buffer.alloc(0) };
  const shaped = typeof answer === 'object' && !(answer instanceof Uint8Array) && ['statusCode', 'headers', 'body'].some((key) => Object.hasOwn(answer, key));
  if (!shaped) {
    const [body, type] = encodeBody(answer);
    return { statusCode: 200, headers: type === undefined ? {} : { 'content-type': type }, body };
  }
  const { statusCode, headers, body } = answer as { statusCode?: unknown; headers?: unknown; body?: unknown };
  const out = headers === undefined || headers === null ? {} : lowerHeaders(headers);
  const [bytes, type] = encodeBody(body);
  if (type !== undefined && out['content-type'] === undefined) out['content-type'] = type;
  const status = statusCode === undefined || statusCode === null ? (bytes.length === 0 ? 204 : 200) : checkStatus(statusCode);
  return { statusCode: status, headers: out, body: bytes };
}
