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

/**
 * Records what the source asked for; `failDeploy` makes chosen deploys throw; `delayMs` makes
 * every write slow, as a loaded machine does. {@link until} waits on writes, not on time.
 */
export class FakeTarget implements ManifestTarget {
  readonly store = new SqliteStore(':memory:');
  /** Every log line, `level message`. */
  readonly lines: string[] = [];
  readonly log: Logger = createLogger('debug', (line) => this.lines.push(line.replace(/^\S+ /, '').trimEnd()));
  /** `deploy <name>` and `remove <name>`, in order. */
  readonly calls: string[] = [];
  failDeploy: ((name: string) => Error | undefined) | null = null;
  /** The last source report of each function: null when its file applies, else the problem. */
  readonly sourceReports = new Map<string, string | null>();
  /** How long each deploy and remove takes before it writes. */
  delayMs = 0;
  #now = 1_000;
  #watchers = new Set<() => void>();
  #desired: DesiredState;

  constructor(readonly functionsDir: string) {
    this.#desired = new DesiredState({ store: this.store, functionsDir, clock: { now: () => this.#tick() } });
  }

  async deploy(request: DeployRequest): Promise<WriteResult> {
    this.calls.push(`deploy ${request.name}`);
    await this.#slow();
    try {
      const failure = this.failDeploy?.(request.name);
      if (failure) throw failure;
      return await this.#desired.deploy(request);
    } finally {
      this.#changed();
    }
  }

  reportSource(name: string, problem: string | null): void {
    this.sourceReports.set(name, problem);
  }

  /**
   * Resolves once `check` holds: at once, or after the write that makes it true. It has no
   * deadline of its own (the test's timeout is one), so a slow machine only makes it slower.
   */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => {
      const watcher = () => {
        if (!check()) return;
        this.#watchers.delete(watcher);
        resolve();
      };
      this.#watchers.add(watcher);
    });
  }

  /** A deploy through the API (`POST /deploy`): refused for manifest-owned functions, as the Runtime does. */
  deployFromApi(name: string, folder: string, patch: unknown = {}): Promise<WriteResult> {
    const failure = this.failDeploy?.(name);
    if (failure) return Promise.reject(failure);
    return this.#desired.deploy({ name, code: { kind: 'folder', path: folder }, patch, source: 'api' });
  }

  async remove(name: string, source: 'manifest' | 'api', _waitMs?: number): Promise<void> {
    this.calls.push(`remove ${name}`);
    await this.#slow();
    try {
      this.#desired.markDeleting(name, source);
      this.store.purge(name);
    } finally {
      this.#changed();
    }
  }

  owners(): FunctionRecord[] {
    return this.store.list().filter((fn) => !fn.deleting);
  }

  /** Live functions, by name. */
  list(): FunctionRecord[] {
    return this.owners();
  }

  /** The stored record of a live function, or undefined. */
  get(name: string): FunctionRecord | undefined {
    const fn = this.store.get(name);
    return fn && !fn.deleting ? fn : undefined;
  }

  #slow(): Promise<void> {
    return this.delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, this.delayMs)) : Promise.resolve();
  }

  #changed(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  #tick(): number {
    this.#now += 1;
    return this.#now;
  }
}
