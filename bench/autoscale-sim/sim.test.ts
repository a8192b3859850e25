import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCENARIOS, markdownTable, runAll, verdict, type Comparison } from './report.js';
import { POLICIES, firstBurstLength, simulate } from './sim.js';
import { burstTrace, mixTrace, prng, standardTraces, steadyTrace, timerTrace } from './traces.js';

const lambdaLike = SCENARIOS.find((s) => s.name === 'lambda-like')!.spec;

// The README's table is the output of this run (seed 1): computed once for the tests below.
let table: Comparison[] | undefined;
const standardRun = (): Comparison[] => (table ??= runAll());

describe('autoscale simulator', () => {
  it('draws the same requests from the same seed, and other requests from another', () => {
    for (const trace of [timerTrace(), mixTrace()]) {
      expect(trace.generate(prng(3))).toEqual(trace.generate(prng(3)));
      expect(trace.generate(prng(4))).not.toEqual(trace.generate(prng(3)));
    }
    const trace = steadyTrace({ durationMs: 30_000 });
    expect(simulate({ trace, policy: 'hybrid', seed: 7 })).toEqual(simulate({ trace, policy: 'hybrid', seed: 7 }));
  });

  it('mixes many functions, each with requests of its own', () => {
    const workloads = mixTrace({ functions: 12 }).generate(prng(1));
    expect(workloads).toHaveLength(12);
    expect(new Set(workloads.map((w) => w.name)).size).toBe(12);
    for (const w of workloads) {
      expect(w.durations).toHaveLength(w.arrivals.length);
      expect([...w.arrivals].sort((a, b) => a - b)).toEqual(w.arrivals);
    }
  });

  it('ends a first burst at the first pause of 2 s, or 10 s after the first request', () => {
    const w = (arrivals: number[]) => ({ name: 'f', arrivals, durations: arrivals.map(() => 1), meanDurationMs: 1 });
    expect(firstBurstLength(w([0, 100, 500, 3000, 3100]))).toBe(3);
    expect(firstBurstLength(w(Array.from({ length: 30 }, (_, i) => i * 1000)))).toBe(10);
    expect(firstBurstLength(w([]))).toBe(0);
  });

  it('never routes more than maxConcurrency requests to one container', () => {
    for (const policy of POLICIES) {
      const r = simulate({ trace: burstTrace({ durationMs: 120_000 }), policy, spec: { maxConcurrency: 4, maxReplicas: 5 } });
      expect(r.maxInFlightPerContainer).toBe(4);
    }
  });

  it('makes the first request from zero containers wait one container start', () => {
    const r = simulate({ trace: steadyTrace({ rps: 1, durationMs: 5000 }), policy: 'reactive', startMs: 800 });
    expect(r.coldWaits).toBeGreaterThanOrEqual(1);
    expect(r.maxWaitMs).toBe(800);
    expect(r.rejected).toBe(0);
  });

  it('pre-warms a timer-driven function before its bursts: hybrid waits far less than EWMA alone, for fewer container-seconds', () => {
    const trace = timerTrace({ durationMs: 15 * 60_000 });
    const ewma = simulate({ trace, policy: 'ewma', spec: lambdaLike });
    const hybrid = simulate({ trace, policy: 'hybrid', spec: lambdaLike });
    expect(hybrid.coldWaits).toBeLessThan(0.4 * ewma.coldWaits);
    expect(hybrid.containerSeconds).toBeLessThan(ewma.containerSeconds);
  });

  it('safety rule: under every trace and scenario, hybrid has no more cold-start waits than reactive-only, or saves at least 20 % of container-seconds', () => {
    for (const c of standardRun()) {
      const v = verdict(c);
      expect({ row: `${c.scenario} ${c.trace}`, safe: v.safe }).toEqual({ row: `${c.scenario} ${c.trace}`, safe: true });
      if (v.exception) expect(v.costRatio).toBeLessThanOrEqual(0.8);
    }
  }, 120_000);

  it('lambda-like: on every trace, >= 80 % fewer cold-start waits than reactive-only after the first burst, for <= 1.2x its container-seconds', () => {
    const rows = standardRun().filter((c) => c.scenario === 'lambda-like');
    expect(rows.map((c) => c.trace)).toEqual(standardTraces().map((t) => t.name));
    for (const c of rows) {
      const v = verdict(c);
      expect({ trace: c.trace, enough: v.reduction >= 0.8, cheap: v.costRatio <= 1.2 }).toEqual({ trace: c.trace, enough: true, cheap: true });
      expect(c.runs.hybrid.rejected).toBe(0);
    }
  }, 120_000);

  it('the README shows the table of this very run, exceptions to the safety rule included', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
    expect(readme).toContain(markdownTable(standardRun()));
  }, 120_000);

  it('prints one markdown row per scenario and trace, the three policies side by side', () => {
    const results = runAll({ traces: [steadyTrace({ durationMs: 10_000 })] });
    const lines = markdownTable(results).trim().split('\n');
    expect(lines).toHaveLength(2 + SCENARIOS.length);
    expect(lines[2]).toMatch(/^\| default \| steady \| \d+ \| \d+ \/ \d+ \/ \d+ \|/);
  });
});
