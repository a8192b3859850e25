/**
 * The composition root: the data folder's layout and the concrete adapters (SQLite, Docker,
 * the record writer thread) are chosen here and nowhere else; the parts are wired together
 * and handed to the {@link Runtime} façade.
 */
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { SPEC_DEFAULTS, type RuntimeConfig } from '../schemas/index.js';
import { Autoscaler } from './autoscaling/autoscaler.js';
import { TrafficStats } from './autoscaling/traffic-stats.js';
import { ContainerOutput } from './invocation/container-output.js';
import { InvocationLog } from './invocation/invocation-log.js';
import { RecordDrops } from './invocation/record-drops.js';
import { DiskSpace } from './state/disk-space.js';
import { InvocationMetrics } from './invocation/invocation-metrics.js';
import { Invoker } from './invocation/invoker.js';
import { metricsObserver, Observers, recordsObserver, trafficObserver } from './invocation/observer.js';
import { ThreadRecordWriter, type RecordWriter } from './invocation/record-writer.js';
import { DEFAULT_FRAME_BUDGET, FrameBudget } from './pool/frame-budget.js';
import { longestSocketPath } from './pool/replica-socket.js';
import { Pool } from './pool/router.js';
import { StemCells } from './pool/stem-cells.js';
import { Callbacks, fetchPoster } from './events/callbacks.js';
import { checkSchedule } from './events/cron.js';
import { Dispatcher } from './events/dispatcher.js';
import { Events } from './events/events.js';
import { AsyncGovernor, runtimeSignals } from './events/governor.js';
import type { JobStore } from './events/job-store.js';
import { Scheduler } from './events/scheduler.js';
import { SqliteJobStore } from './events/sqlite-job-store.js';
import { Reconciler } from './reconcile/reconciler.js';
import { TrafficPlans } from './revisions/plans.js';
import { SourceConditions } from './reconcile/source-conditions.js';
import { WorkQueue } from './reconcile/workqueue.js';
import { Runtime, type RuntimeParts } from './runtime.js';
import { DockerSandbox } from './sandbox/docker/docker-sandbox.js';
import { HostFit } from './sandbox/host-fit.js';
import type { Sandbox } from './sandbox/sandbox.js';
import { DesiredState } from './state/desired-state.js';
import { readInstanceId, SqliteStore } from './state/sqlite-store.js';
import { findOrphans, listGlambdarContainers, removeContainers, type GlambdarContainer } from './sandbox/docker/instances.js';
import type { Store } from './state/store.js';
import { systemClock, type Clock } from './support/clock.js';
import { compiledFile } from './support/compiled-file.js';
import type { GlambdarError } from './support/errors.js';
import { createLogger, type Logger } from './support/logger.js';

/** The ballast file kept in the data folder for a deletion on a disk something else filled. */
const BALLAST_BYTES = 4 * 1024 * 1024;

/** Options of the composition root; everything but `config` and `statusOf` has a production default. */
export interface RuntimeOptions {
  config: RuntimeConfig;
  /** The HTTP layer's status for an error, recorded with failed invocations. */
  statusOf: (err: GlambdarError) => number;
  sandbox?: Sandbox;
  clock?: Clock;
  log?: Logger;
}

/** Where everything lives under GLAMBDAR_DIR. */
export interface DataPaths {
  functions: string;
  sockets: string;
  worker: string;
  tmp: string;
  cells: string;
  db: string;
}

/** The data folder's layout: the one place it is written down. */
export function dataPaths(dir: string): DataPaths {
  return {
    functions: join(dir, 'functions'),
    sockets: join(dir, 'sockets'),
    worker: join(dir, 'runtime', 'worker'),
    tmp: join(dir, 'tmp'),
    cells: join(dir, 'cells'),
    db: join(dir, 'glambdar.db'),
  };
}

/** Opens the data folder (creating it), the database and the worker copy, and wires a Runtime. */
export async function openRuntime(options: RuntimeOptions): Promise<Runtime> {
  return (await assembleRuntime(options)).runtime;
}

