/**
 * An in-memory Sandbox for controller tests. A start runs the real worker in this process,
 * connecting to `<socketDir>/runtime.sock`, with the container's code folder as its function
 * folder, so the pool talks to it exactly as it talks to a container.
 */
import { join } from 'node:path';
import { SandboxUnavailable } from '../../support/errors.js';
import { RUNTIME_SOCKET_NAME } from '../../../worker/protocol.js';
import { startWorker, type Worker } from '../../../worker/server.js';
import type { ContainerInfo, ContainerSpec, ExitReason, HostCapacity, Sandbox, SandboxEvent } from '../sandbox.js';

/**
 * A container's worker: it loads its function (which may never end, as a function that blocks at
 * load) and connects in the background, as a container's does after `docker start` returned.
 */
class FakeProcess {
  #worker: Worker | null = null;
  #stopped = false;

  constructor(starting: Promise<Worker>) {
    void starting.then(async (worker) => {
      this.#worker = worker;
      if (this.#stopped) await worker.close();
    });
  }

  /** Stops the worker; one still loading is stopped once its load ends. */
  async close(): Promise<void> {
    this.#stopped = true;
    if (this.#worker) await this.#worker.close();
  }
}

interface FakeContainer {
  info: ContainerInfo;
  spec: ContainerSpec | null;
  worker: FakeProcess | null;
  exit?: ExitReason;
}

/** Options of {@link FakeSandbox}. */
export interface FakeSandboxOptions {
  /** How long a closing worker waits for its in-flight invocations. */
  drainTimeoutMs?: number;
}

/** A Sandbox whose containers are in-process workers. */
export class FakeSandbox implements Sandbox {
  /** Containers by id, removed ones excluded. */
  readonly containers = new Map<string, FakeContainer>();
  /** Every spec `start` was called with, in order. */
  readonly startedSpecs: ContainerSpec[] = [];
  /** Ids passed to `remove` that named an existing container, in order. */
  readonly removed: string[] = [];
  /** `start <id>` when a start completed, `remove <id>` when a removal began, `crash <id>`; in order. */
  readonly events: string[] = [];
  /** Every `assign` call that named an existing container, in order. */
  readonly assigned: Array<{ id: string; functionName: string; replicaKey: string }> = [];
  /** Every `settle` call that named an existing container, in order. */
  readonly settled: Array<{ id: string; cpus: number }> = [];
  /** When set, `settle` throws what it returns (if anything). */
  failSettle: ((id: string) => Error | undefined) | null = null;
  /** When set, `start` waits for what it returns before it creates the container (a slow engine); `startCreated` before it starts one. */
  startGate: ((spec: ContainerSpec) => Promise<void> | undefined) | null = null;
  /** Every spec `create` was called with (a standby container), in order; its start adds it to `startedSpecs`. */
  readonly createdSpecs: ContainerSpec[] = [];
  /** When set, `create` waits for what it returns before it creates the container. */
  createGate: ((spec: ContainerSpec) => Promise<void> | undefined) | null = null;
  /** When set, `create` throws what it returns (if anything). */
  failCreate: ((spec: ContainerSpec) => Error | undefined) | null = null;
  /** When set, `start` and `startCreated` throw what it returns (if anything). */
  failStart: ((spec: ContainerSpec) => Error | undefined) | null = null;
  /** When set, a removal waits for the promise it returns before it begins. */
  removeGate: ((containerId: string) => Promise<void> | undefined) | null = null;
  /** While true, every call fails as an unreachable engine does. */
  down = false;
  /** What `capacity` reports; null: unknown, as an engine that did not answer. */
  hostCapacity: HostCapacity | null = null;
  #listeners = new Set<(event: SandboxEvent) => void>();
  #nextId = 1;
  #drainTimeoutMs: number;

  constructor(options: FakeSandboxOptions = {}) {
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 200;
  }

  /** Number of `start` calls. */
  get starts(): number {
    return this.startedSpecs.length;
  }

  async prepare(): Promise<void> {}

  async start(spec: ContainerSpec, ready?: Promise<unknown>): Promise<string> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to create a container');
    this.startedSpecs.push(spec);
    await this.startGate?.(spec);
    const failure = this.failStart?.(spec);
    if (failure) throw failure;
    await ready;
    const id = this.#add(spec);
    this.#run(id, spec);
    return id;
  }

  async create(spec: ContainerSpec): Promise<string> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to create a container');
    this.createdSpecs.push(spec);
    await this.createGate?.(spec);
    const failure = this.failCreate?.(spec);
    if (failure) throw failure;
    return this.#add(spec);
  }

