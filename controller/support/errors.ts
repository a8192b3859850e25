/**
 * The one error hierarchy of Glambdar. Every failure a user can see carries a stable `code`;
 * `api/http-errors.ts` is the only place that turns a code into an HTTP status.
 * Messages are written for users and never contain a host path.
 */
export class GlambdarError extends Error {
  readonly code: string = 'INTERNAL';
  /**
   * The invocation this failure ended, once a container took it: the caller is told its request
   * id and revision as a success would tell them, so the failed call's log record can be found.
   */
  invocation?: { requestId: string; revision: number };

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An error with the messages of its causes, "outer: inner: innermost", for the operator's log:
 * what a user is told stays generic, and the log says what the engine answered and where.
 */
export function withCauses(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 5; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? e.message : String(e));
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ');
}

/** Input that does not parse: a body, a form field, a query parameter. */
export class InvalidInput extends GlambdarError {
  override readonly code = 'INVALID_INPUT';
}

/** A function name that is not a DNS label. */
export class InvalidName extends GlambdarError {
  override readonly code = 'INVALID_NAME';
}

/** An uploaded archive that is unsafe, too big once unpacked, or has no index.js. */
export class InvalidArchive extends GlambdarError {
  override readonly code = 'INVALID_ARCHIVE';
}

/** The function's code does not parse (its entry file has a syntax error): `file:line` and the error. */
export class InvalidCode extends GlambdarError {
  override readonly code = 'INVALID_CODE';
}

/** No such function, or it is being deleted. */
export class FunctionNotFound extends GlambdarError {
  override readonly code = 'FUNCTION_NOT_FOUND';
  constructor(readonly functionName: string) {
    super(`function "${functionName}" not found`);
  }
}

/** The function is being deleted (its containers drain); the name is free once the deletion is done. */
export class FunctionDeleting extends GlambdarError {
  override readonly code = 'FUNCTION_DELETING';
  constructor(functionName: string) {
    super(`function "${functionName}" is being deleted (its containers are draining); deploy it again once it is gone (GET /info/${functionName} answers 404)`);
  }
}

/** No traffic entry of the function carries this tag (`/invoke/<name>@<tag>`). */
export class TagNotFound extends GlambdarError {
  override readonly code = 'TAG_NOT_FOUND';
  constructor(functionName: string, tag: string) {
    super(`function "${functionName}" has no traffic tag "${tag}"`);
  }
}

/** The function belongs to a manifest file; change it there. */
export class OwnedByManifest extends GlambdarError {
  override readonly code = 'OWNED_BY_MANIFEST';
  constructor(functionName: string, readonly manifestPath: string) {
    super(`function "${functionName}" is managed by manifest ${manifestPath}; edit or remove that file instead`);
  }
}

/** The function was deployed through the API; a manifest takes it over only with `glambdar/adopt: "true"`. */
export class OwnedByApi extends GlambdarError {
  override readonly code = 'OWNED_BY_API';
  constructor(functionName: string) {
    super(`function "${functionName}" was deployed through the API; a manifest takes it over only with metadata.annotations "glambdar/adopt": "true"`);
  }
}

/** An invocation body or upload over its limit. */
export class PayloadTooLarge extends GlambdarError {
  override readonly code = 'PAYLOAD_TOO_LARGE';
}

/** Over the function's rate limit; `retryAfterMs` says when a token is back. */
export class RateLimited extends GlambdarError {
  override readonly code = 'RATE_LIMITED';
  constructor(functionName: string, readonly limit: number, readonly retryAfterMs: number) {
    super(`function "${functionName}" is rate limited to ${limit} requests per second`);
  }
}

/** A TypeScript entry did not compile at deploy; the message names file:line:column. */
export class CompileFailed extends GlambdarError {
  override readonly code = 'COMPILE_FAILED';
}

/** The handler threw or rejected; the message is the handler's. */
export class HandlerError extends GlambdarError {
  override readonly code = 'HANDLER_ERROR';
}

/** The handler let the error of `req.json()` escape: the caller sent a body that is not JSON. */
export class InvalidJsonBody extends GlambdarError {
  override readonly code = 'INVALID_JSON_BODY';
}

/** index.js could not be loaded or exports no handler. */
export class FunctionLoadFailed extends GlambdarError {
  override readonly code = 'FUNCTION_LOAD_FAILED';
}

/** A deploy asked to wait (`?wait=ready`) for a generation that did not load: the load or start error. */
export class NotReady extends GlambdarError {
  override readonly code = 'NOT_READY';
}

