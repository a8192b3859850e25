import { createHash } from 'node:crypto';
import type { FunctionRecord } from '../state/records.js';
import type { ExitReason } from '../sandbox/sandbox.js';
import type { FunctionEntry, WorkerClient } from './worker-client.js';
import type { InterfaceName } from '../../worker/protocol.js';
import type { WorkerListener } from './worker-listener.js';
import type { Clock, TimerHandle } from '../support/clock.js';

/**
 * What a replica runs: code, the container-level spec fields (the handler entry and interface
 * among them) and the versions of its secrets (a new value rolls the containers, as new code
 * does). Equal templates are interchangeable.
 */
export function templateOf(fn: FunctionRecord): string {
  let template = templates.get(fn);
  if (template === undefined) {
    const { memoryMb, cpus, env } = fn.spec;
    const envText = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
    // What was added since (the entry, secrets) joins only when set: adopted containers keep their template.
    const { interface: iface, handler } = entryOf(fn);
    const entry = iface === null && handler === null ? '' : `|${iface ?? ''}|${handler ?? ''}`;
    const secrets = fn.secretsVersion ? `|${fn.secretsVersion}` : '';
    template = createHash('sha256').update(`${fn.codeDigest}|${memoryMb}|${cpus}|${envText}${entry}${secrets}`).digest('hex').slice(0, 16);
    templates.set(fn, template);
  }
  return template;
}

/** The store hands out one record object per version, so this spares a hash per request. */
const templates = new WeakMap<FunctionRecord, string>();

/** Where a function's code starts and which interface calls it (null: the worker's defaults). */
export function entryOf(fn: FunctionRecord): FunctionEntry {
  return { interface: fn.spec.interface ?? null, handler: fn.spec.handler ?? null };
}

/**
 * The environment of a function's containers: its `spec.env`, plus what its interface's
 * platform sets, for a `lambda` function `AWS_LAMBDA_FUNCTION_NAME`, `_MEMORY_SIZE` and
 * `_VERSION` (the revision its container was started for), which its context reads too.
 */
export function functionEnv(fn: FunctionRecord): Record<string, string> {
  if (fn.spec.interface !== 'lambda') return fn.spec.env;
  return {
    ...fn.spec.env,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.spec.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: String(fn.generation),
  };
}

/** One container of a function as the pool tracks it. */
export interface Replica {
  /** Names its socket folder (and, for a stem-born replica, its code folder). */
  key: string;
  readonly functionName: string;
  /**
   * Born from a stem cell: its labels do not name the function (Docker labels are fixed), so
   * the reconciler replaces it with a labelled container as soon as it can.
   */
  fromStem: boolean;
  readonly template: string;
  /** The revision it was started for (its `glambdar.generation` label). */
  readonly generation: number;
  /** Its code version: the folder it mounts is kept on disk while it runs. */
  readonly digest: string;
  containerId: string | null;
  client: WorkerClient | null;
  /** While starting: where its worker will connect. */
  listener: WorkerListener | null;
  state: 'starting' | 'ready' | 'draining' | 'dead';
  inFlight: number;
  /** The worker's error when the function failed to load in this container. */
  loadError: string | null;
  /** The handler interface its worker runs the function under (null until loaded, or when the load failed). */
  interface: InterfaceName | null;
  /** Once its connection was lost: why the container stopped, as the engine tells (null: unknown). */
  exit?: Promise<ExitReason | null>;
  startedAt: number;
  lastUsedAt: number;
  /** Run once, when an invocation next gives the replica back (the CPU settle after a cold start). */
  onRelease: (() => void) | null;
}

/** A new replica of `fn`, starting, with nothing attached yet. */
export function newReplica(fn: FunctionRecord, key: string, now: number): Replica {
  return {
    key,
    functionName: fn.name,
    fromStem: false,
    template: templateOf(fn),
    generation: fn.generation,
    digest: fn.codeDigest,
    containerId: null,
    client: null,
    listener: null,
    state: 'starting',
    inFlight: 0,
    loadError: null,
    interface: null,
    startedAt: now,
    lastUsedAt: now,
    onRelease: null,
  };
}

/**
 * Runs `fn` once, when an invocation first gives the replica back, or `withinMs` after this
 * call if none does; after that turn, so an answer is written to its caller before `fn` asks
 * the engine for anything. For the work that follows a new container's start (its CPU settle,
 * telling the reconciler) and would otherwise compete with the cold start waiting for it.
 */
export function afterFirstRelease(replica: Replica, clock: Clock, withinMs: number, fn: () => void): void {
  let timer: TimerHandle | null = null;
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    if (timer !== null) clock.clearTimeout(timer);
    clock.setTimeout(fn, 0);
  };
  const before = replica.onRelease;
  replica.onRelease =
    before === null
      ? run
      : () => {
          before();
          run();
        };
  timer = clock.setTimeout(run, withinMs);
}

/** True once a replica was retired or removed (state changes under awaits, which narrowing does not see). */
export function isGone(replica: Replica): boolean {
  return replica.state === 'dead';
}

/** Ready and serving its function (its load did not fail). */
export function isServing(replica: Replica): boolean {
  return replica.state === 'ready' && !replica.loadError;
}
