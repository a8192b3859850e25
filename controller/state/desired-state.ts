import { FunctionSpec, NESTED_SPEC_FIELDS, SpecPatch, parseWith } from '../../schemas/index.js';
import * as path from 'node:path';
import { installCode, prepareInstalled, type CodeSource } from '../code/install.js';
import type { Clock } from '../support/clock.js';
import { FunctionNotFound, InvalidInput, OwnedByManifest } from '../support/errors.js';
import type { FunctionRecord, FunctionSource, Revision, WriteOutcome } from './records.js';
import type { Store } from './store.js';

/** What `deploy` needs: code on disk (a zip, or a folder holding the entry file) and optional spec fields. */
export interface DeployRequest {
  name: string;
  code: CodeSource;
  patch: unknown;
  source?: FunctionSource;
  manifestPath?: string | null;
}

/** What a desired-state write did, and the record as it is now. */
export interface WriteResult {
  outcome: WriteOutcome;
  record: FunctionRecord;
}

/** Which revision to roll back to: a number, a tag of the traffic, or (neither) the one before the latest. */
export interface RollbackTarget {
  revision?: number;
  tag?: string;
}

/** Options of {@link DesiredState}. */
export interface DesiredStateOptions {
  store: Store;
  functionsDir: string;
  clock: Pick<Clock, 'now'>;
  /** Refuses a spec that can never run here (throws InvalidInput); called after the spec parses. */
  checkFits?: (spec: FunctionSpec) => void;
  /** Checks what zod cannot (a cron expression's grammar is croner's; throws InvalidInput); called after the spec parses. */
  checkSpec?: (spec: FunctionSpec) => void;
}

/**
 * The one way desired state is written: the owner check (a manifest-owned function changes
 * only through its manifest), the spec merge and validation, the code install, then the
 * store's idempotent apply. The Runtime enqueues a reconcile after each write; the GitOps
 * source's test target uses the same class, so the rules cannot drift apart.
 */
export class DesiredState {
  #o: DesiredStateOptions;

  constructor(options: DesiredStateOptions) {
    this.#o = options;
  }

  /** Deploys (or redeploys) a function; the spec patch merges over the current spec for the API. */
  async deploy(request: DeployRequest): Promise<WriteResult> {
    const source = request.source ?? 'api';
    const existing = this.#o.store.get(request.name);
    checkOwner(existing, source);
    const patch = parseWith(SpecPatch, request.patch);
    if (!patch.ok) throw new InvalidInput(`invalid spec: ${patch.issues.join('; ')}`);
    // An API redeploy keeps settings made through /config; a manifest states the whole spec.
    const base = source === 'api' && existing && !existing.deleting ? existing.spec : undefined;
    const spec = this.#mergeSpec(base, patch.value, request.name);
    const { digest } = await installCode(request.code, this.#o.functionsDir, request.name, { handler: spec.handler ?? null });
    return this.#o.store.apply(
      { name: request.name, spec, codeDigest: digest, source, manifestPath: request.manifestPath ?? null },
      this.#o.clock.now(),
    );
  }

