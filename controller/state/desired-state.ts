import * as path from 'node:path';
import { FunctionSpec, NESTED_SPEC_FIELDS, SpecPatch, parseWith } from '../../schemas/index.js';
import { entryProblem, installCode, prepareInstalled, type CodeSource } from '../code/install.js';
import { applyPatch, splitPatch, type SplitPatch } from './merge-patch.js';
import type { Clock } from '../support/clock.js';
import { FunctionDeleting, FunctionNotFound, InsufficientStorage, InvalidArchive, InvalidInput, OwnedByApi, OwnedByManifest } from '../support/errors.js';
import { isDiskFull, type DiskSpace } from './disk-space.js';
import type { FunctionRecord, FunctionSource, Revision, WriteOutcome } from './records.js';
import type { Store } from './store.js';

/** What `deploy` needs: code on disk (a zip, or a folder holding the entry file) and optional spec fields. */
export interface DeployRequest {
  name: string;
  code: CodeSource;
  patch: unknown;
  source?: FunctionSource;
  manifestPath?: string | null;
  /** A manifest may take over a function deployed through the API only when it says so (`glambdar/adopt`). */
  adopt?: boolean;
}

/** What a desired-state write did, and the record as it is now. */
export interface WriteResult {
  outcome: WriteOutcome;
  record: FunctionRecord;
}

