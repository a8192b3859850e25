/** The types of a worker connection's requests and answers (worker-client.ts re-exports them). */
import type { InvokeHeader, LoadHeader } from '../../worker/protocol.js';
import type { Clock } from '../support/clock.js';
import type { FrameBudget } from './frame-budget.js';
import type { ResponseStream } from './response-stream.js';

/** What one invocation sends: everything but the frame id and what {@link InvokeMeta} adds. */
export type InvokeRequest = Omit<InvokeHeader, 't' | 'id' | 'requestId' | 'timeoutMs'>;

/** What the invoke path adds to a request: its id and how long it may take. */
export type InvokeMeta = Pick<InvokeHeader, 'requestId' | 'timeoutMs'>;

/** What a worker answered for one invocation. */
export interface InvokeResult {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  stdout: string;
  stderr: string;
  error: string | null;
  /** Set when the failure was the caller's (a body that is not JSON), see ResultHeader. */
  errorCode: 'INVALID_JSON_BODY' | null;
  durationMs: number;
  /**
   * Set when the response is streamed: the worker sent its head, and the body follows on the
   * stream (`body` is empty, the logs and duration come with the stream's end).
   */
  stream?: ResponseStream;
}

/** Who waits for one invocation's answer: told exactly once, unless the connection outlives it unanswered. */
export interface Pending {
  resolve(result: InvokeResult): void;
  reject(err: Error): void;
}

/** Where a function starts and how it is called: `spec.handler` and `spec.interface` (null: the defaults). */
export type FunctionEntry = Pick<LoadHeader, 'interface' | 'handler'>;

/** What a client is accounted under and timed with. */
export interface ClientContext {
  clock: Clock;
  budget: FrameBudget;
  /** The budget's key: the function's name ('' for a stem cell until it is given one). */
  budgetKey: string;
}
