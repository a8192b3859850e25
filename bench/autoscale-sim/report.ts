/** The simulator's scenarios, the table of every run, and the safety rule applied to it. */
import { POLICIES, simulate, type Policy, type SimResult, type SimSpec } from './sim.js';
import { standardTraces, type Trace } from './traces.js';

/** A named function spec the table is run with. */
export interface Scenario {
  name: string;
  description: string;
  spec: Partial<SimSpec>;
}

/**
 * The scenarios of the README table.
 * - `default`: the spec defaults (maxConcurrency 10, idle timeout 10 min).
 * - `lambda-like`: one request per container and a 30-s idle timeout (Knative's
 *   scale-to-zero grace), so a reactive pool gives burst containers back between bursts.
 */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'default', description: 'spec defaults: maxConcurrency 10, maxReplicas 10, scaleDownDelayMs 60000, idleTimeoutMs 600000', spec: { maxReplicas: 10 } },
  {
    name: 'lambda-like',
    description: 'maxConcurrency 1, maxReplicas 50, scaleDownDelayMs 60000, idleTimeoutMs 30000',
    spec: { maxConcurrency: 1, maxReplicas: 50, idleTimeoutMs: 30_000 },
  },
];

/** Every policy's run of one trace in one scenario. */
export interface Comparison {
  scenario: string;
  trace: string;
  runs: Record<Policy, SimResult>;
}

/** Every trace under every policy in every scenario; `spec` overrides the scenarios' specs. */
export function runAll(
  options: { seed?: number; startMs?: number; spec?: Partial<SimSpec>; traces?: Trace[]; scenarios?: readonly Scenario[] } = {},
): Comparison[] {
  const out: Comparison[] = [];
  for (const scenario of options.scenarios ?? SCENARIOS) {
    for (const trace of options.traces ?? standardTraces()) {
      const spec = { ...scenario.spec, ...options.spec };
      const run = (policy: Policy) => simulate({ trace, policy, seed: options.seed, startMs: options.startMs, spec });
      out.push({ scenario: scenario.name, trace: trace.name, runs: { reactive: run('reactive'), ewma: run('ewma'), hybrid: run('hybrid') } });
    }
  }
  return out;
}

/** The hybrid policy against reactive-only: the safety rule and the lambda-like goal. */
export interface Verdict {
  /** Cold-start waits after each function's first burst. */
  reactiveWaits: number;
  hybridWaits: number;
  /** `1 - hybrid / reactive` of those waits (0 when neither has any). */
  reduction: number;
  /** hybrid container-seconds / reactive container-seconds. */
  costRatio: number;
  /** No more cold-start waits than reactive-only, or at least 20 % fewer container-seconds (the exception the README names). */
  safe: boolean;
  exception: boolean;
}

/** Applies the safety rule to one comparison. */
export function verdict(c: Comparison): Verdict {
  const { reactive, hybrid } = c.runs;
  const reactiveWaits = reactive.coldWaits - reactive.firstBurstColdWaits;
  const hybridWaits = hybrid.coldWaits - hybrid.firstBurstColdWaits;
  const reduction = reactiveWaits === 0 ? (hybridWaits === 0 ? 0 : -Infinity) : 1 - hybridWaits / reactiveWaits;
  const costRatio = reactive.containerSeconds === 0 ? 1 : hybrid.containerSeconds / reactive.containerSeconds;
  const noWorse = hybrid.coldWaits <= reactive.coldWaits;
  const exception = !noWorse && costRatio <= 0.8;
  return { reactiveWaits, hybridWaits, reduction, costRatio, safe: noWorse || exception, exception };
}

/** What the last column says: waits after the first burst, reactive -> hybrid, and the cost ratio. */
function summary(v: Verdict): string {
  const { reactiveWaits: r, hybridWaits: h } = v;
  const waits = h < r ? `${Math.round(v.reduction * 100)} % fewer waits (${r} -> ${h})` : h === r ? `as many waits (${h})` : `${h - r} more waits (${r} -> ${h})`;
  const head = `${waits}, ${v.costRatio.toFixed(2)}x container-s`;
  if (!v.safe) return `${head}: LOSES to reactive`;
  return v.exception ? `${head}: saves ${Math.round((1 - v.costRatio) * 100)} % (the exception)` : head;
}

/** The results as a markdown table: one row per scenario and trace, the three policies side by side. */
export function markdownTable(comparisons: readonly Comparison[]): string {
  const triple = (c: Comparison, f: (r: SimResult) => number | string) => POLICIES.map((p) => String(f(c.runs[p]))).join(' / ');
  const head = [
    'scenario',
    'trace',
    'requests',
    'cold-start waits',
    'in first burst',
    'p99 wait ms',
    'container-s',
    'starts',
    '503s',
    'hybrid vs reactive after the first burst',
  ];
  const rows = comparisons.map((c) => [
    c.scenario,
    c.trace,
    String(c.runs.reactive.requests),
    triple(c, (r) => r.coldWaits),
    triple(c, (r) => r.firstBurstColdWaits),
    triple(c, (r) => r.p99WaitMs),
    triple(c, (r) => r.containerSeconds),
    triple(c, (r) => r.containerStarts),
    triple(c, (r) => r.rejected),
    summary(verdict(c)),
  ]);
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i < 2 || i === head.length - 1 ? '---' : '---:'))), ...rows.map(line)].join('\n') + '\n';
}
