import { describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { templateOf } from '../pool/replica.js';
import type { FunctionRecord, Revision } from '../state/records.js';
import { adoptionRecord, buildPlan, revisionRecord } from './traffic-plan.js';

function revision(n: number, codeDigest: string, spec: Record<string, unknown> = {}): Revision {
  return { functionName: 'fn', revision: n, createdAt: n * 1000, codeDigest, spec: FunctionSpec.parse(spec) };
}

function record(latest: Revision, spec: Record<string, unknown> = {}, generation = latest.revision): FunctionRecord {
  return {
    name: 'fn',
    spec: FunctionSpec.parse({ ...latest.spec, ...spec }),
    codeDigest: latest.codeDigest,
    source: 'api',
    manifestPath: null,
    generation,
    revision: latest.revision,
    createdAt: 0,
    updatedAt: 0,
    lastInvokedAt: null,
    invokeCount: 0,
    deleting: false,
  };
}

const r1 = revision(1, 'd1', { memoryMb: 256, maxConcurrency: 2 });
const r2 = revision(2, 'd2');
const r3 = revision(3, 'd3');

describe('buildPlan', () => {
  it('sends everything to the latest revision without traffic, under the function name, taking over older containers', () => {
    const fn = record(r3);
    const plan = buildPlan(fn, [r1, r2, r3]);
    expect(plan.split).toBe(false);
    expect(plan.targets.map((t) => [t.revision, t.percent, t.takesOver, t.scalingKey])).toEqual([[3, 100, true, 'fn']]);
    expect(plan.pick(0.99).revision).toBe(3);
    expect(plan.targets[0]!.template).toBe(templateOf(fn));
    expect([...plan.serving]).toEqual([templateOf(fn)]);
  });

  it('picks by weight, reaches tags whatever the split, and keys each revision apart', () => {
    const traffic = [
      { revision: 1, percent: 90, tag: 'stable' },
      { latestRevision: true, percent: 10 },
      { revision: 2, percent: 0, tag: 'old' },
    ];
    const plan = buildPlan(record(r3, { traffic }, 4), [r1, r2, r3]);
    expect(plan.split).toBe(true);
    expect(plan.targets.map((t) => [t.revision, t.percent, t.tags, t.takesOver, t.scalingKey])).toEqual([
      [1, 90, ['stable'], false, 'fn@1'],
      [2, 0, ['old'], false, 'fn@2'],
      [3, 10, [], true, 'fn@3'],
    ]);
    expect(plan.pick(0).revision).toBe(1);
    expect(plan.pick(0.899).revision).toBe(1);
    expect(plan.pick(0.9).revision).toBe(3);
    expect(plan.pick(0.999).revision).toBe(3);
    // A revision at 0 % is never picked by weight.
    const picked = new Set(Array.from({ length: 1000 }, (_, i) => plan.pick(i / 1000).revision));
    expect(picked).toEqual(new Set([1, 3]));
    expect(plan.tagged('old')?.revision).toBe(2);
    expect(plan.tagged('stable')?.revision).toBe(1);
    expect(plan.tagged('nosuch')).toBeUndefined();
    expect(plan.generation).toBe(4);
  });

  it('adds up entries that name one revision twice', () => {
    const plan = buildPlan(record(r3, { traffic: [{ revision: 3, percent: 40, tag: 'pinned' }, { latestRevision: true, percent: 60 }] }), [r1, r2, r3]);
    expect(plan.targets.map((t) => [t.revision, t.percent, t.tags, t.takesOver])).toEqual([[3, 100, ['pinned'], true]]);
    expect(plan.split).toBe(false);
  });

  it('gives the share of a revision that is no longer kept to the latest one, and its tag to none', () => {
    const plan = buildPlan(record(r3, { traffic: [{ revision: 1, percent: 30, tag: 'gone' }, { latestRevision: true, percent: 70 }] }), [r2, r3]);
    expect(plan.targets.map((t) => [t.revision, t.percent])).toEqual([[3, 100]]);
    expect(plan.tagged('gone')).toBeUndefined();
  });
});

describe('revisionRecord', () => {
  it("runs the revision's own code and spec with the function-wide fields of the current record", () => {
    const fn = record(r3, { rateLimit: 9, minWarm: 2, maxReplicas: 4, traffic: [{ revision: 1, percent: 100 }] }, 5);
    const old = revisionRecord(fn, r1);
    expect(old).toMatchObject({ name: 'fn', codeDigest: 'd1', generation: 1 });
    expect(old.spec).toMatchObject({ memoryMb: 256, maxConcurrency: 2, rateLimit: 9, minWarm: 2, maxReplicas: 4 });
    expect(templateOf(old)).not.toBe(templateOf(fn));
  });
});

describe('adoptionRecord', () => {
  it('adopts a container into the serving revision it was started for, else another with its template, else not at all', () => {
    // Revision 2 is revision 1 with another rate limit: the same template.
    const a = revision(1, 'd1');
    const b = revision(2, 'd1', { rateLimit: 5 });
    const fn = record(b, { traffic: [{ revision: 1, percent: 50 }, { latestRevision: true, percent: 50 }] }, 3);
    const plan = buildPlan(fn, [a, b]);
    const template = plan.targets[0]!.template;
    expect(plan.targets[1]!.template).toBe(template);
    expect(adoptionRecord(plan, { template, generation: 1 })?.generation).toBe(1);
    expect(adoptionRecord(plan, { template, generation: 2 })?.generation).toBe(2);
    expect(adoptionRecord(plan, { template, generation: 7 })?.generation).toBe(2);
    expect(adoptionRecord(plan, { template: 'another', generation: 1 })).toBeUndefined();
    expect(plan.revisionOfTemplate(template)).toBe(2);
  });
});
