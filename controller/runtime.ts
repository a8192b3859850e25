import type { KeyInfo, NewKey } from './access/access-control.js';
import type { ContainerOutputEntry } from './invocation/container-output.js';
import type { InvocationReply, InvokeOutcome } from './invocation/invoker.js';
import { revisionInfos, type RevisionInfo } from './revisions/revision-info.js';
import type { InvokeRequest } from './pool/worker-client.js';
import { functionInfo, type FunctionInfo } from './reconcile/status.js';
import { InfoListing, type InfoPage, type ListOptions } from './reconcile/info-listing.js';
import { awaitRollout } from './reconcile/rollout.js';
import { SecretAdmin, type SecretListing, type SecretWrite } from './secrets/secret-admin.js';
import type { DeployRequest, RollbackTarget, WriteResult } from './state/desired-state.js';
import type { TimerHandle } from './support/clock.js';
import type { FunctionRecord, FunctionSource, LogRecord, Revision } from './state/records.js';
import { TagNotFound, withCauses } from './support/errors.js';
import type { MetricsSnapshot, RuntimeParts } from './wiring.js';
import { adoptRunning, Resync } from './reconcile/resync.js';
import type { JobStatus, JobView } from './events/job.js';
import { imageRequest, type ImageResult } from './images/function-image.js';
import type { FunctionStats } from './stats/function-series.js';
import type { StatsOverview } from './stats/stats-history.js';

/**
 * The controller as the API sees it: verbs, no parts. Writes change desired state and
 * enqueue the function's name; the reconcile loop does the rest; `invoke` borrows from the
 * reconciled pool. Built by `openRuntime` (wiring.ts).
 */
export class Runtime {
  #p: RuntimeParts;
  #purgeWaiters = new Map<string, Array<() => void>>();
  #stopWatching: (() => void) | null = null;
  #resync: Resync;
  #stopped = false;
  #secretAdmin: SecretAdmin;
  #listing: InfoListing;

