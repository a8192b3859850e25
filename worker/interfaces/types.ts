/**
 * What every handler interface adapter is: a function from one invoke frame to one response.
 * An adapter builds the request its platform's handlers expect (a Lambda event, an OpenFaaS
 * event and context, a WHATWG Request...), calls the user's function, and maps what it answers
 * the way that platform does. A throw fails the invocation (500 `HANDLER_ERROR`).
 */
import type { InvokeHeader } from '../protocol.js';
import type { FunctionResponse } from '../request.js';
import type { Cancellation } from '../body-source.js';

/**
 * Runs the user's function for one invocation. `cancellation` is aborted when the runtime
 * cancels a streamed response (the client went away); adapters hand its signal to handlers.
 */
export type Invoke = (head: InvokeHeader, body: Buffer, cancellation?: Cancellation) => Promise<FunctionResponse>;

/** What the worker offers adapters beyond the request: work that outlives a response. */
export interface WorkerScope {
  /** Keeps the worker from draining until `promise` settles (fetch's `ctx.waitUntil`). */
  waitUntil(promise: unknown): void;
}

/** A scope that tracks nothing: for tests and tools that load a function outside a worker. */
export const DETACHED_SCOPE: WorkerScope = {
  waitUntil(promise) {
    void Promise.resolve(promise).catch(() => undefined);
  },
};

/** A function value as the user exported it. */
export type UserFunction = (...args: unknown[]) => unknown;

/** True for a thenable: what an async handler returns. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** Request headers with every value one string, repeated values joined by `, ` (lower-case names). */
export function joinedHeaders(headers: Record<string, string | string[]>, separator = ','): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name]!;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(separator) : value;
  }
  return out;
}

/** The query as a URL's query string (`a=1&a=2&b=x`), in the order the runtime parsed it. */
export function queryString(query: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const name in query) {
    const value = query[name]!;
    if (Array.isArray(value)) for (const item of value) params.append(name, item);
    else params.append(name, value);
  }
  return params.toString();
}

/** The media type of a content-type header, lower-case, without parameters ('' when absent). */
export function mediaType(contentType: string | string[] | undefined): string {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  if (value === undefined) return '';
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/** `application/json`, and the `+json` types (`application/problem+json`...). */
export function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/**
 * Media types whose bodies are text: `text/*`, JSON and XML types, JavaScript and form
 * encoding. Everything else is bytes.
 */
export function isTextType(type: string): boolean {
  return (
    type.startsWith('text/') ||
    isJsonType(type) ||
    type === 'application/xml' ||
    type.endsWith('+xml') ||
    type === 'application/javascript' ||
    type === 'application/x-www-form-urlencoded' ||
    type === 'application/graphql'
  );
}

/** Adds one response header value (lower-case name), keeping earlier ones (a list for repeats). */
export function appendHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const lower = name.toLowerCase();
  const existing = headers[lower];
  if (existing === undefined) headers[lower] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else headers[lower] = [existing, value];
}

/** The message of anything thrown, as a response or log line shows it. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return String(err);
  } catch {
    return Object.prototype.toString.call(err);
  }
}

/** The stack of anything thrown, for the invocation's log. */
export function errorStack(err: unknown): string {
  if (err instanceof Error && typeof err.stack === 'string') return err.stack;
  return `Uncaught ${errorText(err)}`;
}
