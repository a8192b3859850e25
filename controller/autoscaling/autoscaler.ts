import { SPEC_DEFAULTS, type FunctionSpec } from '../../schemas/index.js';
import type { Clock, TimerHandle } from '../support/clock.js';
import { KeepAlivePolicy, holds, type IdlePlan, type KeepAlivePolicyOptions } from './keep-alive-policy.js';
import { HeldCapacity } from './held-capacity.js';
import { overflowSlots } from './overflow-sizing.js';
import type { TrafficStats } from './traffic-stats.js';

/**
 * The spec fields the autoscaler reads. The two window fields are optional so that a record
 * stored before they existed still scales with their defaults ({@link SPEC_DEFAULTS}).
 */
export type ScalingSpec = Pick<FunctionSpec, 'maxConcurrency' | 'minWarm' | 'maxReplicas'> &
  Partial<Pick<FunctionSpec, 'scaleDownDelayMs' | 'idleTimeoutMs'>>;

/**
 * `hybrid` (the runtime's): the EWMA sizes, the idle-time histogram decides when an idle
 * function holds containers ({@link KeepAlivePolicy}). `ewma`: the EWMA alone with the fixed
 * keep-alive, as before idle times were kept; the simulator compares the two.
 */
export type ScalingPolicy = 'hybrid' | 'ewma';

/** Buckets a late tick feeds at most. */
const MAX_CATCH_UP_BUCKETS = 60;

/** Tuning of the predictor; every field has a default. */
export interface AutoscalerOptions {
  clock: Clock;
  /** Where observations come from; its bucket width is the tick. */
  stats: TrafficStats;
  /** Called when a function's recommendation changed at a tick: enqueue it for reconcile. */
  onRecommendationChange?: (name: string) => void;
  /** Called after each tick, once the predictions are current: the dashboard's history samples them then. */
  onTick?: () => void;
  /** Base smoothing factor: the alpha when the observation equals the prediction. Default 0.2. */
  a0?: number;
  /** Bounds of the dynamic alpha. Defaults 0.1 and 0.9. */
  aMin?: number;
  aMax?: number;
  /** Share of a container's maxConcurrency the recommendation plans to use. Default 0.7. */
  targetUtilization?: number;
  /** How long panic lasts after its condition last held. Default 6000 ms. */
  panicWindowMs?: number;
  /** Panic when observed concurrency exceeds this many times what ready containers hold. Default 2. */
  panicThreshold?: number;
  /** Default `hybrid`. */
  policy?: ScalingPolicy;
  /** Tuning of the idle-time policy (`hybrid` only). */
  keepAlive?: KeepAlivePolicyOptions;
  /**
   * Sizing target of policy `hybrid`: requests a minute predicted to find every slot busy
   * (see {@link overflowSlots}), from one request in flight on average. Default 3.
   */
  overflowPerMinute?: number;
}

/** A dynamic-alpha EWMA of one signal, starting at 0. */
class Predictor {
  value = 0;

  constructor(
    readonly a0: number,
    readonly aMin: number,
    readonly aMax: number,
  ) {}

  /**
   * `s = |x - ewma| / (ewma + 1)`, `alpha = clamp(a0 + (1 - a0) s, aMin, aMax)`,
   * `ewma = alpha x + (1 - alpha) ewma`. `s` is the surprise relative to the level (the `+ 1`
   * keeps it finite at 0): a jump moves the estimate most of the way at once (alpha near
   * aMax), noise around a steady level moves it by about a0.
   */
  observe(x: number): void {
    const s = Math.abs(x - this.value) / (this.value + 1);
    const alpha = Math.min(this.aMax, Math.max(this.aMin, this.a0 + (1 - this.a0) * s));
    this.value = alpha * x + (1 - alpha) * this.value;
    // The recursion only approaches 0; below a hundredth of a request it is 0.
    if (this.value < 0.01) this.value = 0;
  }
}

/** Everything the autoscaler remembers of one function. */
interface FunctionState {
  rps: Predictor;
  concurrency: Predictor;
  /** Last bucket fed to the predictors. */
  fedBucket: number;
  /** Concurrency of the last `panicBuckets` buckets (a ring). */
  recent: Float64Array;
  recentCount: number;
  /** Panic lasts until this time. */
  panicUntil: number;
  /** Peak in flight of the last bucket fed. */
  lastPeak: number;
  /** The most slots planned since panic began; the plan never drops during panic. */
  panicSlots: number;
  /** Slots planned at each tick of the stable window, kept as a decreasing deque. */
  window: Array<{ at: number; slots: number }>;
  /** What the reconciler last told us, used by ticks to recompute the recommendation. */
  spec: ScalingSpec | null;
  readyReplicas: number;
  /** The last invocation the store knows of: unlike the traffic stats, it outlives a restart. */
  lastInvokedAt: number | null;
  /** The recommendation the runtime last saw (told by a tick or read by the reconciler). */
  lastRecommendation: number | null;
  /** What the function holds while idle (policy `hybrid`). */
  held: HeldCapacity;
  /** The idle plan, made again when the idle times or the idle timeout change. */
  idlePlan: { plan: IdlePlan; samples: number; idleTimeoutMs: number } | null;
}

