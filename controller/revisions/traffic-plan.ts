import { FUNCTION_WIDE_FIELDS, type FunctionSpec } from '../../schemas/index.js';
import { templateOf } from '../pool/replica.js';
import type { PoolTarget } from '../pool/router.js';
import type { FunctionRecord, Revision } from '../state/records.js';

/** A revision that takes requests: by weight, by tag, or both. */
export interface RevisionTarget extends PoolTarget {
  readonly revision: number;
  /** Its share of the function's requests in percent (0: reached by its tags only). */
  readonly percent: number;
  readonly tags: readonly string[];
  /**
   * The key of its traffic stats and autoscaler state: the function's name while nothing is
   * split (one target), else `name@revision`.
   */
  readonly scalingKey: string;
}

/**
 * A function's traffic, resolved once per generation: which revisions serve, with what
 * weight, under which tags, and the record each one's replicas start from. The invoke path
 * picks from it with one random number and no database read.
 */
export interface TrafficPlan {
  readonly name: string;
  /** The record's generation and creation time it was built for. */
  readonly generation: number;
  readonly createdAt: number;
  /** Serving revisions, oldest first. */
  readonly targets: readonly RevisionTarget[];
  /** More than one revision serves: each is sized and counted apart. */
  readonly split: boolean;
  /** Templates some serving revision runs; replicas of any other are rolled out. */
  readonly serving: ReadonlySet<string>;
  /** A target by weight; `random` in [0, 1). */
  pick(random?: number): RevisionTarget;
  /** The target a tag names, if any. */
  tagged(tag: string): RevisionTarget | undefined;
  /** The newest serving revision that runs `template`, if one does. */
  revisionOfTemplate(template: string): number | undefined;
}

/**
 * The record a revision's replicas start from: the revision's own code and spec, with the
 * function-wide fields (rate limit, minWarm, maxReplicas, scaling windows, traffic) of the
 * current record. Its generation is the revision's number, which labels its containers.
 */
export function revisionRecord(fn: FunctionRecord, revision: Revision): FunctionRecord {
  const functionWide = Object.fromEntries(FUNCTION_WIDE_FIELDS.map((field) => [field, fn.spec[field]])) as Partial<FunctionSpec>;
  return { ...fn, codeDigest: revision.codeDigest, generation: revision.revision, spec: { ...revision.spec, ...functionWide } };
}

interface Draft {
  revision: Revision;
  percent: number;
  tags: string[];
  takesOver: boolean;
}

/** Resolves `fn.spec.traffic` (absent: all to the latest revision) against the kept revisions. */
export function buildPlan(fn: FunctionRecord, revisions: readonly Revision[]): TrafficPlan {
  const byNumber = new Map(revisions.map((r) => [r.revision, r]));
  const latest: Revision = byNumber.get(fn.revision) ?? {
    functionName: fn.name,
    revision: fn.revision,
    createdAt: fn.updatedAt,
    codeDigest: fn.codeDigest,
    spec: fn.spec,
  };
  const drafts = new Map<number, Draft>();
  const draft = (revision: Revision): Draft => {
    let d = drafts.get(revision.revision);
    if (!d) {
      d = { revision, percent: 0, tags: [], takesOver: false };
      drafts.set(revision.revision, d);
    }
    return d;
  };
  for (const entry of fn.spec.traffic ?? [{ latestRevision: true, percent: 100 }]) {
    const named = entry.latestRevision === true ? latest : byNumber.get(entry.revision ?? -1);
    // The write checks that every named revision is kept and the store keeps them; should one
    // be missing all the same, its share goes to the latest revision and its tag nowhere.
    const d = draft(named ?? latest);
    d.percent += entry.percent;
    if (named && 'tag' in entry && entry.tag !== undefined) d.tags.push(entry.tag);
    if (entry.latestRevision === true) d.takesOver = true;
  }
  const ordered = [...drafts.values()].sort((a, b) => a.revision.revision - b.revision.revision);
  const split = ordered.length > 1;
  const serving = new Set<string>();
  const targets: RevisionTarget[] = ordered.map((d) => {
    const record = revisionRecord(fn, d.revision);
    const template = templateOf(record);
    serving.add(template);
    return {
      record,
      template,
      takesOver: d.takesOver,
      serving,
      revision: d.revision.revision,
      percent: d.percent,
      tags: d.tags,
      scalingKey: split ? `${fn.name}@${d.revision.revision}` : fn.name,
    };
  });
  return new Plan(fn, targets, serving);
}

class Plan implements TrafficPlan {
  readonly name: string;
  readonly generation: number;
  readonly createdAt: number;
  readonly split: boolean;
  readonly #weighted: RevisionTarget[];
  /** Cumulative percentages of `#weighted`. */
  readonly #upTo: number[];
  readonly #tags = new Map<string, RevisionTarget>();

  constructor(
    fn: FunctionRecord,
    readonly targets: readonly RevisionTarget[],
    readonly serving: ReadonlySet<string>,
  ) {
    this.name = fn.name;
    this.generation = fn.generation;
    this.createdAt = fn.createdAt;
    this.split = targets.length > 1;
    this.#weighted = targets.filter((t) => t.percent > 0);
    let sum = 0;
    this.#upTo = this.#weighted.map((t) => (sum += t.percent));
    for (const t of targets) for (const tag of t.tags) this.#tags.set(tag, t);
  }

  pick(random = Math.random()): RevisionTarget {
    const weighted = this.#weighted;
    if (weighted.length === 1) return weighted[0]!;
    const x = random * this.#upTo[this.#upTo.length - 1]!;
    for (let i = 0; i < weighted.length - 1; i++) if (x < this.#upTo[i]!) return weighted[i]!;
    return weighted[weighted.length - 1]!;
  }

  tagged(tag: string): RevisionTarget | undefined {
    return this.#tags.get(tag);
  }

  revisionOfTemplate(template: string): number | undefined {
    let found: number | undefined;
    for (const t of this.targets) if (t.template === template) found = t.revision;
    return found;
  }
}

/**
 * The record to adopt a container as: the serving revision it was started for (its generation
 * label), else any serving revision with its template; undefined when no revision serves it.
 */
export function adoptionRecord(plan: TrafficPlan, container: { template: string; generation: number }): FunctionRecord | undefined {
  const same = plan.targets.filter((t) => t.template === container.template);
  return (same.find((t) => t.revision === container.generation) ?? same[same.length - 1])?.record;
}
