/**
 * OpenFaaS, as its node20 template (of-watchdog HTTP mode) runs a handler:
 * `module.exports = async (event, context) => ...` with `event` `{body, headers, method, query,
 * path}` and a `context` whose `status()`, `headers()`, `succeed()` and `fail()` shape the answer.
 */
import { checkStatus, lowerHeaders, type FunctionResponse } from '../request.js';
import { errorStack, errorText, isJsonType, mediaType, type Invoke, type UserFunction } from './types.js';

/** The template's event. */
export interface OpenFaasEvent {
  body: unknown;
  headers: Record<string, string | string[]>;
  method: string;
  query: Record<string, string | string[]>;
  path: string;
}

type Callback = (error: unknown, result?: unknown) => void;

/** The template's `FunctionContext`: chainable setters, and two ways to answer. */
export class OpenFaasContext {
  #statusCode = 200;
  #headers: Record<string, unknown> = {};
  #callback: Callback;
  /** How many times the handler answered (the first answer counts). */
  cbCalled = 0;

  constructor(callback: Callback) {
    this.#callback = callback;
  }

  /** With a code: sets the status and returns the context; without: the status. */
  status(statusCode?: number): number | this {
    if (statusCode === undefined || statusCode === null) return this.#statusCode;
    this.#statusCode = statusCode;
    return this;
  }

  /** With an object: sets the response headers and returns the context; without: the headers. */
  headers(value?: Record<string, unknown>): Record<string, unknown> | this {
    if (value === undefined || value === null) return this.#headers;
    this.#headers = value;
    return this;
  }

  /** Answers with `value` as the body. */
  succeed(value?: unknown): void {
    this.cbCalled++;
    this.#callback(undefined, value);
  }

  /** Answers with an error: status 500 unless one other than 200 was set. */
  fail(value?: unknown): void {
    if (this.#statusCode === 200) this.#statusCode = 500;
    this.cbCalled++;
    this.#callback(value ?? 'failed');
  }

  /** The status as set (for the response). */
  get statusCode(): number {
    return this.#statusCode;
  }

  /** The headers as set (for the response). */
  get headerValues(): Record<string, unknown> {
    return this.#headers;
  }
}

/**
 * The template's body parsing: JSON for JSON content types, the raw bytes (a Buffer) when the
 * function's env has `RAW_BODY=true`, otherwise the text. A malformed JSON body is a 400, as the
 * template's body parser answers it.
 */
export function openFaasBody(headers: Record<string, string | string[]>, body: Buffer, rawBody: boolean): { ok: true; value: unknown } | { ok: false } {
  if (rawBody) return { ok: true, value: body };
  if (isJsonType(mediaType(headers['content-type']))) {
    if (body.length === 0) return { ok: true, value: {} };
    try {
      return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
    } catch {
      return { ok: false };
    }
  }
  return { ok: true, value: body.toString('utf8') };
}

/** Adapts an OpenFaaS handler. */
export function openFaasAdapter(handler: UserFunction, env: NodeJS.ProcessEnv = process.env): Invoke {
  const rawBody = env['RAW_BODY'] === 'true';
  return async (head, body) => {
    const parsed = openFaasBody(head.headers, body, rawBody);
    if (!parsed.ok) return text(400, 'Bad Request: the body is not valid JSON');
    const event: OpenFaasEvent = { body: parsed.value, headers: head.headers, method: head.method, query: head.query, path: head.path };
    let answer!: (response: FunctionResponse) => void;
    let refuse!: (err: unknown) => void;
    const answered = new Promise<FunctionResponse>((resolve, reject) => {
      answer = resolve;
      refuse = reject;
    });
    let done = false;
    const context = new OpenFaasContext((error, result) => {
      if (done) return;
      done = true;
      try {
        answer(error !== undefined && error !== null ? failure(context, error) : success(context, result));
      } catch (err) {
        // An answer that cannot be sent (a bad status or header) fails the invocation.
        refuse(err);
      }
    });
    const callback: Callback = (error, result) => (error !== undefined && error !== null ? context.fail(error) : context.succeed(result));
    Promise.resolve()
      .then(() => handler(event, context, callback))
      .then(
        (result) => {
          if (context.cbCalled === 0) context.succeed(result);
        },
        (err: unknown) => {
          // A throw answers like fail(): the template has no status for it, 500 says what happened.
          if (context.cbCalled === 0) context.fail(err);
        },
      );
    return answered;
  };
}

function success(context: OpenFaasContext, result: unknown): FunctionResponse {
  const headers = lowerHeaders(context.headerValues);
  let body: Buffer;
  let type: string | undefined;
  if (result === undefined || result === null) body = Buffer.alloc(0);
  else if (Buffer.isBuffer(result) || result instanceof Uint8Array) {
    body = Buffer.from(result);
    type = 'application/octet-stream';
  } else if (typeof result === 'string') {
    body = Buffer.from(result, 'utf8');
    type = 'text/html; charset=utf-8'; // express's res.send for a string
  } else {
    body = Buffer.from(JSON.stringify(result) ?? '', 'utf8');
    type = 'application/json; charset=utf-8';
  }
  if (type !== undefined && headers['content-type'] === undefined) headers['content-type'] = type;
  return { statusCode: checkStatus(context.statusCode), headers, body };
}

function failure(context: OpenFaasContext, error: unknown): FunctionResponse {
  // The template logs the error and sends its text; the stack goes to the invocation's log.
  process.stderr.write(`${errorStack(error)}\n`);
  const message = error instanceof Error ? `${error.name}: ${error.message}` : errorText(error);
  return text(checkStatus(context.statusCode), message);
}

function text(statusCode: number, message: string): FunctionResponse {
  return { statusCode, headers: { 'content-type': 'text/html; charset=utf-8' }, body: Buffer.from(message, 'utf8') };
}
