/**
 * The controller's port to the container engine. dockerode lives behind it
 * (docker-sandbox.ts); reconcile tests use an in-memory fake.
 */
import type { InterfaceName } from '../../worker/protocol.js';

/** Labels every Glambdar container carries; the instance label scopes everything we touch. */
export const LABELS = {
  instance: 'glambdar.instance',
  function: 'glambdar.function',
  generation: 'glambdar.generation',
  digest: 'glambdar.digest',
  replica: 'glambdar.replica',
  template: 'glambdar.template',
  /** Set on stem cells: generic containers that get their function later. */
  stem: 'glambdar.stem',
  /**
   * The data folder of the runtime that made it: a container whose folder is gone (or now
   * belongs to another instance) is an orphan, removed at start and by `glambdar gc`.
   */
  dir: 'glambdar.dir',
} as const;

/** Where a container sees its function's secrets: one read-only file per secret it names. */
export const SECRETS_MOUNT = '/var/glambdar/secrets';

/**
 * CPUs a container may use until its worker has answered (a start-up boost). Node's boot is
 * CPU-bound: at the default 0.5 CPU it takes about 200 ms here, at 1 CPU about 100 ms. The
 * boost ends with {@link Sandbox.settle}, in the background once a container's first
 * invocation has answered (a stem cell keeps it while it waits: it runs no code until then).
 */
export const BOOT_CPUS = 1;

/** What a container is made from. */
export interface ContainerSpec {
  /** Short unique key; also names its socket folder. */
  replicaKey: string;
  functionName: string;
  generation: number;
  digest: string;
  /** Hash of code + container-level spec; containers with the current template are kept. */
  template: string;
  /**
   * A stem cell: no function yet (functionName, digest and template are empty); its worker
   * waits for a load frame. Docker labels cannot change, so a specialised stem cell keeps
   * this label; {@link Sandbox.assign} renames it and the runtime tracks its function.
   */
  stem?: boolean;
  /**
   * Host folders, all mounted read-only: the code at /fn, the worker at /worker, and the folder
   * holding the runtime's socket at /run/glambdar (worker/framing.ts `SOCKET_MOUNT`), where the
   * worker connects. No container gets a host folder it can write.
   */
  codeDir: string;
  workerDir: string;
  socketDir: string;
  /**
   * The container's own secrets folder, mounted read-only at {@link SECRETS_MOUNT}: the files of
   * the secrets its function names, and nothing else of the store (a stem cell's is empty until
   * it is specialised). None: no mount.
   */
  secretsDir?: string;
  memoryMb: number;
  cpus: number;
  env: Record<string, string>;
  /** `spec.interface` for the worker (`GLAMBDAR_INTERFACE`); absent or null: detected at load. */
  interface?: InterfaceName | null;
  /** `spec.handler` for the worker (`GLAMBDAR_HANDLER`); absent or null: the default entry. */
  handler?: string | null;
}

/** How a container ended: killed by the kernel's OOM killer at its memory limit, or its exit code. */
export interface ExitReason {
  oomKilled: boolean;
  exitCode: number;
}

/** A container as the engine reports it. */
export interface ContainerInfo {
  id: string;
  replicaKey: string;
  functionName: string;
  generation: number;
  digest: string;
  template: string;
  stem: boolean;
  running: boolean;
  /** Stopped after it ran (Docker "exited" or "dead"); a container still being created is neither this nor running. */
  exited: boolean;
}

/** An engine event about one of our containers; only those whose labels name a function have events. */
export interface SandboxEvent {
  action: 'die' | 'oom' | 'destroy' | 'start';
  containerId: string;
  functionName: string;
}

/** What the engine's host has, for refusing specs that can never fit. */
export interface HostCapacity {
  cpus: number;
  memoryMb: number;
}

/** Starts, lists and removes the containers of one Glambdar instance. */
export interface Sandbox {
  /** Makes sure the runtime image exists (pull, or build from the host's node). */
  prepare(): Promise<void>;
  /**
   * Creates and starts a hardened container; returns its id. `ready`, when given, is awaited
   * between the create and the start: what the container needs on the host once it runs (its
   * socket listened on, its secrets written) is made while the engine creates it, off a cold
   * start's path. A `ready` that rejects removes the created container and rejects with it.
   */
  start(spec: ContainerSpec, ready?: Promise<unknown>): Promise<string>;
  /**
   * Creates a hardened container without starting it; returns its id. A function's standby
   * container (pool/standbys.ts) is made this way ahead of need, so the engine's create is not
   * on a cold start's path; {@link Sandbox.startCreated} starts it.
   */
  create(spec: ContainerSpec): Promise<string>;
  /** Starts a container {@link Sandbox.create} made; one that fails to start is removed. */
  startCreated(containerId: string): Promise<void>;
  /**
   * Lowers a started container's CPU limit to `cpus`. Containers start with at least
   * {@link BOOT_CPUS} so node boots in about half the time; call this once the worker answered.
   */
  settle(containerId: string, cpus: number): Promise<void>;
  /**
   * Names a specialised stem cell after its function, as an ordinary container of it is named
   * (labels cannot change, names can), so `docker ps` shows whose container it is.
   */
  assign(containerId: string, functionName: string, replicaKey: string): Promise<void>;
  /**
   * Why a container stopped, once the engine has seen it stop (it may lag the worker's socket
   * closing by a few ms): null while it still runs after `waitMs`, or when it is gone.
   */
  exitReason(containerId: string, waitMs: number): Promise<ExitReason | null>;
  /**
   * Asks a container's worker to stop (SIGTERM: it finishes what it runs, `ctx.waitUntil` work
   * included, and exits) and waits up to `graceMs` for it, then kills it; it stays to be removed.
   * A missing or stopped one is not an error.
   */
  stop(containerId: string, graceMs: number): Promise<void>;
  /** Removes a container (force); a missing one is not an error. */
  remove(containerId: string): Promise<void>;
  /** This instance's containers, optionally of one function. */
  list(functionName?: string): Promise<ContainerInfo[]>;
  /** Subscribes to engine events about this instance's containers. */
  watch(onEvent: (event: SandboxEvent) => void): () => void;
  /** True when the engine answers. */
  ping(): Promise<boolean>;
  /** The host's CPUs and memory as the engine reports them (asked once), or null while unknown. */
  capacity(): Promise<HostCapacity | null>;
}
