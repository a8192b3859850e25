/**
 * One invocation in flight, from its admission by the {@link Invoker} to its end: see {@link Call}.
 */
import type { Pool } from '../pool/router.js';
import type { Replica } from '../pool/replica.js';
import type { ResponseStream } from '../pool/response-stream.js';
import type { InvokeRequest, InvokeResult, WorkerClient } from '../pool/worker-client.js';
import type { RevisionTarget } from '../revisions/traffic-plan.js';
import type { ExitReason } from '../sandbox/sandbox.js';
import { ContainerDied, GlambdarError, InvocationTimeout } from '../support/errors.js';
import { TimeoutEntry, type Timeouts } from '../support/timeouts.js';
import type { InvokeOutcome } from './invoker.js';
import type { TakeResult } from './rate-limiter.js';

/** Where an invocation's end goes, once: its outcome, or why it failed (a GlambdarError, or an unexpected error). */
export interface InvocationReply {
  done(outcome: InvokeOutcome): void;
  failed(err: unknown): void;
}

/** What every {@link Call} shares: the timeouts, the pool, and the invoker's ends of a call. */
export interface CallContext {
  timeouts: Timeouts;
  pool: Pool;
  statusOf: (err: GlambdarError) => number;
  settle: (call: Call, result: InvokeResult | undefined, failure: GlambdarError | undefined) => void;
  unsent: (call: Call, statusCode: number) => void;
}

/**
 * One invocation from its admission to its end: the worker client's pending entry, the
 * invoker's {@link Timeouts} entry, and what the invoker needs to finish it, in one object
 * (no closure, promise or timer of its own). Each end is reached once: the worker answers, the
 * connection fails, or the timeout passes, and whichever comes first cancels the others.
 */
export class Call extends TimeoutEntry {
  readonly #context: CallContext;
  readonly name: string;
  readonly target: RevisionTarget;
  readonly startedAt: number;
  readonly rate: TakeResult;
  readonly requestId: string;
  readonly invokedAt: number;
  readonly reply: InvocationReply;
  #request: InvokeRequest;
  #body: Buffer;
  revision: number;
  coldStart = false;
  replica: Replica | null = null;
  #timeoutMs = 0;
  /** The stream of a streamed answer: the timeout bounds it to its end. */
  #stream: ResponseStream | undefined;
  #ended = false;

  constructor(
    context: CallContext,
    name: string,
    target: RevisionTarget,
    startedAt: number,
    rate: TakeResult,
    requestId: string,
    invokedAt: number,
    request: InvokeRequest,
    body: Buffer,
    reply: InvocationReply,
  ) {
    super();
    this.#context = context;
    this.name = name;
    this.target = target;
    this.startedAt = startedAt;
    this.rate = rate;
    this.requestId = requestId;
    this.invokedAt = invokedAt;
    this.#request = request;
    this.#body = body;
    this.reply = reply;
    this.revision = target.revision;
  }

  /** Sends the request to `replica`'s worker, timed by the function's timeout. */
  send(replica: Replica): void {
    this.replica = replica;
    // An older container answering during a rolling update runs the code of its own revision.
    if (replica.template !== this.target.template) this.revision = replica.generation;
    this.#timeoutMs = this.target.record.spec.timeoutMs;
    this.#context.timeouts.add(this, this.#timeoutMs);
    (replica.client as WorkerClient).send(this.#request, this.#body, { requestId: this.requestId, timeoutMs: this.#timeoutMs }, this);
  }

  /** No container took the request (no capacity, engine unreachable): no record, but a status all the same (500 for an unexpected error). */
  notSent(err: unknown): void {
    this.#context.timeouts.cancel(this);
    this.#end(() => {
      this.#context.unsent(this, err instanceof GlambdarError ? this.#context.statusOf(err) : 500);
      this.reply.failed(err);
    });
  }

  /** The worker answered: its timeout is moot, unless the answer is a stream still to come. */
  resolve(result: InvokeResult): void {
    const stream = result.stream;
    if (stream === undefined) this.#context.timeouts.cancel(this);
    else {
      this.#stream = stream;
      stream.onEnd(() => this.#context.timeouts.cancel(this));
    }
    this.#end(() => this.#context.settle(this, result, undefined));
  }

  /** The connection failed under it. */
  reject(err: Error): void {
    this.#context.timeouts.cancel(this);
    this.#failed(err);
  }

  /**
   * Past its timeout the handler may be blocking the event loop: the container is replaced. A
   * stream past it is cancelled instead (other streams may share the container, and a worker
   * that sent a head was not blocked then): the client sees it broken off, the slot is freed.
   * A worker that really is stuck fails the next invocation's timeout and is replaced then.
   */
  expire(): void {
    const replica = this.replica!;
    if (this.#stream !== undefined) {
      this.#stream.cancel(new InvocationTimeout(replica.functionName, this.#timeoutMs).message);
      return;
    }
    void this.#context.pool.replace(replica);
    this.#failed(new InvocationTimeout(replica.functionName, this.#timeoutMs));
  }

  #failed(err: Error): void {
    if (this.#ended) return;
    const failure = err instanceof GlambdarError ? err : new ContainerDied('the function container failed', { cause: err });
    if (!(failure instanceof ContainerDied)) return this.#end(() => this.#context.settle(this, undefined, failure));
    // The pool asks the engine why a container went away; the caller deserves the answer. It
    // asks when the connection's close reaches it, just after the connection fails its calls.
    const { memoryMb } = this.target.record.spec;
    queueMicrotask(() => {
      const exited = this.replica!.exit;
      if (exited === undefined) return this.#end(() => this.#context.settle(this, undefined, failure));
      exited.then(
        (exit) => this.#end(() => this.#context.settle(this, undefined, exit ? new ContainerDied(describeExit(exit, memoryMb), { cause: failure }) : failure)),
        () => this.#end(() => this.#context.settle(this, undefined, failure)),
      );
    });
  }

  /**
   * Runs `ending` once. It runs inside the worker client's frame loop or a timer: a throw there
   * (a bug) must not stop the loop, so it fails this invocation's reply instead, as a rejected
   * promise did when the invoke path was an async function.
   */
  #end(ending: () => void): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      ending();
    } catch (err) {
      this.reply.failed(err);
    }
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