/** The container or its socket went away while a request was in flight. */
export class ContainerDied extends GlambdarError {
  override readonly code = 'CONTAINER_DIED';
}

/** No container could take the request within the queue time. */
export class NoCapacity extends GlambdarError {
  override readonly code = 'NO_CAPACITY';
  constructor(message: string, readonly retryAfterMs = 1000) {
    super(message);
  }
}

/** The data disk is full (or under its reserve): nothing was written. */
export class InsufficientStorage extends GlambdarError {
  override readonly code = 'INSUFFICIENT_STORAGE';
}

/** The Docker engine cannot be reached or refused to start a container. */
export class SandboxUnavailable extends GlambdarError {
  override readonly code = 'SANDBOX_UNAVAILABLE';
}

/** `docker build` of a function's image failed (the engine's message says why). */
export class ImageBuildFailed extends GlambdarError {
  override readonly code = 'IMAGE_BUILD_FAILED';
}

/** The handler ran past `timeoutMs`. */
export class InvocationTimeout extends GlambdarError {
  override readonly code = 'INVOCATION_TIMEOUT';
  constructor(functionName: string, timeoutMs: number) {
    super(`function "${functionName}" did not answer within ${timeoutMs} ms`);
  }
}

/** A reconcile failure that retrying cannot fix; logged, not retried. */
export class TerminalError extends GlambdarError {
  override readonly code = 'TERMINAL';
}

/** No async job has this request id (or it was trimmed after its retention). */
export class JobNotFound extends GlambdarError {
  override readonly code = 'JOB_NOT_FOUND';
  constructor(requestId: string) {
    super(`no async job "${requestId}"`);
  }
}

/** Only a dead job can be queued again. */
export class JobNotDead extends GlambdarError {
  override readonly code = 'JOB_NOT_DEAD';
  constructor(requestId: string, status: string) {
    super(`job "${requestId}" is ${status}; only a dead job can be retried`);
  }
}

/** The function's async queue holds GLAMBDAR_MAX_JOBS jobs; `retryAfterMs` says when to try again. */
export class QueueFull extends GlambdarError {
  override readonly code = 'QUEUE_FULL';
  constructor(functionName: string, max: number, readonly retryAfterMs = 30_000) {
    super(`function "${functionName}" has ${max} async jobs queued, running or dead (GLAMBDAR_MAX_JOBS); try again later, or retry or wait out the ones it has`);
  }
}

/** No route matches the request. */
export class RouteNotFound extends GlambdarError {
  override readonly code = 'ROUTE_NOT_FOUND';
}

/**
 * No credential, or not one this route accepts: the admin token on control routes, a key of the
 * function (or the admin token) on a private function. Answered with `WWW-Authenticate`.
 */
export class Unauthorized extends GlambdarError {
  override readonly code = 'UNAUTHORIZED';
}

/** A valid credential that does not open this door: a key of another function. */
export class Forbidden extends GlambdarError {
  override readonly code = 'FORBIDDEN';
}

/** A control request for a host name this runtime does not answer to (DNS rebinding). */
export class HostNotAllowed extends GlambdarError {
  override readonly code = 'HOST_NOT_ALLOWED';
}

/** A control request sent by a browser page of another site. */
export class OriginNotAllowed extends GlambdarError {
  override readonly code = 'ORIGIN_NOT_ALLOWED';
}

/** No such secret. */
export class SecretNotFound extends GlambdarError {
  override readonly code = 'SECRET_NOT_FOUND';
  constructor(readonly secretName: string) {
    super(`secret "${secretName}" not found`);
  }
}

/** A secret some functions still name in `spec.secrets`. */
export class SecretInUse extends GlambdarError {
  override readonly code = 'SECRET_IN_USE';
  constructor(secretName: string, readonly functions: readonly string[]) {
    super(`secret "${secretName}" is used by ${functions.map((f) => `"${f}"`).join(', ')}; remove it from their spec.secrets first`);
  }
}

/** No key with this id for this function. */
export class KeyNotFound extends GlambdarError {
  override readonly code = 'KEY_NOT_FOUND';
  constructor(functionName: string, id: string) {
    super(`function "${functionName}" has no key "${id}"`);
  }
}

/**
 * A function that cannot be exported as valid objects of the target platform: an object the
 * platform's schema refuses, or a spec value the platform reserves. Nothing is printed.
 */
export class ExportInvalid extends GlambdarError {
  override readonly code = 'EXPORT_INVALID';
}
