/**
 * What a Lambda handler is given (payload format 2.0): the event API Gateway builds from a
 * request and the context the Node.js runtime passes beside it. Shared by the buffered
 * adapter (./lambda.ts) and the streaming one (./lambda-stream.ts).
 */
import { isTextType, mediaType, queryString } from './types.js';
import type { InvokeHeader } from '../protocol.js';

/** The payload 2.0 event (the fields API Gateway leaves out when empty are left out here too). */
export interface LambdaEvent {
  version: '2.0';
  routeKey: '$default';
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string>;
  queryStringParameters?: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: '$default';
    stage: '$default';
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** The Node.js runtime's context object, as far as it means anything here. */
export interface LambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
  /** The runtime's legacy completion methods, kept for old handlers. */
  done(error?: unknown, result?: unknown): void;
  succeed(result?: unknown): void;
  fail(error?: unknown): void;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's `requestContext.time`: `12/Mar/2020:19:03:58 +0000`. */
export function gatewayTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** Builds the payload 2.0 event of one invocation. */
export function lambdaEvent(head: InvokeHeader, body: Buffer, now: number): LambdaEvent {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const name in head.headers) {
    const raw = head.headers[name]!;
    const lower = name.toLowerCase();
    if (lower === 'cookie') {
      // Cookies move to their own field, one entry per cookie; the header is not repeated.
      cookies = (Array.isArray(raw) ? raw : [raw]).flatMap((value) => value.split(';')).map((c) => c.trim()).filter((c) => c !== '');
      continue;
    }
    headers[lower] = Array.isArray(raw) ? raw.join(',') : raw;
  }
  const query: Record<string, string> = {};
  let anyQuery = false;
  for (const name in head.query) {
    const value = head.query[name]!;
    query[name] = Array.isArray(value) ? value.join(',') : value;
    anyQuery = true;
  }
  const host = headers['host'] ?? 'localhost';
  const type = mediaType(headers['content-type']);
  // Text as text; anything else (or bytes that are not UTF-8 under no content-type) base64-encoded.
  const text = type === '' ? isUtf8(body) : isTextType(type);
  const forwarded = headers['x-forwarded-for'];
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: head.path,
    rawQueryString: queryString(head.query),
    ...(cookies !== undefined && cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(anyQuery ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'glambdar',
      domainName: host,
      domainPrefix: host.split('.')[0] ?? host,
      http: {
        method: head.method,
        path: head.path,
        protocol: 'HTTP/1.1',
        sourceIp: forwarded !== undefined ? (forwarded.split(',')[0]?.trim() ?? '') : '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: head.requestId,
      routeKey: '$default',
      stage: '$default',
      time: gatewayTime(now),
      timeEpoch: now,
    },
    ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

function isUtf8(bytes: Buffer): boolean {
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

/** What the context says of the function, from the variables the runtime sets (read once, when the adapter is made). */
export interface LambdaNames {
  functionName: string;
  functionVersion: string;
  memoryLimitInMB: string;
}

/** The context's names, from `AWS_LAMBDA_FUNCTION_*` (defaults as the Lambda runtime has them). */
export function lambdaNames(env: NodeJS.ProcessEnv): LambdaNames {
  return {
    functionName: env['AWS_LAMBDA_FUNCTION_NAME'] ?? '',
    functionVersion: env['AWS_LAMBDA_FUNCTION_VERSION'] ?? '$LATEST',
    memoryLimitInMB: env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'] ?? '',
  };
}

/** The context of one invocation; `finish` is what its legacy completion methods call. */
export function lambdaContext(head: InvokeHeader, now: number, names: LambdaNames, finish: (error: unknown, result?: unknown) => void): LambdaContext {
  const { functionName, functionVersion, memoryLimitInMB } = names;
  const deadline = now + head.timeoutMs;
  return {
    functionName,
    functionVersion,
    invokedFunctionArn: `arn:aws:lambda:glambdar:000000000000:function:${functionName}`,
    memoryLimitInMB,
    awsRequestId: head.requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `glambdar/${process.pid}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: (error, result) => finish(error, result),
    succeed: (result) => finish(null, result),
    fail: (error) => finish(error ?? new Error('handler failed')),
  };
}