/**
 * The autoscaler: predicts each function's arrival rate and concurrency with a dynamic-alpha
 * EWMA fed once per bucket of {@link TrafficStats}, and turns the prediction into a replica
 * recommendation that the reconciler converges to. It only recommends; it never starts or
 * stops a container.
 *
 * Each tick plans `slots`, the in-flight requests the replicas must hold at full load:
 * 1. `predicted concurrency / targetUtilization`: the mean, with headroom;
 * 2. at least the peak in flight of the last bucket (queued requests count): a mean of 5 on
 *    one container of 10 still overflows it many times a minute, and the pool's own start
 *    for those waiters must not be undone by the next reconcile;
 * 3. while panicking (observed concurrency over `panicThreshold` x readyReplicas x
 *    maxConcurrency, as in Knative), at least the highest concurrency of the panic window
 *    with headroom, and never less than earlier in the same panic;
 * 4. policy `hybrid`, from one request in flight on average: enough slots that at most
 *    `overflowPerMinute` requests a minute are predicted to find them all busy
 *    ({@link overflowSlots}, Little's law and the Poisson tail of an M/G/inf queue).
 * The stable window keeps the slots of the last `scaleDownDelayMs`, and its maximum is used:
 * a rise applies at once, a fall only after the window. Between ticks the requests in flight
 * (and the peak of the open bucket) are a floor too.
 *
 * `replicas = ceil(slots / maxConcurrency)`, at least 1 while the function is busy (a request
 * in flight, or a pause shorter than the traffic stats' `minIdleMs`), clamped to
 * `[minWarm, maxReplicas]`. Once idle (policy `hybrid`), the function holds the slots of its
 * last busy periods ({@link HeldCapacity}) whenever its {@link IdlePlan} says so, and none
 * otherwise: with no, few or spread idle times that is until `idleTimeoutMs` after its last
 * request ended (the keep-alive, then scale to zero); with a regular rhythm it unloads at
 * once and is pre-warmed shortly before the next burst is due. Policy `ewma` keeps one
 * container (or the stable window's plan) until `idleTimeoutMs` after the last request
 * instead, and knows no pre-warm. A function the traffic stats have not seen since the
 * runtime started counts the stored last invocation toward `idleTimeoutMs` under both.
 */
export class Autoscaler {
  #clock: Clock;
  #stats: TrafficStats;
  #onChange: (name: string) => void;
  #onTick: () => void;
  #a0: number;
  #aMin: number;
  #aMax: number;
  #util: number;
  #panicWindowMs: number;
  #panicThreshold: number;
  #panicBuckets: number;
  #policy: ScalingPolicy;
  #keepAlive: KeepAlivePolicy;
  #overflowPerMinute: number;
  #states = new Map<string, FunctionState>();
  #timer: TimerHandle | null = null;

  constructor(options: AutoscalerOptions) {
    this.#clock = options.clock;
    this.#stats = options.stats;
    this.#onChange = options.onRecommendationChange ?? (() => undefined);
    this.#onTick = options.onTick ?? (() => undefined);
    this.#a0 = options.a0 ?? 0.2;
    this.#aMin = options.aMin ?? 0.1;
    this.#aMax = options.aMax ?? 0.9;
    this.#util = options.targetUtilization ?? 0.7;
    this.#panicWindowMs = options.panicWindowMs ?? 6000;
    this.#panicThreshold = options.panicThreshold ?? 2;
    this.#panicBuckets = Math.max(1, Math.ceil(this.#panicWindowMs / options.stats.bucketMs));
    this.#policy = options.policy ?? 'hybrid';
    this.#keepAlive = new KeepAlivePolicy(options.keepAlive);
    this.#overflowPerMinute = options.overflowPerMinute ?? 3;
  }

  /** Ticks at every bucket boundary of the clock until `stop`. */
  start(): void {
    if (this.#timer) return;
    const schedule = (): void => {
      const ms = this.#stats.bucketMs;
      const delay = ms - (this.#clock.now() % ms);
      this.#timer = this.#clock.setTimeout(() => {
        this.tick();
        schedule();
      }, delay === 0 ? ms : delay);
    };
    schedule();
  }