  /**
   * Applies a partial spec to an existing function. A new `handler` must name a file of the
   * installed code (a TypeScript one is compiled into it now), checked before anything is written.
   */
  async configure(name: string, patch: unknown, source: FunctionSource = 'api'): Promise<WriteResult> {
    const existing = this.live(name);
    checkOwner(existing, source);
    const parsed = parseWith(SpecPatch, patch);
    if (!parsed.ok) throw new InvalidInput(`invalid config: ${parsed.issues.join('; ')}`);
    const spec = this.#mergeSpec(existing.spec, parsed.value, name);
    const handler = spec.handler ?? null;
    if (handler === (existing.spec.handler ?? null)) return this.#o.store.apply({ ...existing, spec }, this.#o.clock.now());
    await prepareInstalled(path.join(this.#o.functionsDir, name, existing.codeDigest), handler);
    // Another write may have landed while the entry was prepared: the patch applies to the function as it is now.
    const current = this.live(name);
    checkOwner(current, source);
    const now = this.#mergeSpec(current.spec, parsed.value, name);
    if (current.codeDigest !== existing.codeDigest || (now.handler ?? null) !== handler) {
      throw new InvalidInput(`function "${name}" changed while its handler was being prepared; send the change again`);
    }
    return this.#o.store.apply({ ...current, spec: now }, this.#o.clock.now());
  }

  /**
   * Rolls a function back as `kubectl rollout undo` does: a new generation (and revision)
   * whose code and spec are those of a kept revision. `traffic` stays as it is: it routes
   * between revisions and is no part of one, so without a split the rollback takes every
   * request once its containers are ready.
   */
  rollback(name: string, to: RollbackTarget, source: FunctionSource = 'api'): WriteResult & { from: Revision } {
    const existing = this.live(name);
    checkOwner(existing, source);
    const kept = this.#o.store.revisions(name);
    const from = this.#rollbackSource(existing, kept, to);
    const spec = { ...from.spec, traffic: existing.spec.traffic };
    this.#o.checkSpec?.(spec);
    this.#o.checkFits?.(spec);
    return { ...this.#o.store.apply({ ...existing, spec, codeDigest: from.codeDigest }, this.#o.clock.now()), from };
  }

  #rollbackSource(fn: FunctionRecord, kept: readonly Revision[], to: RollbackTarget): Revision {
    const numbers = kept.map((r) => r.revision).join(', ');
    if (to.tag !== undefined) {
      const entry = fn.spec.traffic?.find((e) => e.tag === to.tag);
      if (!entry) throw new InvalidInput(`tag: function "${fn.name}" has no traffic tag "${to.tag}"`);
      return kept.find((r) => r.revision === (entry.latestRevision ? fn.revision : entry.revision))!;
    }
    if (to.revision === undefined) {
      const before = kept.filter((r) => r.revision < fn.revision).at(-1);
      if (!before) throw new InvalidInput(`revision: function "${fn.name}" has no revision before ${fn.revision} to roll back to`);
      return before;
    }
    const found = kept.find((r) => r.revision === to.revision);
    if (!found) throw new InvalidInput(`revision: revision ${to.revision} of function "${fn.name}" is not kept (kept: ${numbers})`);
    return found;
  }

  /** Deletion, step one: marks the function as deleting (the reconciler does the rest). */
  markDeleting(name: string, source: FunctionSource = 'api'): FunctionRecord {
    const existing = this.#o.store.get(name);
    if (!existing) throw new FunctionNotFound(name);
    checkOwner(existing, source);
    this.#o.store.markDeleting(name, this.#o.clock.now());
    return existing;
  }

  /** A function that exists and is not being deleted, or FunctionNotFound. */
  live(name: string): FunctionRecord {
    const fn = this.#o.store.get(name);
    if (!fn || fn.deleting) throw new FunctionNotFound(name);
    return fn;
  }

  #mergeSpec(base: FunctionSpec | undefined, patch: SpecPatch, name: string): FunctionSpec {
    const merged: Record<string, unknown> = { ...(base ?? {}), ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
    // A nested field is merged key by key over the current value, as a JSON merge patch does.
    for (const field of NESTED_SPEC_FIELDS) {
      if (base && patch[field]) merged[field] = { ...base[field], ...Object.fromEntries(Object.entries(patch[field]).filter(([, v]) => v !== undefined)) };
    }
    const parsed = parseWith(FunctionSpec, merged);
    if (!parsed.ok) throw new InvalidInput(`invalid spec: ${parsed.issues.join('; ')}`);
    this.#checkTraffic(name, parsed.value);
    this.#o.checkSpec?.(parsed.value);
    this.#o.checkFits?.(parsed.value);
    return parsed.value;
  }

  /** Every revision the traffic names must be kept (the schema checked the rest: sums, tags). */
  #checkTraffic(name: string, spec: FunctionSpec): void {
    if (!spec.traffic) return;
    const kept = this.#o.store.revisions(name).map((r) => r.revision);
    spec.traffic.forEach((entry, i) => {
      if (entry.revision === undefined || kept.includes(entry.revision)) return;
      const which = kept.length > 0 ? `kept: ${kept.join(', ')}` : 'the function has no revision yet; use latestRevision: true';
      throw new InvalidInput(`invalid spec: traffic.${i}.revision: revision ${entry.revision} of function "${name}" is not kept (${which})`);
    });
  }
}

/**
 * A manifest-owned function is refused to the API. Between manifest files the manifests source
 * arbitrates (it sees the whole folder, and moves a function to another file once its owner no
 * longer names it).
 */
function checkOwner(existing: FunctionRecord | undefined, source: FunctionSource): void {
  if (!existing || existing.deleting || existing.source !== 'manifest') return;
  if (source === 'api') throw new OwnedByManifest(existing.name, existing.manifestPath ?? 'a manifest');
}
