import type { Clock } from '../support/clock.js';
import { newRequestId } from '../support/request-id.js';
import {
  ContainerDied,
  FunctionLoadFailed,
  FunctionNotFound,
  GlambdarError,
  HandlerError,
  InvalidJsonBody,
  InvocationTimeout,
  RateLimited,
  TagNotFound,
} from '../support/errors.js';
import type { FunctionRecord, InvocationRecord } from '../state/records.js';
import type { InvocationObserver, InvocationOutcome } from './observer.js';
import type { Pool } from '../pool/router.js';
import type { ExitReason } from '../sandbox/sandbox.js';
import { TokenBucket, type TakeResult } from './rate-limiter.js';
import type { Store } from '../state/store.js';
import type { TrafficPlans } from '../revisions/plans.js';
import type { RevisionTarget } from '../revisions/traffic-plan.js';
import type { InvokeMeta, InvokeRequest, InvokeResult, WorkerClient } from '../pool/worker-client.js';
import type { Replica } from '../pool/replica.js';
import { TimeoutEntry, Timeouts } from '../support/timeouts.js';
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
  /** Every invocation's timeout on one timer, and the pool that replaces a timed-out replica. */
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
    this.#calls = { timeouts: new Timeouts(options.clock), pool: options.pool };
  }

  /** Forgets a function's limiter and what observers keep of it (after deletion). */
  forget(name: string): void {
    this.#limiters.delete(name);
    this.#observer.forget(name);
  }

  /** Runs one invocation of `name`: of the revision `options.tag` names, or of one chosen by the traffic weights. */
  async invoke(name: string, request: InvokeRequest, body: Buffer, options?: InvokeOptions): Promise<InvokeOutcome> {
    const startedAt = this.#clock.monotonic();
    let fn = this.#store.get(name);
    // Unknown names are never observed: anyone can invoke any name.
    if (!fn || fn.deleting) throw new FunctionNotFound(name);
    const tag = options?.tag;
    let target = this.#target(fn, tag);
    let rate = this.#limiter(name, fn.spec.rateLimit).take();
    if (!rate.ok && options?.waitForRate) {
      // A job waits for its token; the function may be deleted or its traffic changed meanwhile.
      while (!rate.ok) {
        await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, Math.max(1, rate.retryAfterMs)));
        fn = this.#store.get(name);
        if (!fn || fn.deleting) throw new FunctionNotFound(name);
        rate = this.#limiter(name, fn.spec.rateLimit).take();
      }
      target = this.#target(fn, tag);
    }
    let revision = target.revision;
    if (!rate.ok) {
      const limited = new RateLimited(name, rate.limit, rate.retryAfterMs);
      this.#finish(name, target, revision, false, this.#statusOf(limited), startedAt, undefined, false, null);
      throw limited;
    }

    // Counted from here, waiting included: queued requests are what panic mode reacts to.
    this.#observer.start(name, target.scalingKey);
    let result: InvokeResult | undefined;
    let statusCode = 0;
    let coldStart = false;
    let record: InvocationRecord | null = null;
    /** A streamed response finishes (slot, record, observers) when its stream ends, not here. */
    let streaming = false;
    try {
      const requestId = options?.requestId ?? newRequestId();
      const invokedAt = this.#clock.now();
      // A warm replica with room is taken without a promise; otherwise wait for one.
      let replica = this.#pool.tryAcquire(target);
      if (!replica) {
        const lease = await this.#pool.acquire(target);
        replica = lease.replica;
        coldStart = lease.coldStart;
      }
      // An older container answering during a rolling update runs the code of its own revision.
      if (replica.template !== target.template) revision = replica.generation;
      const timeoutMs = target.record.spec.timeoutMs;
      let failure: GlambdarError | undefined;
      try {
        result = await this.#call(replica, request, body, { requestId, timeoutMs });
      } catch (err) {
        failure = err instanceof GlambdarError ? err : new ContainerDied('the function container failed', { cause: err });
        // The pool asks the engine why a container went away; the caller deserves the answer.
        const exit = failure instanceof ContainerDied ? await replica.exit : null;
        if (exit) failure = new ContainerDied(describeExit(exit, target.record.spec.memoryMb), { cause: failure });
      } finally {
        if (result?.stream === undefined) this.#pool.release(replica);
      }
      if (result?.stream !== undefined) {
        streaming = true;
        return this.#streamed(name, target, revision, startedAt, requestId, invokedAt, coldStart, rate, replica, result.stream);
      }
      if (result?.error) {
        if (replica.loadError) failure = new FunctionLoadFailed(result.error);
        else if (result.errorCode === 'INVALID_JSON_BODY') failure = new InvalidJsonBody(result.error);
        else failure = new HandlerError(result.error);
      }
      statusCode = failure ? this.#statusOf(failure) : result!.statusCode;
      record = {
        requestId,
        funcName: name,
        revision,
        invokedAt,
        durationMs: result?.durationMs ?? this.#clock.now() - invokedAt,
        statusCode,
        coldStart,
        stdout: result?.stdout ?? '',
        stderr: result?.stderr ?? '',
        error: failure?.message ?? null,
        bytesSent: result ? result.body.length : null,
        ttfbMs: null,
      };
      if (failure) {
        failure.invocation = { requestId, revision };
        throw failure;
      }
      return { requestId, statusCode: result!.statusCode, headers: result!.headers, body: result!.body, coldStart, rate, revision };
    } catch (err) {
      // No container took the request (no capacity, engine unreachable): the log has no
      // record of it, but its caller got a status all the same, 500 for an unexpected error.
      if (statusCode === 0) statusCode = err instanceof GlambdarError ? this.#statusOf(err) : 500;
      throw err;
    } finally {
      if (!streaming) this.#finish(name, target, revision, true, statusCode, startedAt, result?.durationMs, coldStart, record);
    }
  }

  /**
   * A response whose head came: the caller gets it now, and when its stream ends (whole,
   * broken off, cancelled or timed out) the slot is released and the invocation recorded, with
   * the bytes sent and the time to the head. A stream that broke off is recorded with its error
   * and the status its client already got.
   */
  #streamed(
    name: string,
    target: RevisionTarget,
    revision: number,
    startedAt: number,
    requestId: string,
    invokedAt: number,
    coldStart: boolean,
    rate: TakeResult,
    replica: Replica,
    stream: ResponseStream,
  ): InvokeOutcome {
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

  /** Sends the request to the replica's worker; rejects with InvocationTimeout past `meta.timeoutMs`. */
  #call(replica: Replica, request: InvokeRequest, body: Buffer, meta: InvokeMeta): Promise<InvokeResult> {
    return new Promise<InvokeResult>((resolve, reject) => {
      const call = new Call(this.#calls, replica, meta.timeoutMs, resolve, reject);
      this.#calls.timeouts.add(call, meta.timeoutMs);
      (replica.client as WorkerClient).send(request, body, meta, call);
    });
  }
}

