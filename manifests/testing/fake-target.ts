/**
 * A {@link ManifestTarget} for unit tests of the GitOps source: the real desired-state writes
 * (owner check, spec merge, code install, the store on `:memory:`), so digests, generations and
 * ownership behave as in the Runtime, with no pool, reconciler or Docker behind them. Deletion
 * is immediate.
 */
import { DesiredState, type WriteResult } from '../../controller/state/desired-state.js';
import { createLogger, type Logger } from '../../controller/support/logger.js';
import { SqliteStore } from '../../controller/state/sqlite-store.js';
import type { FunctionRecord } from '../../controller/state/records.js';
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
  #desired: DesiredState;

  constructor(readonly functionsDir: string) {
    this.#desired = new DesiredState({ store: this.store, functionsDir, clock: { now: () => this.#tick() } });
  }

  async deploy(request: DeployRequest): Promise<WriteResult> {
    this.calls.push(`deploy ${request.name}`);
    const failure = this.failDeploy?.(request.name);
    if (failure) throw failure;
    return this.#desired.deploy(request);
  }

  /** A deploy through the API (`POST /deploy`): refused for manifest-owned functions, as the Runtime does. */
  deployFromApi(name: string, folder: string, patch: unknown = {}): Promise<WriteResult> {
    const failure = this.failDeploy?.(name);
    if (failure) return Promise.reject(failure);
    return this.#desired.deploy({ name, code: { kind: 'folder', path: folder }, patch, source: 'api' });
  }

  async remove(name: string, source: 'manifest' | 'api', _waitMs?: number): Promise<void> {
    this.calls.push(`remove ${name}`);
    this.#desired.markDeleting(name, source);
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

  #tick(): number {
    this.#now += 1;
    return this.#now;
  }
}
