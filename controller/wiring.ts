/**
 * The composition root: the data folder's layout and the concrete adapters (SQLite, Docker,
 * the record writer thread) are chosen here and nowhere else; the parts are wired together
 * and handed to the {@link Runtime} façade.
 */
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SPEC_DEFAULTS, type RuntimeConfig } from '../schemas/index.js';
import { AccessControl } from './access/access-control.js';
import { loadAdminToken } from './access/admin-token.js';
import { SqliteKeyStore } from './access/sqlite-key-store.js';
import { Autoscaler } from './autoscaling/autoscaler.js';
import { TrafficStats } from './autoscaling/traffic-stats.js';
import { ContainerOutput } from './invocation/container-output.js';
import { InvocationLog } from './invocation/invocation-log.js';
import { RecordDrops } from './invocation/record-drops.js';
import { DiskSpace } from './state/disk-space.js';
import { InvocationMetrics, type InvocationSnapshot } from './invocation/invocation-metrics.js';
import { Invoker } from './invocation/invoker.js';
import { metricsObserver, Observers, recordsObserver, trafficObserver } from './invocation/observer.js';
import { ThreadRecordWriter, type RecordWriter } from './invocation/record-writer.js';
import { DEFAULT_FRAME_BUDGET, FrameBudget } from './pool/frame-budget.js';
import { longestSocketPath } from './pool/replica-socket.js';
import { Pool } from './pool/router.js';
import { StemCells } from './pool/stem-cells.js';
import { Standbys } from './pool/standbys.js';
import { Callbacks, fetchPoster } from './events/callbacks.js';
import { checkSchedule } from './events/cron.js';
import { Dispatcher } from './events/dispatcher.js';
import { Events, type JobMetrics } from './events/events.js';
import { AsyncGovernor, runtimeSignals } from './events/governor.js';
import type { JobStore } from './events/job-store.js';
import { Scheduler } from './events/scheduler.js';
import { SqliteJobStore } from './events/sqlite-job-store.js';
import { Reconciler } from './reconcile/reconciler.js';
import { replicaCounts } from './reconcile/status.js';
import { TrafficPlans } from './revisions/plans.js';
import { SourceConditions } from './reconcile/source-conditions.js';
import { WorkQueue } from './reconcile/workqueue.js';
import { Runtime } from './runtime.js';
import type { FunctionInfo } from './reconcile/status.js';
import { Secrets } from './secrets/secrets.js';
import { StatsHistory } from './stats/stats-history.js';
import { SqliteSecretStore } from './secrets/sqlite-secret-store.js';
import { DockerSandbox } from './sandbox/docker/docker-sandbox.js';
import { DockerImageBuilder } from './sandbox/docker/image-builder.js';
import type { ImageBuilder } from './images/function-image.js';
import { HostFit } from './sandbox/host-fit.js';
import type { Sandbox } from './sandbox/sandbox.js';
import { DesiredState } from './state/desired-state.js';
import { SqliteStore } from './state/sqlite-store.js';
import { collectOrphans } from './cleanup.js';
import type { Store } from './state/store.js';
import { systemClock, type Clock } from './support/clock.js';
import { compiledFile } from './support/compiled-file.js';
import type { GlambdarError } from './support/errors.js';
import { createLogger, type Logger } from './support/logger.js';

/** The ballast file kept in the data folder for a deletion on a disk something else filled. */
const BALLAST_BYTES = 4 * 1024 * 1024;

/** The parts a Runtime drives, as the composition root (wiring.ts) builds them. */
export interface RuntimeParts {
  config: RuntimeConfig;
  clock: Clock;
  log: Logger;
  store: Store;
  sandbox: Sandbox;
  pool: Pool;
  /** Each function's traffic plan, built once per generation. */
  plans: TrafficPlans;
  stemCells: StemCells;
  standbys: Standbys;
  autoscaler: Autoscaler;
  queue: WorkQueue;
  invoker: Invoker;
  invocations: InvocationLog;
  /** What containers printed outside invocations, per function. */
  containerOutput: ContainerOutput;
  metrics: InvocationMetrics;
  /** The dashboard's per-second history of every function. */
  history: StatsHistory;
  paths: DataPaths;
  hostFit: HostFit;
  desired: DesiredState;
  access: AccessControl;
  secrets: Secrets;
  /** Async jobs and schedules. */
  events: Events;
  /** Whether each manifest function's file applies (the SourceValid condition). */
  sources: SourceConditions;
  /** The data disk's free space, its reserve and ballast. */
  space: DiskSpace;
  /** Invocation records that could not be written. */
  drops: RecordDrops;
  /** Removes containers of runtimes whose data folder is gone (Docker only; see cleanup.ts). */
  collectOrphans?: () => Promise<Array<{ name: string }>>;
  /** Builds function images (`glambdar image`). */
  images: ImageBuilder;
  /** Registers what to do once a deleted function is fully gone (the reconciler calls it). */
  onPurged(handler: (name: string) => void): void;
}

/** What `GET /metrics` reads, in one snapshot. */
export interface MetricsSnapshot {
  functions: FunctionInfo[];
  invocations: InvocationSnapshot[];
  stemCellsReady: number;
  jobs: JobMetrics;
  /** Invocation records dropped since the process started (a full data disk). */
  recordsDropped: number;
}

/** Options of the composition root; everything but `config` and `statusOf` has a production default. */
export interface RuntimeOptions {
  config: RuntimeConfig;
  /** The HTTP layer's status for an error, recorded with failed invocations. */
  statusOf: (err: GlambdarError) => number;
  sandbox?: Sandbox;
  /** Builds function images; default: Docker's builder. */
  images?: ImageBuilder;
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
  /** Each container's own secrets folder, `<secretMounts>/<replica key>/`. */
  secretMounts: string;
  db: string;
  /** The generated admin token (0600). */
  adminToken: string;
}