  async startCreated(containerId: string): Promise<void> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to start a container');
    const container = this.containers.get(containerId);
    if (!container?.spec || container.info.running || container.info.exited) throw new SandboxUnavailable(`Docker engine refused to start a container: no created container ${containerId}`);
    const spec = container.spec;
    this.startedSpecs.push(spec);
    // A start's gate and failure apply as to `start`; a container that fails to start is removed, as Docker's adapter does.
    await this.startGate?.(spec);
    const failure = this.failStart?.(spec);
    if (failure) {
      this.containers.delete(containerId);
      throw failure;
    }
    this.#run(containerId, spec);
  }

  /** Registers a created, not yet running container. */
  #add(spec: ContainerSpec): string {
    const id = `fake-${String(this.#nextId++).padStart(4, '0')}-${spec.replicaKey}`;
    this.containers.set(id, {
      info: {
        id,
        replicaKey: spec.replicaKey,
        functionName: spec.functionName,
        generation: spec.generation,
        digest: spec.digest,
        template: spec.template,
        stem: spec.stem === true,
        running: false,
        exited: false,
      },
      spec,
      worker: null,
    });
    return id;
  }

  /** Runs a created container's worker. */
  #run(id: string, spec: ContainerSpec): void {
    const container = this.containers.get(id)!;
    container.worker = new FakeProcess(
      startWorker({
        socketPath: join(spec.socketDir, RUNTIME_SOCKET_NAME),
        fnDir: spec.codeDir,
        maxLogBytes: 262_144,
        drainTimeoutMs: this.#drainTimeoutMs,
        stem: spec.stem === true,
        interface: spec.interface ?? null,
        handler: spec.handler ?? null,
      }),
    );
    container.info.running = true;
    this.events.push(`start ${id}`);
    this.#emit({ action: 'start', containerId: id, functionName: spec.functionName });
  }

  async settle(containerId: string, cpus: number): Promise<void> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to set the CPU limit of a container');
    const failure = this.failSettle?.(containerId);
    if (failure) throw failure;
    if (this.containers.has(containerId)) this.settled.push({ id: containerId, cpus });
  }

  async assign(containerId: string, functionName: string, replicaKey: string): Promise<void> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to rename a container');
    if (this.containers.has(containerId)) this.assigned.push({ id: containerId, functionName, replicaKey });
  }

  async exitReason(containerId: string): Promise<ExitReason | null> {
    return this.containers.get(containerId)?.exit ?? null;
  }

  async stop(containerId: string): Promise<void> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to stop a container');
    const container = this.containers.get(containerId);
    if (!container) return;
    this.events.push(`stop ${containerId}`);
    await container.worker?.close();
  }

  async remove(containerId: string): Promise<void> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to remove a container');
    // The engine still lists the container while a gated removal is under way, as Docker does.
    await this.removeGate?.(containerId);
    const container = this.containers.get(containerId);
    if (!container) return;
    this.containers.delete(containerId);
    this.removed.push(containerId);
    this.events.push(`remove ${containerId}`);
    await container.worker?.close();
    this.#emit({ action: 'destroy', containerId, functionName: container.info.functionName });
  }

  async list(functionName?: string): Promise<ContainerInfo[]> {
    if (this.down) throw new SandboxUnavailable('Docker engine is not reachable or refused to list containers');
    return [...this.containers.values()]
      .map((c) => ({ ...c.info }))
      .filter((c) => functionName === undefined || c.functionName === functionName);
  }

  watch(onEvent: (event: SandboxEvent) => void): () => void {
    this.#listeners.add(onEvent);
    return () => this.#listeners.delete(onEvent);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async capacity(): Promise<HostCapacity | null> {
    return this.hostCapacity;
  }

  /** Simulates a container dying (by default with exit code 1): its worker closes and it is listed as not running. */
  async crash(containerId: string, exit: ExitReason = { oomKilled: false, exitCode: 1 }): Promise<void> {
    const container = this.containers.get(containerId);
    if (!container) throw new Error(`no container ${containerId}`);
    container.info.running = false;
    container.info.exited = true;
    container.exit = exit;
    const worker = container.worker;
    container.worker = null;
    await worker?.close();
    this.events.push(`crash ${containerId}`);
    this.#emit({ action: 'die', containerId, functionName: container.info.functionName });
  }

  /** Adds a container this Glambdar did not start in this process (no worker behind it). */
  addForeign(info: Omit<ContainerInfo, 'id'> & { id?: string }): string {
    const id = info.id ?? `foreign-${String(this.#nextId++).padStart(4, '0')}`;
    this.containers.set(id, { info: { ...info, id }, spec: null, worker: null });
    return id;
  }

  /** Closes every worker still running; for afterEach. */
  async closeAll(): Promise<void> {
    const workers = [...this.containers.values()].map((c) => c.worker);
    this.containers.clear();
    await Promise.all(workers.map((w) => w?.close()));
  }

  #emit(event: SandboxEvent): void {
    // As the Docker adapter: a container whose labels name no function (a stem cell) has no events.
    if (!event.functionName) return;
    for (const listener of this.#listeners) listener(event);
  }
}
