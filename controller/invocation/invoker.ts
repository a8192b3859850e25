import type { Clock } from '../support/clock.js';
import { newRequestId } from '../support/request-id.js';
import {
  FunctionLoadFailed,
  FunctionNotFound,
  GlambdarError,
  HandlerError,
  InvalidJsonBody,
  RateLimited,
  TagNotFound,
} from '../support/errors.js';
import type { FunctionRecord, InvocationRecord } from '../state/records.js';
import type { InvocationObserver, InvocationOutcome } from './observer.js';
import type { Pool } from '../pool/router.js';
import { TokenBucket, type TakeResult } from './rate-limiter.js';
import type { Store } from '../state/store.js';
import type { TrafficPlans } from '../revisions/plans.js';
import type { RevisionTarget } from '../revisions/traffic-plan.js';
import type { InvokeRequest, InvokeResult } from '../pool/worker-client.js';
import { Timeouts } from '../support/timeouts.js';
import { Call, type CallContext, type InvocationReply } from './call.js';

export type { InvocationReply } from './call.js';
import type { ResponseStream } from '../pool/response-stream.js';

const EMPTY = Buffer.alloc(0);

/** A successful invocation as the HTTP layer sends it. */
export interface InvokeOutcome {
  requestId: string;
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  coldStart: boolean;
  rate: TakeResult;
  /** The revision whose code answered (`x-glambdar-revision`). */
  revision: number;
  /**
   * Set for a streamed response: attach a sink to it (`body` is empty). The container's slot,
   * the timeout and the record last until the stream ends.
   */
  stream?: ResponseStream;
}

/** How an invocation is run: its tag, and for one that is not a caller's own request (an async job's try), its id and patience. */
export interface InvokeOptions {
  /** The id of its record (a job's id: every try is recorded under it); a new one when not given. */
  requestId?: string;
  /** Over the rate limit, wait for a token instead of failing with RateLimited. */
  waitForRate?: boolean;
  /** The revision a traffic tag names (`/invoke/<name>@<tag>`); none: one chosen by the weights. */
  tag?: string;
}

/**
 * The invoke path: pick a revision (by weight, or by tag), rate limit, borrow a replica, send the request over its socket, enforce
 * the timeout, and report the outcome to one {@link InvocationObserver} (traffic stats,
 * metrics, the invocation log). Errors are thrown as GlambdarErrors for the HTTP layer.
 */