/** The data folder's layout: the one place it is written down. */
export function dataPaths(dir: string): DataPaths {
  return {
    functions: join(dir, 'functions'),
    sockets: join(dir, 'sockets'),
    worker: join(dir, 'runtime', 'worker'),
    tmp: join(dir, 'tmp'),
    cells: join(dir, 'cells'),
    secretMounts: join(dir, 'secret-mounts'),
    db: join(dir, 'glambdar.db'),
    adminToken: join(dir, 'admin-token'),
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
  for (const sub of [paths.functions, paths.sockets, paths.worker, paths.tmp, paths.cells, paths.secretMounts, join(dir, 'manifests')]) await mkdir(sub, { recursive: true, mode: 0o700 });
  const log = options.log ?? createLogger(options.config.logLevel);
  const clock = options.clock ?? systemClock;
  const adminToken = await loadAdminToken(paths.adminToken, options.config.adminToken, log);
  const opening = clock.now();
  const store = new SqliteStore(paths.db, { revisionHistory: options.config.revisionHistory });
  if (store.convertedRecords > 0) log.info(`stored ${store.convertedRecords} invocation records of the previous version in chunks (${clock.now() - opening} ms, once)`);
  // Async jobs, keys and secrets: the same database file, a connection each.
  const jobs = new SqliteJobStore(paths.db);
  const access = new AccessControl({ adminToken, required: options.config.auth === 'token', keys: new SqliteKeyStore(paths.db), clock });
  const secrets = new Secrets({ store: new SqliteSecretStore(paths.db), clock });
  for (const file of ['glambdar.db', 'glambdar.db-wal', 'glambdar.db-shm']) await chmod(join(dir, file), 0o600).catch(() => undefined);
  await installWorker(paths.worker);
  const drops = new RecordDrops({ clock, log });
  const writer = new ThreadRecordWriter({ dbPath: paths.db, store, log, onDropped: (records, why) => drops.count(records, why) });
  const parts = wire({ ...options, log, clock }, { store, jobs, access, secrets, drops }, paths, writer);
  return { runtime: new Runtime(parts), parts };
}

/** The stores wire() builds around. */
interface Stores {
  store: Store;
  jobs: JobStore;
  access: AccessControl;
  secrets: Secrets;
  drops: RecordDrops;
}

/** Builds every part of the controller around its stores. */
function wire(options: RuntimeOptions & { log: Logger; clock: Clock }, { store, jobs, access, secrets, drops }: Stores, paths: DataPaths, writer: RecordWriter): RuntimeParts {
  const { config, log, clock } = options;
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
    secretMountsDir: paths.secretMounts,
    startTimeoutMs: config.startTimeoutMs,
    perSize: config.stemCells,
    initialSizes: [{ memoryMb: SPEC_DEFAULTS.memoryMb, cpus: SPEC_DEFAULTS.cpus }],
  });
  const standbys = new Standbys({ sandbox, log, functionsDir: paths.functions, socketsDir: paths.sockets, workerDir: paths.worker, secretMountsDir: paths.secretMounts });
  const stats = new TrafficStats({ clock });
  // The dashboard's history: fed by the invoke path's observer, sampled after each autoscaler tick.
  const history = new StatsHistory({
    clock,
    functions: () => store.list().flatMap((fn) => (fn.deleting ? [] : [fn.name])),
    sample: (name) => ({
      ...replicaCounts(pool.replicas(name)),
      desiredReplicas: store.getStatus(name)?.desiredReplicas ?? 0,
      predictedRps: autoscaler.predictedRps(name),
      panic: autoscaler.panicking(name),
    }),
  });
  // The queue is made last (it needs the reconciler); the callbacks below run only after that.
  let queue: WorkQueue | undefined;
  const enqueue = (name: string) => queue?.add(name);
  // The autoscaler's keys are names, and `name@revision` while traffic is split (names have no "@").
  const autoscaler = new Autoscaler({ clock, stats, onRecommendationChange: (key) => enqueue(key.split('@')[0]!), onTick: () => history.tick() });
  const plans = new TrafficPlans(store);
  const containerOutput = new ContainerOutput({ clock });
  const pool = new Pool({
    budget,
    stemCells,
    standbys,
    sandbox,
    clock,
    log,
    functionsDir: paths.functions,
    socketsDir: paths.sockets,
    workerDir: paths.worker,
    secretMountsDir: paths.secretMounts,
    secrets,
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
    observer: new Observers([trafficObserver(stats), metricsObserver(metrics), recordsObserver(invocations), arrivalsObserver, history.observer()]),
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
    standbys,
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
    standbys,
    autoscaler,
    queue,
    invoker,
    invocations,
    containerOutput,
    metrics,
    history,
    paths,
    hostFit,
    access,
    secrets,
    desired: new DesiredState({ store, functionsDir: paths.functions, clock, checkFits: (spec) => hostFit.check(spec), checkSpec: checkSchedule, space, secrets }),
    space,
    drops,
    // Orphans are Docker's matter: with another sandbox (the tests' fake) there are none.
    collectOrphans: options.sandbox ? undefined : () => collectOrphans(),
    events,
    sources: new SourceConditions(),
    images: options.images ?? new DockerImageBuilder({ image: config.image, workerDir: paths.worker, log }),
    onPurged: (handler) => (onPurged = handler),
  };
  return parts;
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