/** The same, with the parts: for tests that look inside. The API gets only the Runtime. */
export async function assembleRuntime(options: RuntimeOptions): Promise<{ runtime: Runtime; parts: RuntimeParts }> {
  const { dir } = options.config;
  // Unix socket paths are limited to 107 bytes; a deep data folder would fail at every start.
  const paths = dataPaths(dir);
  const longestSocket = longestSocketPath(paths.sockets);
  if (Buffer.byteLength(longestSocket) > 107) {
    throw new Error(`GLAMBDAR_DIR is too long for Unix socket paths (${Buffer.byteLength(longestSocket)} > 107 bytes with sockets/<id>/runtime.sock); use a shorter folder`);
  }
  // The data folder is the runtime's alone: the database, every function's code. Containers
  // reach the few folders they mount by bind mounts, which need no access here.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  for (const sub of [paths.functions, paths.sockets, paths.worker, paths.tmp, paths.cells, join(dir, 'manifests')]) await mkdir(sub, { recursive: true, mode: 0o700 });
  const store = new SqliteStore(paths.db, { revisionHistory: options.config.revisionHistory });
  // Async jobs: the same database file, a connection of their own.
  const jobs = new SqliteJobStore(paths.db);
  for (const file of ['glambdar.db', 'glambdar.db-wal', 'glambdar.db-shm']) await chmod(join(dir, file), 0o600).catch(() => undefined);
  const log = options.log ?? createLogger(options.config.logLevel);
  await installWorker(paths.worker);
  const drops = new RecordDrops({ clock: options.clock ?? systemClock, log });
  const writer = new ThreadRecordWriter({ dbPath: paths.db, store, log, onDropped: (records, why) => drops.count(records, why) });
  const parts = wire({ ...options, log }, store, jobs, paths, writer, drops);
  return { runtime: new Runtime(parts), parts };
}

/** Builds every part of the controller around a store. */
function wire(options: RuntimeOptions & { log: Logger }, store: Store, jobs: JobStore, paths: DataPaths, writer: RecordWriter, drops: RecordDrops): RuntimeParts {
  const { config, log } = options;
  const clock = options.clock ?? systemClock;
  const space = new DiskSpace({ dir: options.config.dir, reserveBytes: config.diskReserveMb === undefined ? 'auto' : Math.round(config.diskReserveMb * 1024 * 1024), ballastBytes: BALLAST_BYTES, clock });
  const sandbox = options.sandbox ?? new DockerSandbox({ instanceId: store.instanceId, image: config.image, log, dataDir: resolve(config.dir) });
  const budget = new FrameBudget(DEFAULT_FRAME_BUDGET);
  const hostFit = new HostFit();
  const stemCells = new StemCells({
    budget,
    sandbox,
    clock,
    log,
    cellsDir: paths.cells,
    socketsDir: paths.sockets,
    workerDir: paths.worker,
    startTimeoutMs: config.startTimeoutMs,
    perSize: config.stemCells,
    initialSizes: [{ memoryMb: SPEC_DEFAULTS.memoryMb, cpus: SPEC_DEFAULTS.cpus }],
  });
  const stats = new TrafficStats({ clock });
  // The queue is made last (it needs the reconciler); the callbacks below run only after that.
  let queue: WorkQueue | undefined;
  const enqueue = (name: string) => queue?.add(name);
  // The autoscaler's keys are names, and `name@revision` while traffic is split (names have no "@").
  const autoscaler = new Autoscaler({ clock, stats, onRecommendationChange: (key) => enqueue(key.split('@')[0]!) });
  const plans = new TrafficPlans(store);
  const containerOutput = new ContainerOutput({ clock });
  const pool = new Pool({
    budget,
    stemCells,
    sandbox,
    clock,
    log,
    functionsDir: paths.functions,
    socketsDir: paths.sockets,
    workerDir: paths.worker,
    startTimeoutMs: config.startTimeoutMs,
    queueTimeoutMs: config.queueTimeoutMs,
    maxQueuedPerFunction: config.maxQueuedPerFunction,
    onChange: enqueue,
    onOutput: (name, container, stream, text) => containerOutput.append(name, container, stream, text),
  });
  const invocations = new InvocationLog({ store, writer, clock, log, retention: config.logRetention, space, drops });
  const metrics = new InvocationMetrics();
  // Every admitted invocation start, synchronous and async tries alike: the governor's input.
  let arrivals = 0;
  const arrivalsObserver = { start: () => void (arrivals += 1), finish: () => undefined, forget: () => undefined };
  const invoker = new Invoker({
    store,
    pool,
    plans,
    clock,
    statusOf: options.statusOf,
    observer: new Observers([trafficObserver(stats), metricsObserver(metrics), recordsObserver(invocations), arrivalsObserver]),
  });
  let onPurged: (name: string) => void = () => undefined;
  const reconciler = new Reconciler({
    store,
    pool,
    sandbox,
    clock,
    log,
    functionsDir: paths.functions,
    plans,
    onPurged: (name) => onPurged(name),
    scaling: {
      observe: (key, spec, ready, lastInvokedAt) => autoscaler.observe(key, spec, ready, lastInvokedAt),
      recommend: (key) => autoscaler.recommend(key),
      predictedRps: (name) => autoscaler.predictedRps(name),
      forget: (key) => {
        stats.forget(key);
        autoscaler.forget(key);
      },
    },
  });
  queue = new WorkQueue({ reconcile: reconciler.reconcile, clock, log });
  const lookup = (name: string) => store.get(name);
  // The parts below call each other through Events, made last.
  let events: Events | undefined;
  let dispatcher: Dispatcher | undefined;
  const governor = new AsyncGovernor({ clock, signals: runtimeSignals(() => arrivals - (dispatcher?.tries ?? 0)) });
  dispatcher = new Dispatcher({
    governor,
    store: jobs,
    invoke: (name, request, body, opts) => invoker.invoke(name, request, body, opts),
    lookup,
    statusOf: options.statusOf,
    clock,
    log,
    onFinished: (job, status, read) => events?.finished(job, status, read),
  });
  const scheduler = new Scheduler({
    store: jobs,
    clock,
    log,
    lookup,
    functions: () => store.list(),
    enqueued: (job) => events?.enqueued(job),
    hasRoom: (name) => events?.hasRoom(name) ?? false,
    newId: randomUUID,
  });
  const callbacks = new Callbacks({ store: jobs, clock, log, post: fetchPoster(10_000) });
  events = new Events({
    store: jobs,
    dispatcher,
    scheduler,
    callbacks,
    governor,
    clock,
    log,
    lookup,
    retentionMs: config.jobRetentionMs,
    maxJobsPerFunction: config.maxJobsPerFunction,
  });
  const parts: RuntimeParts = {
    config,
    clock,
    log,
    store,
    sandbox,
    pool,
    plans,
    stemCells,
    autoscaler,
    queue,
    invoker,
    invocations,
    containerOutput,
    metrics,
    paths,
    hostFit,
    desired: new DesiredState({ store, functionsDir: paths.functions, clock, checkFits: (spec) => hostFit.check(spec), checkSpec: checkSchedule, space }),
    space,
    drops,
    // Orphans are Docker's matter: with another sandbox (the tests' fake) there are none.
    collectOrphans: options.sandbox ? undefined : () => collectOrphans(),
    events,
    sources: new SourceConditions(),
    onPurged: (handler) => (onPurged = handler),
  };
  return parts;
}