interface CallContext {
  timeouts: Timeouts;
  pool: Pool;
}

/**
 * One invocation in flight on a worker: what the worker client settles (it is the client's
 * pending entry) and what the invoker's {@link Timeouts} expires, in one object.
 */
class Call extends TimeoutEntry {
  readonly #context: CallContext;
  readonly #replica: Replica;
  readonly #timeoutMs: number;
  readonly #resolve: (result: InvokeResult) => void;
  readonly #reject: (err: Error) => void;

  constructor(context: CallContext, replica: Replica, timeoutMs: number, resolve: (result: InvokeResult) => void, reject: (err: Error) => void) {
    super();
    this.#context = context;
    this.#replica = replica;
    this.#timeoutMs = timeoutMs;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  /** The stream of a streamed answer: the timeout bounds it to its end. */
  #stream: ResponseStream | undefined;

  /** The worker answered: its timeout is moot, unless the answer is a stream still to come. */
  resolve(result: InvokeResult): void {
    const stream = result.stream;
    if (stream === undefined) this.#context.timeouts.cancel(this);
    else {
      this.#stream = stream;
      stream.onEnd(() => this.#context.timeouts.cancel(this));
    }
    this.#resolve(result);
  }

  /** The connection failed under it. */
  reject(err: Error): void {
    this.#context.timeouts.cancel(this);
    this.#reject(err);
  }

  /**
   * Past its timeout the handler may be blocking the event loop: the container is replaced. A
   * stream past it is cancelled instead (other streams may share the container, and a worker
   * that sent a head was not blocked then): the client sees it broken off, the slot is freed.
   * A worker that really is stuck fails the next invocation's timeout and is replaced then.
   */
  expire(): void {
    if (this.#stream !== undefined) {
      this.#stream.cancel(new InvocationTimeout(this.#replica.functionName, this.#timeoutMs).message);
      return;
    }
    void this.#context.pool.replace(this.#replica);
    this.#reject(new InvocationTimeout(this.#replica.functionName, this.#timeoutMs));
  }
}

/** What a caller is told about a container that stopped under its invocation. */
function describeExit(exit: ExitReason, memoryMb: number): string {
  if (exit.oomKilled) return `the function ran out of memory: its container was killed at the ${memoryMb} MiB limit (raise memoryMb)`;
  // A full JavaScript heap ends node with SIGABRT (134), or SIGSEGV (139) as seen in containers here.
  if (exit.exitCode === 134 || exit.exitCode === 139) {
    return `the function container crashed (exit code ${exit.exitCode}), as node does when its JavaScript heap (75 % of the ${memoryMb} MiB limit) is full`;
  }
  return `the function container exited with code ${exit.exitCode} during the invocation`;
}
