import { describe, expect, it } from 'vitest';
import { FunctionSpec } from '../../schemas/index.js';
import { newReplica, type Replica } from '../pool/replica.js';
import { buildPlan } from '../revisions/traffic-plan.js';
import type { FunctionRecord, Revision } from '../state/records.js';
import { fitWithin, groupReplicas, shareOut } from './serving-groups.js';

describe('shareOut', () => {
  it('splits a whole number by weight, the largest remainders taking the rest, nothing for a zero weight', () => {
    expect(shareOut(1, [90, 10])).toEqual([1, 0]);
    expect(shareOut(2, [90, 10])).toEqual([2, 0]);
    expect(shareOut(3, [50, 50])).toEqual([2, 1]);
    expect(shareOut(10, [75, 25, 0])).toEqual([8, 2, 0]);
    expect(shareOut(0, [50, 50])).toEqual([0, 0]);
    expect(shareOut(4, [0, 0])).toEqual([0, 0]);
  });
});

describe('fitWithin', () => {
  it('takes from the largest first until the sum fits, leaving one to each that wanted any', () => {
    expect(fitWithin([8, 2], 10)).toEqual([8, 2]);
    expect(fitWithin([9, 3], 10)).toEqual([7, 3]);
    expect(fitWithin([5, 5, 1], 4)).toEqual([1, 2, 1]);
    expect(fitWithin([0, 3], 2)).toEqual([0, 2]);
  });
});

function revision(n: number, codeDigest: string): Revision {
  return { functionName: 'fn', revision: n, createdAt: 0, codeDigest, spec: FunctionSpec.parse({}) };
}

function record(traffic: unknown, latest: Revision): FunctionRecord {
  return {
    name: 'fn',
    spec: FunctionSpec.parse({ traffic }),
    codeDigest: latest.codeDigest,
    source: 'api',
    manifestPath: null,
    generation: 9,
    revision: latest.revision,
    createdAt: 0,
    updatedAt: 0,
    lastInvokedAt: null,
    invokeCount: 0,
    deleting: false,
  };
}

function replica(fn: FunctionRecord, state: Replica['state'], fromStem = false): Replica {
  const r = newReplica(fn, Math.random().toString(16).slice(2), 0);
  r.state = state;
  r.fromStem = fromStem;
  return r;
}

describe('groupReplicas', () => {
  const [a, b, c] = [revision(1, 'd1'), revision(2, 'd2'), revision(3, 'd3')];

  it("gives the latest revision's group the containers of templates no revision serves (a rolling update)", () => {
    const plan = buildPlan(record([{ revision: 1, percent: 90 }, { latestRevision: true, percent: 10 }], c), [a, b, c]);
    const [one, three] = plan.targets.map((t) => t.record);
    const own1 = replica(one!, 'ready');
    const stem1 = replica(one!, 'ready', true);
    const own3 = replica(three!, 'starting');
    const stale = replica({ ...three!, codeDigest: 'd2', generation: 2 }, 'ready');
    const dead = replica(one!, 'dead');
    const { groups, orphans } = groupReplicas([own1, stem1, own3, stale, dead], plan);
    expect(groups.map((g) => [g.percent, g.own, g.replacing])).toEqual([
      [90, [own1], [stem1]],
      [10, [own3], [stale]],
    ]);
    expect(orphans).toEqual([]);
  });

  it('leaves containers of a template no revision serves as orphans when every revision is pinned', () => {
    const plan = buildPlan(record([{ revision: 1, percent: 100 }], c), [a, b, c]);
    const stale = replica({ ...plan.targets[0]!.record, codeDigest: 'd3', generation: 3 }, 'ready');
    const { groups, orphans } = groupReplicas([stale], plan);
    expect(groups.map((g) => g.replacing)).toEqual([[]]);
    expect(orphans).toEqual([stale]);
  });
});