/** A container of some Glambdar instance, as `glambdar down` and `gc` report what they removed. */
export interface RemovedContainer {
  name: string;
  functionName: string;
  stem: boolean;
}

const removedOf = (c: GlambdarContainer): RemovedContainer => ({ name: c.name, functionName: c.functionName, stem: c.stem });

/** True when `dataDir` still holds the runtime of `instanceId` (or cannot be read now: then it is left alone). */
function ownsFolder(dataDir: string, instanceId: string): boolean {
  const found = readInstanceId(join(dataDir, 'glambdar.db'));
  return found === undefined || found === instanceId;
}

/**
 * Removes the containers of instances whose data folder is gone or holds another instance now
 * (`glambdar gc`, and every runtime at start): they can never be adopted.
 */
export async function collectOrphans(docker: Docker = new Docker()): Promise<RemovedContainer[]> {
  return (await removeContainers(docker, await findOrphans(docker, ownsFolder))).map(removedOf);
}

/**
 * Removes every container of the runtime whose data folder is `dir` (`glambdar down`):
 * function containers and stem cells. The instance is read from the folder's database; null
 * when the folder holds no runtime.
 */
export async function removeInstanceContainers(dir: string, docker: Docker = new Docker()): Promise<{ instanceId: string | null; removed: RemovedContainer[] }> {
  const instanceId = readInstanceId(join(dir, 'glambdar.db'));
  if (!instanceId) return { instanceId: null, removed: [] };
  return { instanceId, removed: (await removeContainers(docker, await listGlambdarContainers(docker, instanceId))).map(removedOf) };
}

/** The instance id of the runtime whose data folder is `dir`, or null. */
export function instanceOf(dir: string): string | null {
  return readInstanceId(join(dir, 'glambdar.db')) ?? null;
}

/** Copies the compiled worker into the data folder: that copy alone is mounted into containers. */
async function installWorker(to: string): Promise<void> {
  // Containers mount this folder: it holds the bundle and nothing else (older layouts go).
  for (const file of await readdir(to)) if (file !== 'main.cjs') await rm(join(to, file), { recursive: true, force: true });
  // One CommonJS file (npm run build bundles it with esbuild): node boots it ~30 ms faster
  // at 1 CPU than the same code as ES modules.
  await copyFile(compiledFile('worker-bundle/main.cjs'), join(to, 'main.cjs'));
  // Mounted at /worker: the container's user must read it (the folders above it stay private).
  await chmod(to, 0o755);
  await chmod(join(to, 'main.cjs'), 0o644);
}
