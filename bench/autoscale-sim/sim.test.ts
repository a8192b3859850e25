import { describe, expect, it } from 'vitest';
import { SCENARIOS, burstTrace, markdownTable, runAll, simulate, steadyTrace } from './sim.js';

const lambdaLike = SCENARIOS.find((s) => s.name === 'lambda-like')!.spec;

describe('autoscale simulator', () => {
  it('is deterministic for a seed', () => {
    const trace = steadyTrace({ durationMs: 30_000 });
    const a = simulate({ trace, policy: 'ewma', seed: 7 });
    const b = simulate({ trace, policy: 'ewma', seed: 7 });
    const c = simulate({ trace, policy: 'ewma', seed: 8 });
    expect(a).toEqual(b);
    expect(c.requests).not.toBe(a.requests);
  });

  it('never routes more than maxConcurrency requests to one container', () => {
    for (const policy of ['reactive', 'ewma'] as const) {
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

  it('on the burst trace, EWMA pre-warm cuts cold-start waits by >= 80 % against reactive-only for <= 1.5x its container-seconds', () => {
    for (const seed of [1, 2]) {
      const trace = burstTrace();
      const reactive = simulate({ trace, policy: 'reactive', spec: lambdaLike, seed });
      const ewma = simulate({ trace, policy: 'ewma', spec: lambdaLike, seed });
      expect(reactive.requests).toBe(ewma.requests);
      expect(reactive.coldWaits).toBeGreaterThan(100);
      expect(ewma.coldWaits).toBeLessThanOrEqual(0.2 * reactive.coldWaits);
      expect(ewma.containerSeconds).toBeLessThanOrEqual(1.5 * reactive.containerSeconds);
      expect(ewma.rejected).toBe(0);
    }
  });

  it('prints one markdown row per scenario, trace and policy', () => {
    const results = runAll({ traces: [steadyTrace({ durationMs: 10_000 })] });
    const table = markdownTable(results);
    expect(table.trim().split('\n')).toHaveLength(2 + 2 * SCENARIOS.length);
    expect(table).toContain('| default | steady | EWMA pre-warm |');
  });
});