  constructor(parts: RuntimeParts) {
    this.#resync = new Resync(parts);
    this.#p = parts;
    this.#listing = new InfoListing({ build: () => this.#buildList(), clock: parts.clock });
    this.#secretAdmin = new SecretAdmin({ secrets: parts.secrets, desired: parts.desired, enqueue: (name) => parts.queue.add(name) });
    parts.onPurged((name) => this.#purged(name));
  }

  /** This runtime's id, made once per data folder: it labels every container it owns. */
  get instanceId(): string {
    return this.#p.store.instanceId;
  }

  /** A folder of the runtime's own for uploads in transit. */
  get uploadDir(): string {
    return this.#p.paths.tmp;
  }

  /**
   * Starts the control loop: adopts the warm containers a previous run left (before the API
   * serves, so the first invoke after a restart is warm), then reconciles every function and
   * follows engine events.
   */
  async start(): Promise<void> {
    const { sandbox, log, hostFit, stemCells, autoscaler, queue } = this.#p;
    void sandbox.prepare().catch((err: unknown) => log.error(`runtime image not ready (functions start once it is): ${withCauses(err)}`));
    hostFit.learn(sandbox);
    // Containers no runtime can ever adopt (their data folder was deleted): gone, in the background.
    void this.#p.collectOrphans?.().then(
      (removed) => removed.length > 0 && log.info(`removed ${removed.length} orphaned container(s) of runtimes whose data folder is gone: ${removed.map((c) => c.name).join(', ')}`),
      (err: unknown) => log.warn(`could not look for orphaned containers: ${withCauses(err)}`),
    );
    await this.#p.space.ensureBallast();
    // Whatever a crash cut short: keys of functions gone, secret values not yet rolled out.
    this.#p.access.sweep((name) => this.#p.store.get(name) !== undefined);
    this.#p.desired.refreshSecrets();
    await adoptRunning(this.#p);
    stemCells.start();
    autoscaler.start();
    this.#resync.start();
    this.#stopWatching = sandbox.watch((event) => queue.add(event.functionName));
    // Jobs left by the last run and missed schedule fires, once the pool has what it adopted.
    this.#p.events.start();
  }

  /** Deploys (or redeploys) a function from an archive or folder; the spec patch merges over the current spec. */
  async deploy(request: DeployRequest): Promise<WriteResult> {
    return this.#written(await this.#p.desired.deploy(request));
  }

  /**
   * Waits until the function's current generation has a container that loaded its code (`POST /deploy?wait=ready`),
   * or rejects with NotReady and the load or start error; see reconcile/rollout.ts. Default deadline: the start timeout and 5 s.
   */
  async awaitReady(name: string, timeoutMs = this.#p.config.startTimeoutMs + 5_000): Promise<void> {
    const { pool, store, clock } = this.#p;
    await awaitRollout({ pool, store, clock }, this.#p.desired.live(name), timeoutMs);
  }

  /** Refuses (507 INSUFFICIENT_STORAGE) before an upload is stored when the data disk is under its reserve. */
  checkStorage(): void {
    this.#p.desired.checkStorage();
  }

  /** Applies a partial spec live. */
  configure(name: string, patch: unknown, source: FunctionSource = 'api'): WriteResult {
    return this.#written(this.#p.desired.configure(name, patch, source));
  }

  /** Readies the installed code for a patch's `handler` (a TypeScript entry compiled) before `configure` checks it. */
  prepareHandler(name: string, patch: unknown): Promise<void> {
    return this.#p.desired.prepareHandler(name, patch);
  }

  /**
   * Rolls back to a kept revision (by number or tag; by default the one before the latest): a new generation with its
   * code and spec, rolled out as any deploy is. `from` is the revision rolled back to.
   */
  rollback(name: string, to: RollbackTarget = {}, source: FunctionSource = 'api'): WriteResult & { from: Revision } {
    return this.#written(this.#p.desired.rollback(name, to, source));
  }

  /** The kept revisions of a function, oldest first, with their traffic, tags and containers. */
  revisions(name: string): RevisionInfo[] {
    const fn = this.#p.desired.live(name);
    return revisionInfos(fn, this.#p.store.revisions(name), this.#p.plans.plan(fn), this.#p.pool.replicas(name));
  }

  /**
   * Deletes a function: marks it, lets reconcile drain and remove everything, and waits up to
   * `waitMs` for that. Says which happened: `deleted` (it is gone) or `deleting` (it still
   * drains; a deploy of the name is refused until it is gone).
   */
  async remove(name: string, source: FunctionSource = 'api', waitMs = 30_000): Promise<'deleted' | 'deleting'> {
    let resolveGone!: () => void;
    const gone = new Promise<'deleted'>((resolve) => (resolveGone = () => resolve('deleted')));
    const list = this.#purgeWaiters.get(name) ?? [];
    list.push(resolveGone);
    this.#purgeWaiters.set(name, list);
    try {
      this.#p.desired.markDeleting(name, source);
    } catch (err) {
      const left = (this.#purgeWaiters.get(name) ?? []).filter((r) => r !== resolveGone);
      if (left.length > 0) this.#purgeWaiters.set(name, left);
      else this.#purgeWaiters.delete(name);
      throw err;
    }
    // Its keys go now, not at the purge: a function deployed again under its name meanwhile starts with none.
    this.#p.access.forgetFunction(name);
    this.#p.invoker.forget(name);
    this.#p.events.functionGone(name);
    this.#listing.changed();
    this.#p.queue.add(name);
    if (waitMs <= 0) return 'deleting';
    let timer: TimerHandle | null = null;
    const outcome = await Promise.race([gone, new Promise<'deleting'>((resolve) => (timer = this.#p.clock.setTimeout(() => resolve('deleting'), waitMs)))]);
    if (timer) this.#p.clock.clearTimeout(timer);
    return outcome;
  }

  /** The GitOps source's word on a function it manages: its manifest file applies (`problem` null) or not (the file's first error). Shown as the SourceValid condition. */
  reportSource(name: string, problem: string | null): void {
    const fn = this.#p.store.get(name);
    if (!fn || fn.deleting) return;
    if (this.#p.sources.report(name, problem, fn.generation, this.#p.clock.now())) this.#listing.changed();
  }

  /** Throws Unauthorized unless `authorization` carries the admin token (always passes with GLAMBDAR_AUTH=none). */
  authorizeControl(authorization: string | undefined): void {
    this.#p.access.checkAdmin(authorization);
  }

  /**
   * Whether this caller may invoke `name` (in memory: no database read). A public function
   * takes anyone; a private one (`spec.auth: key`) one of its keys or the admin token:
   * Unauthorized otherwise, Forbidden for a key of another function. Returns true when the
   * Authorization header must not reach the function (it carried a Glambdar credential).
   */
  authorizeInvoke(name: string, authorization: string | undefined): boolean {
    return this.#p.access.authorizeInvoke(this.#p.store.get(name), authorization);
  }

  /** Makes a key for a private function; the key is in this answer only. */
  createKey(name: string): NewKey {
    this.#p.desired.live(name);
    return this.#p.access.createKey(name);
  }

  /** A function's keys: ids and times, never the keys. */
  listKeys(name: string): KeyInfo[] {
    this.#p.desired.live(name);
    return this.#p.access.listKeys(name);
  }

  /** Revokes one key of a function, at once. */
  revokeKey(name: string, id: string): void {
    this.#p.desired.live(name);
    this.#p.access.revokeKey(name, id);
  }

  /** Creates or replaces a secret; a new value rolls the containers of the functions naming it. */
  putSecret(name: string, value: Buffer): SecretWrite {
    return this.#secretAdmin.put(name, value);
  }

  /** One secret, without its value. */
  secret(name: string): SecretListing {
    return this.#secretAdmin.info(name);
  }

  /** Every secret, without values. */
  listSecrets(): SecretListing[] {
    return this.#secretAdmin.list();
  }

  /** Deletes a secret no function names (SecretInUse naming them otherwise). */
  deleteSecret(name: string): void {
    this.#secretAdmin.delete(name);
  }

  /**
   * Runs one invocation; see Invoker. With `tag` (the route `/invoke/<name>@<tag>`), of the
   * revision that tag names, whatever the split (404 `TAG_NOT_FOUND` when none does).
   */
  invoke(name: string, request: InvokeRequest, body: Buffer, tag?: string): Promise<InvokeOutcome> {
    return this.#p.invoker.invoke(name, request, body, tag === undefined ? undefined : { tag });
  }

  /** {@link invoke} for the HTTP path: `reply` hears how it ended, and no promise is made on a warm replica's way. */
  startInvoke(name: string, request: InvokeRequest, body: Buffer, tag: string | undefined, reply: InvocationReply): void {
    this.#p.invoker.start(name, request, body, tag === undefined ? undefined : { tag }, reply);
  }

  /**
   * Stores an async invocation of a live function (committed before this returns) and has it
   * run as `invoke` would run it; `callbackUrl` gets the result when the job ends. With `tag`
   * (`/async/<name>@<tag>`), every try goes to the revision that tag names.
   */
  enqueue(name: string, request: InvokeRequest, body: Buffer, callbackUrl: string | null = null, tag?: string): JobView {
    // A tag no traffic entry carries is refused now (404), before anything is queued.
    const fn = tag === undefined ? undefined : this.#p.store.get(name);
    if (fn && !fn.deleting && !this.#p.plans.plan(fn).tagged(tag!)) throw new TagNotFound(name, tag!);
    return this.#p.events.enqueue(name, request, body, callbackUrl, tag ?? null);
  }

  /** One async job by its request id. */
  job(requestId: string): JobView {
    return this.#p.events.get(requestId);
  }

  /** Async jobs, newest first. */
  jobs(filter: { funcName?: string; status?: JobStatus; limit: number }): JobView[] {
    return this.#p.events.list(filter);
  }

  /** Queues a dead job again for a new round of tries. */
  retryJob(requestId: string): JobView {
    return this.#p.events.retry(requestId);
  }

  /** FunctionInfo of one function, with live replica counts. */
  info(name: string): FunctionInfo {
    this.#p.invocations.flush();
    return this.#info(this.#p.desired.live(name));
  }

  /**
   * FunctionInfo of every function, by name, from a snapshot shared by every reader and built
   * at most once a second (reconcile/info-listing.ts): counts may be that old.
   */
  list(): readonly FunctionInfo[] {
    return this.#listing.all();
  }

  /** One page of `GET /info` (`?limit=&continue=`), from the same snapshot. */
  listPage(options: ListOptions): InfoPage {
    return this.#listing.page(options);
  }

  /** Every live function and who owns it: what the GitOps source decides ownership by (live, cheap). */
  owners(): Array<Pick<FunctionRecord, 'name' | 'source' | 'manifestPath'>> {
    return this.#p.store.list().filter((fn) => !fn.deleting);
  }

  /**
   * Builds the image of a function's latest revision (docs/kubernetes.md "The image"), named
   * `<imagePrefix>/<name>:<tag>`, the tag `r<revision>-<digest>` (what the export references)
   * unless one is given. The same code gives the same digest label and, with the engine's build
   * cache, the same image.
   */
  async image(name: string, options: { imagePrefix: string; tag?: string | undefined }): Promise<ImageResult> {
    const record = this.#p.desired.live(name);
    const request = imageRequest(this.#info(record), record, this.#p.paths.functions, options);
    const built = await this.#p.images.build(request);
    return { name, revision: request.revision, codeDigest: request.codeDigest, image: built.reference, imageId: built.id, labels: built.labels };
  }

  /** Invocation records, newest first. */
  logs(name: string, options: { limit: number; since?: number }): LogRecord[] {
    this.#readyToReadLogs(name);
    return this.#p.store.logs(name, options);
  }

  /** The records after `afterId`, oldest first, at most `limit`: what a follower reads next. */
  logsAfter(name: string, options: { afterId: number; limit: number; since?: number }): LogRecord[] {
    this.#readyToReadLogs(name);
    return this.#p.store.logsAfter(name, options);
  }

  /**
   * What the function's containers printed outside invocations (at load, in background timers),
   * the newest `limit` entries, oldest first; in memory, bounded per function.
   */
  containerLogs(name: string, limit: number): ContainerOutputEntry[] {
    this.#p.desired.live(name);
    return this.#p.containerOutput.read(name, limit);
  }

  /** A function's last `seconds` whole seconds, one point each (`GET /stats/:name`): traffic, prediction, replicas, latency. */
  stats(name: string, seconds: number): FunctionStats {
    return this.#p.history.series(this.#p.desired.live(name).name, seconds);
  }

  /** Every function's last minute and the runtime process with its last `seconds` (`GET /stats`). */
  statsOverview(seconds: number): StatsOverview {
    return this.#p.history.overview(seconds);
  }

  /** Everything `GET /metrics` shows, read at once (counters exact: records are written first). */
  metricsSnapshot(): MetricsSnapshot {
    this.#p.invocations.flush();
    return {
      functions: this.#buildList(),
      invocations: this.#p.metrics.snapshot(),
      stemCellsReady: this.#p.stemCells.readyCount,
      jobs: this.#p.events.metrics(),
      recordsDropped: this.#p.drops.total,
    };
  }

  /** Stops the loop, flushes records and closes the store; containers stay for the next start to adopt. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopWatching?.();
    this.#resync.stop();
    this.#p.autoscaler.stop();
    // Tries in flight finish (bounded) before the pool lets go of its containers.
    await this.#p.events.stop();
    await this.#p.queue.shutdown();
    this.#p.pool.detachAll();
    // Generic stem cells are worth nothing to the next start; specialised ones and standbys
    // stay to be adopted.
    await Promise.all([this.#p.stemCells.stop(), this.#p.standbys.stop()]);
    await this.#p.invocations.close();
    this.#p.drops.close();
    this.#p.access.close();
    this.#p.secrets.close();
    this.#p.store.close();
  }

  /** A live function, and every record handed over so far in the database. */
  #readyToReadLogs(name: string): void {
    this.#p.desired.live(name);
    this.#p.invocations.flush();
  }

  /** FunctionInfo of every live function, built now. */
  #buildList(): FunctionInfo[] {
    return this.#p.store
      .list()
      .filter((fn) => !fn.deleting)
      .map((fn) => this.#info(fn));
  }

  #info(fn: FunctionRecord): FunctionInfo {
    const { store, pool, autoscaler, plans, events, sources } = this.#p;
    return functionInfo(fn, store.getStatus(fn.name), pool.replicas(fn.name), autoscaler.predictedRps(fn.name), plans.plan(fn), events.schedule(fn.name), sources.get(fn.name), this.#p.standbys.of(fn.name));
  }

  /**
   * After a desired-state write: the new plan is built now (not by the next request), the name
   * is reconciled, and the async side learns of the spec.
   */
  #written<T extends WriteResult>(result: T): T {
    this.#listing.changed();
    this.#p.plans.plan(result.record);
    this.#p.queue.add(result.record.name);
    this.#p.events.specChanged(result.record.name);
    return result;
  }

  #purged(name: string): void {
    this.#listing.changed();
    this.#p.access.forgetFunction(name);
    this.#p.invoker.forget(name);
    this.#p.containerOutput.forget(name);
    this.#p.sources.forget(name);
    this.#p.plans.forget(name);
    this.#p.autoscaler.forget(name);
    this.#p.events.functionGone(name);
    for (const resolve of this.#purgeWaiters.get(name) ?? []) resolve();
    this.#purgeWaiters.delete(name);
  }
}
