import { createHash } from 'node:crypto';
import type { FunctionRecord } from '../state/records.js';
import type { ExitReason } from '../sandbox/sandbox.js';
import type { WorkerClient } from './worker-client.js';
import type { WorkerListener } from './worker-listener.js';
import type { Clock, TimerHandle } from '../support/clock.js';

/** What a replica runs: code and the container-level spec fields. Equal templates are interchangeable. */
export function templateOf(fn: FunctionRecord): string {
  let template = templates.get(fn);
  if (template === undefined) {
    const { memoryMb, cpus, env } = fn.spec;
    const envText = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
    template = createHash('sha256').update(`${fn.codeDigest}|${memoryMb}|${cpus}|${envText}`).digest('hex').slice(0, 16);
    templates.set(fn, template);
  }
  return template;
}

/** The store hands out one record object per version, so this spares a hash per request. */
const templates = new WeakMap<FunctionRecord, string>();

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
  readonly generation: number;
  containerId: string | null;
  client: WorkerClient | null;
  /** While starting: where its worker will connect. */
  listener: WorkerListener | null;
  state: 'starting' | 'ready' | 'draining' | 'dead';
  inFlight: number;
  /** The worker's error when the function failed to load in this container. */
  loadError: string | null;
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
    containerId: null,
    client: null,
    listener: null,
    state: 'starting',
    inFlight: 0,
    loadError: null,
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
