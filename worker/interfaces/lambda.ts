/**
 * AWS Lambda behind an API Gateway HTTP API or a Function URL (payload format 2.0):
 * `handler(event, context[, callback])`. The event and the mapping of the answer follow what
 * API Gateway does; the context carries what the Node.js runtime's does, from the
 * `AWS_LAMBDA_FUNCTION_*` variables the runtime sets for lambda functions.
 */
import { checkStatus, headerValue, HEADER_NAME, type FunctionResponse } from '../request.js';
import { appendHeader, isThenable, type Invoke, type UserFunction } from './types.js';
import { lambdaContext, lambdaEvent, lambdaNames } from './lambda-event.js';
import { STREAMING, streamingLambdaAdapter } from './lambda-stream.js';

/**
 * Adapts a Lambda handler: async handlers resolve their answer, callback-style ones
 * (`(event, context, callback)`) call back, and a synchronous one with fewer parameters
 * answers what it returns. Whichever comes first counts. A handler wrapped in
 * `awslambda.streamifyResponse` streams (./lambda-stream.ts).
 */
export function lambdaAdapter(handler: UserFunction, env: NodeJS.ProcessEnv = process.env): Invoke {
  if ((handler as { [STREAMING]?: unknown })[STREAMING] === 'response') return streamingLambdaAdapter(handler, env);
  const names = lambdaNames(env);
  const waitsForCallback = handler.length >= 3;
  return (head, body) => {
    const now = Date.now();
    const event = lambdaEvent(head, body, now);
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const finish = (error: unknown, result?: unknown): void => {
        if (settled) return;
        settled = true;
        if (error !== null && error !== undefined) reject(error);
        else resolve(result);
      };
      const context = lambdaContext(head, now, names, finish);
      let returned: unknown;
      try {
        returned = handler(event, context, (error: unknown, result?: unknown) => finish(error, result));
      } catch (err) {
        finish(err);
        return;
      }
      if (isThenable(returned)) returned.then((result) => finish(null, result), (err: unknown) => finish(err ?? new Error('handler rejected')));
      else if (!waitsForCallback) finish(null, returned);
      // Otherwise the callback answers; the runtime's timeout bounds the wait.
    }).then(lambdaResponse);
  };
}

/**
 * Maps a handler's answer as API Gateway (payload 2.0) does: with a `statusCode`, the answer
 * is the response (`headers`, `multiValueHeaders`, `cookies` as `set-cookie`, a string `body`,
 * base64-decoded when `isBase64Encoded`); without one, the whole answer is a 200 JSON body.
 */
export function lambdaResponse(result: unknown): FunctionResponse {
  if (result === null || typeof result !== 'object' || !Object.hasOwn(result, 'statusCode')) {
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(result ?? null) ?? 'null', 'utf8') };
  }
  const answer = result as { statusCode: unknown; headers?: unknown; multiValueHeaders?: unknown; cookies?: unknown; body?: unknown; isBase64Encoded?: unknown };
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of entries(answer.headers, 'headers')) {
    if (value === undefined || value === null) continue;
    appendHeader(headers, checkedName(name), headerValue(value, name));
  }
  for (const [name, values] of entries(answer.multiValueHeaders, 'multiValueHeaders')) {
    if (values === undefined || values === null) continue;
    for (const value of Array.isArray(values) ? values : [values]) appendHeader(headers, checkedName(name), headerValue(value, name));
  }
  if (answer.cookies !== undefined && answer.cookies !== null) {
    if (!Array.isArray(answer.cookies)) throw new TypeError('handler returned invalid cookies: expected an array of strings');
    for (const cookie of answer.cookies) appendHeader(headers, 'set-cookie', headerValue(cookie, 'set-cookie'));
  }
  let body: Buffer;
  if (answer.body === undefined || answer.body === null) body = Buffer.alloc(0);
  else if (typeof answer.body === 'string') body = Buffer.from(answer.body, answer.isBase64Encoded === true ? 'base64' : 'utf8');
  else body = Buffer.from(JSON.stringify(answer.body) ?? '', 'utf8');
  return { statusCode: checkStatus(answer.statusCode), headers, body };
}

function entries(value: unknown, field: string): Array<[string, unknown]> {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`handler returned invalid ${field}: expected an object`);
  return Object.entries(value);
}

function checkedName(name: string): string {
  if (!HEADER_NAME.test(name)) throw new TypeError(`handler returned an invalid header name ${JSON.stringify(name)}`);
  return name;
}
