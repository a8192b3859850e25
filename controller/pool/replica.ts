import { createHash } from 'node:crypto';
import type { FunctionRecord } from '../state/records.js';
import type { ExitReason } from '../sandbox/sandbox.js';
import type { WorkerClient } from './worker-client.js';
import type { WorkerListener } from './worker-listener.js';

/**
 * What a replica runs: code, the container-level spec fields and the versions of its secrets
 * (a new value rolls the containers, as new code does). Equal templates are interchangeable.
 */
export function templateOf(fn: FunctionRecord): string {
  let template = templates.get(fn);
  if (template === undefined) {
    const { memoryMb, cpus, env } = fn.spec;
    const envText = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)));
    // Without secrets the text is what it was before they existed: adopted containers keep their template.
    const secrets = fn.secretsVersion ? `|${fn.secretsVersion}` : '';
    template = createHash('sha256').update(`${fn.codeDigest}|${memoryMb}|${cpus}|${envText}${secrets}`).digest('hex').slice(0, 16);
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
  /** Once its connection was lost: why the container stopped, as the engine tells (null: unknown). */
  exit?: Promise<ExitReason | null>;
  startedAt: number;
  lastUsedAt: number;
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
    startedAt: now,
    lastUsedAt: now,
  };
}

/** True once a replica was retired or removed (state changes under awaits, which narrowing does not see). */
export function isGone(replica: Replica): boolean {
  return replica.state === 'dead';
}

/** Ready and serving its function (its load did not fail). */
export function isServing(replica: Replica): boolean {
  return replica.state === 'ready' && !replica.loadError;
}
