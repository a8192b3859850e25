import { FunctionSpec, NESTED_SPEC_FIELDS, SpecPatch, parseWith } from '../../schemas/index.js';
import { installCode, type CodeSource } from '../code/install.js';
import type { Clock } from '../support/clock.js';
import { FunctionNotFound, InvalidInput, OwnedByManifest } from '../support/errors.js';
import type { FunctionRecord, FunctionSource, WriteOutcome } from './records.js';
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

/** What desired-state writes need of the secret store. */
export interface SecretVersions {
  /**
   * The digest of these secrets' current versions ('' for none), the record's `secretsVersion`;
   * throws InvalidInput naming a secret that does not exist.
   */
  versionOf(names: readonly string[]): string;
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
    const source = request.source ?? 'api';
    const existing = this.#o.store.get(request.name);
    checkOwner(existing, source);
    const patch = parseWith(SpecPatch, request.patch);
    if (!patch.ok) throw new InvalidInput(`invalid spec: ${patch.issues.join('; ')}`);
    // An API redeploy keeps settings made through /config; a manifest states the whole spec.
    const base = source === 'api' && existing && !existing.deleting ? existing.spec : undefined;
    const spec = this.#mergeSpec(base, patch.value);
    // Before the code is installed: a spec naming a missing secret writes nothing at all.
    this.#secretsVersion(spec);
    const { digest } = await installCode(request.code, this.#o.functionsDir, request.name);
    // Read again after the install's awaits: a secret changed meanwhile is not missed.
    const secretsVersion = this.#secretsVersion(spec);
    return this.#o.store.apply(
      { name: request.name, spec, codeDigest: digest, secretsVersion, source, manifestPath: request.manifestPath ?? null },
      this.#o.clock.now(),
    );
  }

  /** Applies a partial spec to an existing function. */
  configure(name: string, patch: unknown, source: FunctionSource = 'api'): WriteResult {
    const existing = this.live(name);
    checkOwner(existing, source);
    const parsed = parseWith(SpecPatch, patch);
    if (!parsed.ok) throw new InvalidInput(`invalid config: ${parsed.issues.join('; ')}`);
    const spec = this.#mergeSpec(existing.spec, parsed.value);
    return this.#o.store.apply({ ...existing, spec, secretsVersion: this.#secretsVersion(spec) }, this.#o.clock.now());
  }

  /**
   * After a secret's value changed (or, at start, after any change a crash may have cut short):
   * every live function naming `secret` (every one with secrets, without it) gets the new
   * `secretsVersion`, which rolls its containers. Returns the names of the functions it changed.
   */
  refreshSecrets(secret?: string): string[] {
    const changed: string[] = [];
    for (const fn of this.#o.store.list()) {
      if (fn.deleting || fn.spec.secrets.length === 0) continue;
      if (secret !== undefined && !fn.spec.secrets.includes(secret)) continue;
      let secretsVersion: string;
      try {
        secretsVersion = this.#secretsVersion(fn.spec);
      } catch {
        continue; // a secret it names is gone (the API refuses that): its containers keep what they hold
      }
      if (secretsVersion === (fn.secretsVersion ?? '')) continue;
      this.#o.store.apply({ ...fn, secretsVersion }, this.#o.clock.now());
      changed.push(fn.name);
    }
    return changed;
  }

  /** Live functions whose spec names `secret`. */
  usersOf(secret: string): string[] {
    return this.#o.store
      .list()
      .filter((fn) => !fn.deleting && fn.spec.secrets.includes(secret))
      .map((fn) => fn.name);
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

  #secretsVersion(spec: FunctionSpec): string {
    if (spec.secrets.length === 0) return '';
    if (!this.#o.secrets) throw new InvalidInput(`invalid spec: secrets: secret "${spec.secrets[0]}" does not exist`);
    return this.#o.secrets.versionOf(spec.secrets);
  }

  #mergeSpec(base: FunctionSpec | undefined, patch: SpecPatch): FunctionSpec {
    const merged: Record<string, unknown> = { ...(base ?? {}), ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
    // A nested field is merged key by key over the current value, as a JSON merge patch does.
    for (const field of NESTED_SPEC_FIELDS) {
      if (base && patch[field]) merged[field] = { ...base[field], ...Object.fromEntries(Object.entries(patch[field]).filter(([, v]) => v !== undefined)) };
    }
    const parsed = parseWith(FunctionSpec, merged);
    if (!parsed.ok) throw new InvalidInput(`invalid spec: ${parsed.issues.join('; ')}`);
    this.#o.checkSpec?.(parsed.value);
    this.#o.checkFits?.(parsed.value);
    return parsed.value;
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