  stop(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * Feeds every closed bucket not yet seen to the predictors (one EWMA step per bucket, so a
   * late tick does not change the maths) and announces changed recommendations.
   */
  tick(): void {
    const now = this.#clock.now();
    const open = this.#stats.currentBucket();
    for (const name of this.#stats.names()) this.#state(name, open);
    for (const [name, st] of this.#states) {
      // After a long stall only the recent buckets matter (and only they are still kept).
      for (let b = Math.max(st.fedBucket + 1, open - MAX_CATCH_UP_BUCKETS); b < open; b++) {
        const bucket = this.#stats.bucket(name, b);
        this.#observe(st, bucket?.arrivals ?? 0, bucket?.concurrency ?? 0, bucket?.peakInFlight ?? 0, (b + 1) * this.#stats.bucketMs);
      }
      st.fedBucket = Math.max(st.fedBucket, open - 1);
      this.#plan(name, st, now);
      if (!st.spec) continue;
      const recommendation = this.#recommend(name, st, st.spec, now);
      if (recommendation !== st.lastRecommendation) {
        st.lastRecommendation = recommendation;
        this.#onChange(name);
      }
    }
    this.#onTick();
  }

  /**
   * Tells the autoscaler what the reconciler sees of a function: its spec, its ready
   * containers and the last invocation the store knows of. Ticks use them for panic and for
   * change notifications, so call it on every reconcile, before {@link recommend}.
   */
  observe(name: string, spec: ScalingSpec, readyReplicas: number, lastInvokedAt: number | null = null): void {
    const st = this.#state(name, this.#stats.currentBucket());
    st.spec = spec;
    st.readyReplicas = readyReplicas;
    st.lastInvokedAt = lastInvokedAt;
    st.lastRecommendation = this.#recommend(name, st, spec, this.#clock.now());
  }

  /**
   * The replicas the reconciler should converge to, within `[minWarm, maxReplicas]`, for the
   * spec last observed (0 for a function never observed). A query: it changes nothing.
   */
  recommend(name: string): number {
    const st = this.#states.get(name);
    if (!st?.spec) return 0;
    return this.#recommend(name, st, st.spec, this.#clock.now());
  }

  /** Predicted arrivals per second. */
  predictedRps(name: string): number {
    return this.#states.get(name)?.rps.value ?? 0;
  }

  /** Predicted invocations in flight (time-weighted, queued ones included). */
  predictedConcurrency(name: string): number {
    return this.#states.get(name)?.concurrency.value ?? 0;
  }

  /** True while the function is in panic mode. */
  panicking(name: string): boolean {
    const st = this.#states.get(name);
    return st !== undefined && this.#clock.now() < st.panicUntil;
  }

  /** Drops a function (after deletion). */
  forget(name: string): void {
    this.#states.delete(name);
  }

  #state(name: string, openBucket: number): FunctionState {
    let st = this.#states.get(name);
    if (!st) {
      st = {
        rps: new Predictor(this.#a0, this.#aMin, this.#aMax),
        concurrency: new Predictor(this.#a0, this.#aMin, this.#aMax),
        fedBucket: openBucket - 1,
        recent: new Float64Array(this.#panicBuckets),
        recentCount: 0,
        panicUntil: -Infinity,
        lastPeak: 0,
        panicSlots: 0,
        window: [],
        spec: null,
        readyReplicas: 0,
        lastInvokedAt: null,
        lastRecommendation: null,
        held: new HeldCapacity(),
        idlePlan: null,
      };
      // A function first seen mid-bucket: that bucket is its first observation.
      const first = this.#stats.lastArrivalAt(name);
      if (first !== null) st.fedBucket = Math.min(st.fedBucket, Math.floor(first / this.#stats.bucketMs) - 1);
      this.#states.set(name, st);
    }
    return st;
  }

  #observe(st: FunctionState, arrivals: number, concurrency: number, peak: number, endMs: number): void {
    st.rps.observe((arrivals * 1000) / this.#stats.bucketMs);
    st.concurrency.observe(concurrency);
    st.lastPeak = peak;
    st.recent[st.recentCount % st.recent.length] = concurrency;
    st.recentCount += 1;
    if (!st.spec) return;
    const capacity = st.readyReplicas * st.spec.maxConcurrency;
    if (concurrency > 0 && concurrency > this.#panicThreshold * capacity) st.panicUntil = endMs + this.#panicWindowMs;
  }

  /**
   * Adds this tick's planned slots to the stable window: what traffic needs, or what an idle
   * function holds (policy `hybrid`) when that is more. Tracks the busy periods' needs.
   */
  #plan(name: string, st: FunctionState, now: number): void {
    const c = st.concurrency.value;
    let slots = Math.max(c / this.#util, st.lastPeak);
    // Requests waiting for a container hold no slot: at most rate x handler time (Little's law).
    // Below one request in flight, the per-second EWMA of sparse traffic is too noisy to size a tail by.
    const busySlots = Math.min(c, (st.rps.value * this.#stats.meanDurationMs(name)) / 1000);
    if (this.#policy === 'hybrid' && busySlots >= 1) slots = Math.max(slots, overflowSlots(busySlots, st.rps.value, this.#overflowPerMinute / 60));
    if (now < st.panicUntil) {
      let seen = 0;
      for (let i = 0; i < Math.min(st.recentCount, st.recent.length); i++) seen = Math.max(seen, st.recent[i]!);
      slots = Math.max(slots, seen / this.#util, st.panicSlots);
      st.panicSlots = slots;
    } else st.panicSlots = 0;
    const idleSince = this.#stats.idleSince(name);
    const busy = this.#stats.inFlight(name) > 0 || (idleSince !== null && now - idleSince < this.#stats.minIdleMs);
    st.held.track(busy, slots);
    const lastArrival = this.#stats.lastArrivalAt(name);
    if (!busy && lastArrival !== null && this.#policy === 'hybrid' && holds(this.idlePlan(name, st), now - lastArrival)) st.held.heldAt(now);
    const delay = st.spec?.scaleDownDelayMs ?? SPEC_DEFAULTS.scaleDownDelayMs;
    // A decreasing deque: an entry below a newer one can never be the window's maximum.
    while (st.window.length > 0 && st.window[st.window.length - 1]!.slots <= slots) st.window.pop();
    st.window.push({ at: now, slots });
    while (st.window.length > 1 && st.window[0]!.at <= now - delay) st.window.shift();
  }

  /**
   * When an idle function holds containers, by its idle times and idle timeout (the fixed
   * keep-alive without a spec or idle times). A query; made again only when those change.
   */
  idlePlan(name: string, st: FunctionState | undefined = this.#states.get(name)): IdlePlan {
    const idleTimeoutMs = st?.spec?.idleTimeoutMs ?? SPEC_DEFAULTS.idleTimeoutMs;
    const idle = this.#stats.idleTimes(name);
    const samples = idle?.samples ?? 0;
    const cached = st?.idlePlan;
    if (cached && cached.samples === samples && cached.idleTimeoutMs === idleTimeoutMs) return cached.plan;
    const plan = this.#keepAlive.plan(idle, idleTimeoutMs);
    if (st) st.idlePlan = { plan, samples, idleTimeoutMs };
    return plan;
  }

  #recommend(name: string, st: FunctionState, spec: ScalingSpec, now: number): number {
    const delay = spec.scaleDownDelayMs ?? SPEC_DEFAULTS.scaleDownDelayMs;
    const idleTimeout = spec.idleTimeoutMs ?? SPEC_DEFAULTS.idleTimeoutMs;
    const newest = st.window[st.window.length - 1];
    let slots = 0;
    for (const entry of st.window) {
      if (entry.at > now - delay || entry === newest) slots = Math.max(slots, entry.slots);
    }
    const inFlight = this.#stats.inFlight(name);
    slots = Math.max(slots, inFlight, this.#stats.openPeakInFlight(name));
    slots = Math.max(slots, st.held.floor(now));
    const idleSince = this.#stats.idleSince(name);
    const lastArrival = this.#stats.lastArrivalAt(name);
    let replicas: number;
    if (this.#policy === 'hybrid' && idleSince !== null && lastArrival !== null && inFlight === 0) {
      // Busy through short pauses (unless the idle timeout is shorter still), then as the
      // policy says, in idle time counted from the last arrival.
      const busy = now - idleSince < Math.min(this.#stats.minIdleMs, idleTimeout);
      if (busy) replicas = Math.max(1, Math.ceil(slots / spec.maxConcurrency - 1e-9));
      else if (holds(this.idlePlan(name, st), now - lastArrival)) replicas = Math.max(1, Math.ceil(Math.max(slots, st.held.slots) / spec.maxConcurrency - 1e-9));
      else replicas = 0;
    } else {
      // In flight, or not seen since the runtime started: the stored time counts too, so a
      // runtime restarted 1 minute after the last request keeps the containers it adopted
      // for the rest of the idle timeout, as it would have without the restart.
      const last = Math.max(lastArrival ?? -Infinity, st.lastInvokedAt ?? -Infinity);
      const active = inFlight > 0 || now - last < idleTimeout;
      replicas = active ? Math.max(1, Math.ceil(slots / spec.maxConcurrency - 1e-9)) : 0;
    }
    return Math.min(spec.maxReplicas, Math.max(spec.minWarm, replicas));
  }
}

