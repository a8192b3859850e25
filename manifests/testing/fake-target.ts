/**
 * A {@link ManifestTarget} for unit tests of the GitOps source: the real store on `:memory:`
 * and the real code installer (so digests and generations behave as in the Runtime), with no
 * pool, reconciler or Docker behind them. Deletion is immediate.
 */
import { FunctionSpec, parseWith } from '../../schemas/index.js';
import { installArchive, installFolder } from '../../controller/code/install.js';
import { FunctionNotFound, InvalidInput, OwnedByManifest } from '../../controller/support/errors.js';
import { createLogger, type Logger } from '../../controller/support/logger.js';
import { SqliteStore } from '../../controller/state/sqlite-store.js';
import type { FunctionRecord, FunctionSource, WriteOutcome } from '../../controller/state/records.js';
import type { ManifestTarget } from '../source.js';

type DeployRequest = Parameters<ManifestTarget['deploy']>[0];

/** Records what the source asked for; `failDeploy` makes chosen deploys throw. */
export class FakeTarget implements ManifestTarget {
  readonly store = new SqliteStore(':memory:');
  /** Every log line, `level message`. */
  readonly lines: string[] = [];
  readonly log: Logger = createLogger('debug', (line) => this.lines.push(line.replace(/^\S+ /, '').trimEnd()));
  /** `deploy <name>` and `remove <name>`, in order. */
  readonly calls: string[] = [];
  failDeploy: ((name: string) => Error | undefined) | null = null;
  #now = 1_000;

  constructor(readonly functionsDir: string) {}

  async deploy(request: DeployRequest): Promise<{ outcome: WriteOutcome; record: FunctionRecord }> {
    this.calls.push(`deploy ${request.name}`);
    return this.#deploy(request.name, request.code, request.patch, 'manifest', request.manifestPath);
  }

  /** A deploy through the API (`POST /deploy`): refused for manifest-owned functions, as the Runtime does. */
  deployFromApi(name: string, folder: string, patch: unknown = {}): Promise<{ outcome: WriteOutcome; record: FunctionRecord }> {
    return this.#deploy(name, { kind: 'folder', path: folder }, patch, 'api', null);
  }

  async remove(name: string, source: 'manifest' | 'api', _waitMs?: number): Promise<void> {
    this.calls.push(`remove ${name}`);
    const existing = this.store.get(name);
    if (!existing) throw new FunctionNotFound(name);
    if (source === 'api' && existing.source === 'manifest') throw new OwnedByManifest(name, existing.manifestPath ?? 'a manifest');
    this.store.markDeleting(name, this.#tick());
    this.store.purge(name);
  }

  list(): FunctionRecord[] {
    return this.store.list().filter((fn) => !fn.deleting);
  }

  /** The stored record of a live function, or undefined. */
  get(name: string): FunctionRecord | undefined {
    const fn = this.store.get(name);
    return fn && !fn.deleting ? fn : undefined;
  }

  async #deploy(
    name: string,
    code: DeployRequest['code'],
    patch: unknown,
    source: FunctionSource,
    manifestPath: string | null,
  ): Promise<{ outcome: WriteOutcome; record: FunctionRecord }> {
    const failure = this.failDeploy?.(name);
    if (failure) throw failure;
    const existing = this.store.get(name);
    if (source === 'api' && existing && !existing.deleting && existing.source === 'manifest') {
      throw new OwnedByManifest(name, existing.manifestPath ?? 'a manifest');
    }
    const spec = parseWith(FunctionSpec, patch);
    if (!spec.ok) throw new InvalidInput(`invalid spec: ${spec.issues.join('; ')}`);
    const { digest } =
      code.kind === 'zip' ? await installArchive(code.path, this.functionsDir, name) : await installFolder(code.path, this.functionsDir, name);
    return this.store.apply({ name, spec: spec.value, codeDigest: digest, source, manifestPath }, this.#tick());
  }

  #tick(): number {
    this.#now += 1;
    return this.#now;
  }
}
