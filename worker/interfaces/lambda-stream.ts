/**
 * Lambda response streaming, as on Lambda with a Function URL: the handler is wrapped in
 * `awslambda.streamifyResponse(async (event, responseStream, context) => ...)` and writes to
 * `responseStream` (a Writable); `awslambda.HttpResponseStream.from(responseStream, {statusCode,
 * headers, cookies})` sets the status and headers first. The `awslambda` global is installed
 * before a function loads ({@link installAwsLambdaGlobal}), since modules call it at load.
 */
import { PushSource } from '../body-source.js';
import { checkStatus, headerValue, HEADER_NAME, type FunctionResponse } from '../request.js';
import { lambdaContext, lambdaEvent, lambdaNames } from './lambda-event.js';
import { appendHeader, type Invoke, type UserFunction } from './types.js';

/** The mark Lambda's Node.js runtime sets on a streaming handler. */
export const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');

/** What `HttpResponseStream.from` takes: API Gateway's response fields, without a body. */
export interface HttpResponseMetadata {
  statusCode?: number;
  headers?: Record<string, unknown>;
  cookies?: string[];
}

/** The stream a streaming handler writes its body to. */
export class LambdaResponseStream extends PushSource {
  metadata: HttpResponseMetadata | null = null;
  contentType = 'application/octet-stream';

  /** As on Lambda: the content type of a response without metadata. */
  setContentType(type: string): void {
    this.contentType = type;
  }
}

/** `awslambda.HttpResponseStream`: `from` sets the status and headers of a stream not yet written to. */
export class HttpResponseStream {
  static from(stream: LambdaResponseStream, metadata: HttpResponseMetadata): LambdaResponseStream {
    stream.metadata = metadata ?? {};
    return stream;
  }
}

/** The global Lambda's Node.js runtime offers streaming handlers. */
export const awslambda = {
  streamifyResponse<F extends UserFunction>(handler: F): F {
    Object.defineProperty(handler, STREAMING, { value: 'response', configurable: true });
    return handler;
  },
  HttpResponseStream,
};

/** Defines `globalThis.awslambda` unless the function's environment already has one. */
export function installAwsLambdaGlobal(): void {
  const scope = globalThis as { awslambda?: unknown };
  scope.awslambda ??= awslambda;
}

/**
 * Adapts a streaming handler: the response's head leaves at the first write (or the end), with
 * the status and headers `HttpResponseStream.from` set; the body is pulled from the stream at
 * the client's pace. A rejection before the first write fails the invocation as usual; after
 * it, it breaks the stream off. The handler returning ends a stream it left open.
 */
export function streamingLambdaAdapter(handler: UserFunction, env: NodeJS.ProcessEnv = process.env): Invoke {
  const names = lambdaNames(env);
  return (head, body) => {
    const now = Date.now();
    const event = lambdaEvent(head, body, now);
    const stream = new LambdaResponseStream();
    return new Promise<FunctionResponse>((resolve, reject) => {
      let started = false;
      stream.onStart = () => {
        started = true;
        try {
          resolve(streamedResponse(stream));
        } catch (err) {
          reject(err);
          stream.destroy(err as Error);
        }
      };
      const failed = (err: unknown): void => {
        const error = err instanceof Error ? err : new Error(String(err));
        if (!started) reject(error);
        else stream.fail(error);
      };
      const context = lambdaContext(head, now, names, (error) => {
        if (error !== null && error !== undefined) failed(error);
      });
      let returned: unknown;
      try {
        returned = handler(event, stream, context);
      } catch (err) {
        failed(err);
        return;
      }
      Promise.resolve(returned).then(
        () => stream.finish(),
        (err: unknown) => failed(err ?? new Error('handler rejected')),
      );
    });
  };
}

function streamedResponse(stream: LambdaResponseStream): FunctionResponse {
  const metadata = stream.metadata;
  const headers: Record<string, string | string[]> = {};
  if (metadata?.headers !== undefined && metadata.headers !== null) {
    if (typeof metadata.headers !== 'object' || Array.isArray(metadata.headers)) throw new TypeError('HttpResponseStream.from got invalid headers: expected an object');
    for (const [name, value] of Object.entries(metadata.headers)) {
      if (value === undefined || value === null) continue;
      if (!HEADER_NAME.test(name)) throw new TypeError(`HttpResponseStream.from got an invalid header name ${JSON.stringify(name)}`);
      appendHeader(headers, name, headerValue(value, name));
    }
  }
  if (metadata?.cookies !== undefined) {
    if (!Array.isArray(metadata.cookies)) throw new TypeError('HttpResponseStream.from got invalid cookies: expected an array of strings');
    for (const cookie of metadata.cookies) appendHeader(headers, 'set-cookie', headerValue(cookie, 'set-cookie'));
  }
  if (headers['content-type'] === undefined) headers['content-type'] = stream.contentType;
  return { statusCode: checkStatus(metadata?.statusCode ?? 200), headers, body: Buffer.alloc(0), stream };
}