export class Invoker {
  #store: Store;
  #pool: Pool;
  #plans: TrafficPlans;
  #clock: Clock;
  #observer: InvocationObserver;
  #limiters = new Map<string, TokenBucket>();
  #statusOf: (err: GlambdarError) => number;
  /** What every invocation in flight shares: one timer for all timeouts, the pool, the invoker's ends. */
  #calls: CallContext;
  /** Handed to the observer at each finish; observers read it synchronously and keep nothing of it. */
  #outcome: InvocationOutcome = {
    admitted: false,
    statusCode: 0,
    waitedMs: 0,
    handlerMs: undefined,
    coldStart: false,
    record: null,
    live: true,
    revision: 0,
    scalingKey: '',
  };

  /** `statusOf` gives the status recorded for a failed invocation (the HTTP layer's mapping). */
  constructor(options: {
    store: Store;
    pool: Pool;
    plans: TrafficPlans;
    clock: Clock;
    observer: InvocationObserver;
    statusOf: (err: GlambdarError) => number;
  }) {
    this.#statusOf = options.statusOf;
    this.#store = options.store;
    this.#pool = options.pool;
    this.#plans = options.plans;
    this.#clock = options.clock;
    this.#observer = options.observer;
    this.#calls = {
      timeouts: new Timeouts(options.clock),
      pool: options.pool,
      statusOf: options.statusOf,
      settle: (call, result, failure) => this.#settle(call, result, failure),
      unsent: (call, statusCode) => this.#finish(call.name, call.target, call.revision, true, statusCode, call.startedAt, undefined, false, null),
    };
  }

  /** Forgets a function's limiter and what observers keep of it (after deletion). */
  forget(name: string): void {
    this.#limiters.delete(name);
    this.#observer.forget(name);
  }

  /** Runs one invocation of `name`: of the revision `options.tag` names, or of one chosen by the traffic weights. */
  invoke(name: string, request: InvokeRequest, body: Buffer, options?: InvokeOptions): Promise<InvokeOutcome> {
    return new Promise((resolve, reject) => this.start(name, request, body, options, { done: resolve, failed: reject }));
  }

  /**
   * {@link invoke} for the HTTP path: `reply` hears how it ended, once, and no promise is made
   * on the way when a warm replica has room (a promise and its await cost the main thread
   * microtask turns on every request). Errors reach `reply.failed` as GlambdarErrors.
   */
  start(name: string, request: InvokeRequest, body: Buffer, options: InvokeOptions | undefined, reply: InvocationReply): void {
    this.#begin(name, request, body, options, reply, this.#clock.monotonic());
  }

  #begin(name: string, request: InvokeRequest, body: Buffer, options: InvokeOptions | undefined, reply: InvocationReply, startedAt: number): void {
    let call: Call;
    try {
      const admitted = this.#admit(name, request, body, options, reply, startedAt);
      if (admitted === null) return;
      call = admitted;
    } catch (err) {
      return reply.failed(err);
    }
    try {
      // A warm replica with room is taken without a promise; otherwise wait for one.
      const replica = this.#pool.tryAcquire(call.target);
      if (replica) return call.send(replica);
      this.#pool
        .acquire(call.target)
        .then((lease) => {
          call.coldStart = lease.coldStart;
          call.send(lease.replica);
        })
        .catch((err: unknown) => call.notSent(err));
    } catch (err) {
      call.notSent(err);
    }
  }

  /**
   * The checks before a container is asked: the function, its revision, its rate limit. Null
   * when `reply` has its answer already (or a job waits for its token and starts again later).
   */
  #admit(name: string, request: InvokeRequest, body: Buffer, options: InvokeOptions | undefined, reply: InvocationReply, startedAt: number): Call | null {
    const fn = this.#store.get(name);
    // Unknown names are never observed: anyone can invoke any name.
    if (!fn || fn.deleting) throw new FunctionNotFound(name);
    const target = this.#target(fn, options?.tag);
    const rate = this.#limiter(name, fn.spec.rateLimit).take();
    if (!rate.ok && options?.waitForRate) {
      // A job waits for its token; the function may be deleted or its traffic changed meanwhile.
      this.#clock.setTimeout(() => this.#begin(name, request, body, options, reply, startedAt), Math.max(1, rate.retryAfterMs));
      return null;
    }
    if (!rate.ok) {
      const limited = new RateLimited(name, rate.limit, rate.retryAfterMs);
      this.#finish(name, target, target.revision, false, this.#statusOf(limited), startedAt, undefined, false, null);
      throw limited;
    }
    // Counted from here, waiting included: queued requests are what panic mode reacts to.
    this.#observer.start(name, target.scalingKey);
    return new Call(this.#calls, name, target, startedAt, rate, options?.requestId ?? newRequestId(), this.#clock.now(), request, body, reply);
  }

  /**
   * How a sent invocation ended: the worker's `result` or the `failure` in its way. Tells its
   * reply first, then releases the replica (not for a stream: its end does) and records it: the
   * reply writes the response at once, and what follows is the runtime's own bookkeeping, which
   * a caller waiting for its answer need not wait for (docs/design.md, "The invoke path's cost").
   */
  #settle(call: Call, result: InvokeResult | undefined, failure: GlambdarError | undefined): void {
    const { name, target, requestId, invokedAt, replica } = call;
    if (result?.stream !== undefined) return call.reply.done(this.#streamed(call, result.stream));
    if (result?.error) {
      if (replica!.loadError) failure = new FunctionLoadFailed(result.error);
      else if (result.errorCode === 'INVALID_JSON_BODY') failure = new InvalidJsonBody(result.error);
      else failure = new HandlerError(result.error);
    }
    const statusCode = failure ? this.#statusOf(failure) : result!.statusCode;
    try {
      if (failure) {
        failure.invocation = { requestId, revision: call.revision };
        call.reply.failed(failure);
      } else {
        call.reply.done({ requestId, statusCode, headers: result!.headers, body: result!.body, coldStart: call.coldStart, rate: call.rate, revision: call.revision });
      }
    } finally {
      this.#pool.release(replica!);
      const record: InvocationRecord = {
        requestId,
        funcName: name,
        revision: call.revision,
        invokedAt,
        durationMs: result?.durationMs ?? this.#clock.now() - invokedAt,
        statusCode,
        coldStart: call.coldStart,
        stdout: result?.stdout ?? '',
        stderr: result?.stderr ?? '',
        error: failure?.message ?? null,
        bytesSent: result ? result.body.length : null,
        ttfbMs: null,
      };
      this.#finish(name, target, call.revision, true, statusCode, call.startedAt, result?.durationMs, call.coldStart, record);
    }
  }

  /**
   * A response whose head came: the caller gets it now, and when its stream ends (whole,
   * broken off, cancelled or timed out) the slot is released and the invocation recorded, with
   * the bytes sent and the time to the head. A stream that broke off is recorded with its error
   * and the status its client already got.
   */
  #streamed(call: Call, stream: ResponseStream): InvokeOutcome {
    const { name, target, revision, startedAt, requestId, invokedAt, coldStart, rate } = call;
    const replica = call.replica!;
    const ttfbMs = this.#clock.now() - invokedAt;
    stream.onEnd((end) => {
      this.#pool.release(replica);
      const durationMs = end.durationMs ?? this.#clock.now() - invokedAt;
      const record: InvocationRecord = {
        requestId,
        funcName: name,
        revision,
        invokedAt,
        durationMs,
        statusCode: stream.statusCode,
        coldStart,
        stdout: end.stdout,
        stderr: end.stderr,
        error: end.error === null ? null : `the response stream broke off after ${end.bytes} bytes: ${end.error}`,
        bytesSent: end.bytes,
        ttfbMs,
      };
      this.#finish(name, target, revision, true, stream.statusCode, startedAt, durationMs, coldStart, record);
    });
    return { requestId, statusCode: stream.statusCode, headers: stream.headers, body: EMPTY, coldStart, rate, revision, stream };
  }

  #finish(
    name: string,
    target: RevisionTarget,
    revision: number,
    admitted: boolean,
    statusCode: number,
    startedAt: number,
    handlerMs: number | undefined,
    coldStart: boolean,
    record: InvocationRecord | null,
  ): void {
    const o = this.#outcome;
    o.revision = revision;
    o.scalingKey = target.scalingKey;
    o.admitted = admitted;
    o.statusCode = statusCode;
    o.waitedMs = this.#clock.monotonic() - startedAt;
    o.handlerMs = handlerMs;
    o.coldStart = coldStart;
    o.record = record;
    const now = this.#store.get(name);
    o.live = now !== undefined && !now.deleting;
    this.#observer.finish(name, o);
    o.record = null;
  }

  /** The revision a request goes to: the one `tag` names, else one picked by weight (404 for an unknown tag). */
  #target(fn: FunctionRecord, tag: string | undefined): RevisionTarget {
    const plan = this.#plans.plan(fn);
    const target = tag === undefined ? plan.pick() : plan.tagged(tag);
    if (!target) throw new TagNotFound(fn.name, tag!);
    return target;
  }

  #limiter(name: string, rate: number): TokenBucket {
    let limiter = this.#limiters.get(name);
    if (!limiter) {
      limiter = new TokenBucket(rate, this.#clock);
      this.#limiters.set(name, limiter);
    } else if (limiter.rate !== rate) limiter.configure(rate);
    return limiter;
  }

}