/** What desired-state writes need of the secret store. */
export interface SecretVersions {
  /**
   * The digest of these secrets' current versions ('' for none), the record's `secretsVersion`;
   * throws InvalidInput naming a secret that does not exist.
   */
  versionOf(names: readonly string[]): string;
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
  /** The data disk: a deploy is refused under its reserve, a deletion may give up its ballast. */
  space?: Pick<DiskSpace, 'low' | 'freeBytes' | 'reserveMb' | 'releaseBallast'>;
  /** The secret store; without one, a spec naming any secret is refused. */
  secrets?: SecretVersions;
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
    this.checkStorage();
    try {
      return await this.#deploy(request);
    } catch (err) {
      throw this.#storageError(err, 'nothing was deployed');
    }
  }

  /** Refuses (InsufficientStorage) a write that would fill the disk: under the reserve, nothing new is written. */
  checkStorage(): void {
    const space = this.#o.space;
    if (space?.low()) {
      throw new InsufficientStorage(
        `the data disk is full (${Math.floor(space.freeBytes() / (1024 * 1024))} MiB free, under GLAMBDAR_DISK_RESERVE_MB=${space.reserveMb}): nothing was deployed; free space, or delete functions (a deletion frees their code and records)`,
      );
    }
  }

  async #deploy(request: DeployRequest): Promise<WriteResult> {
    const source = request.source ?? 'api';
    const existing = this.#o.store.get(request.name);
    // Like Kubernetes, a name being deleted cannot be created again until it is gone: the
    // DELETE under way would otherwise remove what this deploy writes, or answer for nothing.
    if (existing?.deleting) throw new FunctionDeleting(request.name);
    checkOwner(existing, source, request.adopt === true);
    const patch = parsePatch(request.patch, 'spec');
    // An API redeploy keeps settings made through /config; a manifest states the whole spec.
    const base = source === 'api' && existing && !existing.deleting ? existing.spec : undefined;
    const spec = this.#mergeSpec(base, patch, request.name);
    // Before the code is installed: a spec naming a missing secret writes nothing at all.
    this.#secretsVersion(request.name, spec);
    const { digest } = await installCode(request.code, this.#o.functionsDir, request.name, { handler: spec.handler ?? null });
    // Read again after the install's awaits: a secret changed meanwhile is not missed.
    const secretsVersion = this.#secretsVersion(request.name, spec);
    return this.#o.store.apply(
      { name: request.name, spec, codeDigest: digest, secretsVersion, source, manifestPath: request.manifestPath ?? null },
      this.#o.clock.now(),
    );
  }

  /** Applies a partial spec to an existing function. A new `handler` must name a ready entry of the installed code. */
  configure(name: string, patch: unknown, source: FunctionSource = 'api'): WriteResult {
    const existing = this.live(name);
    checkOwner(existing, source);
    const spec = this.#mergeSpec(existing.spec, parsePatch(patch, 'config'), name);
    if ((spec.handler ?? null) !== (existing.spec.handler ?? null)) {
      // A few stats: the entry is there, and a TypeScript one was compiled (prepareHandler).
      const problem = entryProblem(this.#codeDir(existing), spec.handler ?? null);
      if (problem !== null) throw new InvalidArchive(problem);
    }
    const secretsVersion = this.#secretsVersion(name, spec);
    try {
      return this.#o.store.apply({ ...existing, spec, secretsVersion }, this.#o.clock.now());
    } catch (err) {
      throw this.#storageError(err, 'the spec was not changed');
    }
  }

  /** A full disk's error as a 507 saying so; anything else as it is. */
  #storageError(err: unknown, what: string): unknown {
    if (!isDiskFull(err) || err instanceof InsufficientStorage) return err;
    return new InsufficientStorage(`the data disk is full: ${what}; free space, or delete functions (a deletion frees their code and records)`, { cause: err });
  }

  /**
   * Readies the installed code for the `handler` a patch names, before `configure` writes it:
   * the entry must be there (400 naming the files looked for), and a TypeScript entry is
   * compiled into the version (400 `COMPILE_FAILED`). Writes no desired state; a patch without
   * a valid `handler` is left to `configure` to judge.
   */
  async prepareHandler(name: string, patch: unknown): Promise<void> {
    let handler: unknown;
    try {
      handler = parsePatch(patch, 'config').value.handler;
    } catch {
      return;
    }
    if (typeof handler !== 'string') return;
    await prepareInstalled(this.#codeDir(this.live(name)), handler);
  }

  #codeDir(fn: FunctionRecord): string {
    return path.join(this.#o.functionsDir, fn.name, fn.codeDigest);
  }

  /**
   * After a secret's value changed (or, at start, after any change a crash may have cut short):
   * every live function naming `secret` (every one with secrets, without it) gets the new
   * `secretsVersion`, which rolls its containers. Returns the names of the functions it changed.
   */
  refreshSecrets(secret?: string): string[] {
    const changed: string[] = [];
    for (const fn of this.#o.store.list()) {
      if (fn.deleting) continue;
      const names = this.#secretNames(fn.name, fn.spec);
      if (names.length === 0 || (secret !== undefined && !names.includes(secret))) continue;
      let secretsVersion: string;
      try {
        secretsVersion = this.#secretsVersion(fn.name, fn.spec);
      } catch {
        continue; // a secret it names is gone (the API refuses that): its containers keep what they hold
      }
      if (secretsVersion === (fn.secretsVersion ?? '')) continue;
      this.#o.store.apply({ ...fn, secretsVersion }, this.#o.clock.now());
      changed.push(fn.name);
    }
    return changed;
  }

  /** Live functions whose spec, or a revision their traffic routes to, names `secret`. */
  usersOf(secret: string): string[] {
    return this.#o.store
      .list()
      .filter((fn) => !fn.deleting && this.#secretNames(fn.name, fn.spec).includes(secret))
      .map((fn) => fn.name);
  }

  /**
   * Rolls a function back as `kubectl rollout undo` does: a new generation (and revision)
   * whose code and spec are those of a kept revision. `traffic` stays as it is: it routes
   * between revisions and is no part of one, so without a split the rollback takes every
   * request once its containers are ready; nor does `auth`. A secret the revision names that
   * is gone is refused (InvalidInput naming it).
   */
  rollback(name: string, to: RollbackTarget, source: FunctionSource = 'api'): WriteResult & { from: Revision } {
    const existing = this.live(name);
    checkOwner(existing, source);
    const kept = this.#o.store.revisions(name);
    const from = this.#rollbackSource(existing, kept, to);
    // Who may invoke the function is no part of a revision either: a rollback never opens it.
    const spec = { ...from.spec, traffic: existing.spec.traffic, auth: existing.spec.auth };
    this.#o.checkSpec?.(spec);
    this.#o.checkFits?.(spec);
    const secretsVersion = this.#secretsVersion(name, spec);
    return { ...this.#o.store.apply({ ...existing, spec, codeDigest: from.codeDigest, secretsVersion }, this.#o.clock.now()), from };
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
    try {
      this.#o.store.markDeleting(name, this.#o.clock.now());
    } catch (err) {
      // A deletion is what frees a full disk: it may spend the ballast kept for it, once.
      if (!isDiskFull(err) || !this.#o.space?.releaseBallast()) throw this.#storageError(err, 'the function was not deleted');
      this.#o.store.markDeleting(name, this.#o.clock.now());
    }
    return existing;
  }

  /** A function that exists and is not being deleted, or FunctionNotFound. */
  live(name: string): FunctionRecord {
    const fn = this.#o.store.get(name);
    if (!fn || fn.deleting) throw new FunctionNotFound(name);
    return fn;
  }

  /**
   * The record's `secretsVersion`: the versions of the secrets its serving revisions name (the
   * spec's own, and those of the revisions its `traffic` routes to), so a new value rolls every
   * container that holds one. Each must exist, else InvalidInput naming it: nothing serves a
   * revision whose secret is gone.
   */
  #secretsVersion(name: string, spec: FunctionSpec): string {
    const names = this.#secretNames(name, spec);
    if (names.length === 0) return '';
    if (!this.#o.secrets) throw new InvalidInput(`invalid spec: secrets: secret "${names[0]}" does not exist`);
    return this.#o.secrets.versionOf(names);
  }

  /** The secrets a spec names and those of the kept revisions its traffic routes to, each once. */
  #secretNames(name: string, spec: FunctionSpec): string[] {
    const names = new Set(spec.secrets);
    const routed = new Set((spec.traffic ?? []).map((entry) => entry.revision));
    if (routed.size > 0) for (const r of this.#o.store.revisions(name)) if (routed.has(r.revision)) for (const n of r.spec.secrets ?? []) names.add(n);
    return [...names];
  }

  /** The spec `patch` makes of `base`, as a JSON merge patch (./merge-patch.ts), validated whole. */
  #mergeSpec(base: FunctionSpec | undefined, patch: ParsedPatch, name: string): FunctionSpec {
    const merged = applyPatch(base, patch.split, patch.value, NESTED_SPEC_FIELDS);
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

/** A merge patch of the spec, its set fields parsed by the schema. */
interface ParsedPatch {
  split: SplitPatch;
  value: SpecPatch;
}

/** Splits and validates a merge patch: what it sets by the spec schema, what it removes by name. */
function parsePatch(raw: unknown, what: 'spec' | 'config'): ParsedPatch {
  const split = splitPatch(raw, NESTED_SPEC_FIELDS);
  const unknown = split.removes.filter((key) => !Object.hasOwn(SpecPatch.shape, key));
  if (unknown.length > 0) throw new InvalidInput(`invalid ${what}: unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  const parsed = parseWith(SpecPatch, split.sets);
  if (!parsed.ok) throw new InvalidInput(`invalid ${what}: ${parsed.issues.join('; ')}`);
  return { split, value: parsed.value };
}

/**
 * A manifest-owned function is refused to the API, and a function deployed through the API to
 * a manifest unless it adopts it. Between manifest files the manifests source arbitrates (it
 * sees the whole folder, and moves a function to another file once its owner no longer names it).
 */
function checkOwner(existing: FunctionRecord | undefined, source: FunctionSource, adopt = false): void {
  if (!existing || existing.deleting) return;
  if (existing.source === 'manifest' && source === 'api') throw new OwnedByManifest(existing.name, existing.manifestPath ?? 'a manifest');
  if (existing.source === 'api' && source === 'manifest' && !adopt) throw new OwnedByApi(existing.name);
}
