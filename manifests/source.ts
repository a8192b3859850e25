/**
 * The GitOps source: a watched folder of manifest files is a source of desired state.
 *
 * Like a controller, it works on keys, not events: a file event only marks a manifest file dirty,
 * and one loop re-reads each dirty file in full, applies what it names and then prunes what no
 * file names any more. It never talks to Docker: everything goes through a {@link ManifestTarget}
 * (the Runtime), whose store writes a new generation only when a spec or a code digest changed,
 * so applying the same file again is a no-op.
 */
import type { FSWatcher } from 'chokidar';
import { mkdir, readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { systemClock, type Clock, type Logger, type TimerHandle } from '../controller/index.js';
import { checkCode, codeFoldersOf, codeOwner, Settling, userMessage } from './code-folders.js';
import { newEntry, stateChangeLine, type FileEntry, type ManifestFileState } from './file-entry.js';
import { isManifestPath, ManifestFolder, watchFolder, within } from './folder.js';
import { describeConflict, ownerOf, pruneVerdicts } from './ownership.js';
import type { ManifestSourceOptions, ManifestTarget } from './target.js';
import { formatManifestError, parseManifestFile, type ManifestError, type ManifestFunction, type ManifestParseResult } from './parse.js';

export type { ManifestFileState, ManifestSourceOptions, ManifestTarget };

/** Watches a folder of manifests and keeps the target's manifest-owned functions equal to it. */
export class ManifestSource {
  readonly dir: string;
  #folder: ManifestFolder;
  #target: ManifestTarget;
  #log: Logger;
  #clock: Clock;
  #stabilityMs: number;
  #settling: Settling;
  #debounceMs: number;
  #conflictRecheckMs: number;
  #files = new Map<string, FileEntry>();
  #dirty = new Set<string>();
  #ready = false;
  #closed = false;
  #watcher: FSWatcher | null = null;
  #timer: TimerHandle | null = null;
  #rechecks = new Map<string, TimerHandle>();
  #running: Promise<void> | null = null;
  #idleWaiters: Array<() => void> = [];
  /** Code folders no manifest names any more: the YAML inside them is looked at again. */
  #released: string[] = [];

  constructor(options: ManifestSourceOptions) {
    this.dir = path.resolve(options.dir);
    this.#folder = new ManifestFolder(this.dir);
    this.#target = options.target;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#stabilityMs = options.stabilityMs ?? 500;
    this.#settling = new Settling(this.#clock, this.#stabilityMs);
    this.#debounceMs = options.debounceMs ?? 50;
    this.#conflictRecheckMs = options.conflictRecheckMs ?? 10_000;
  }

  /**
   * Starts watching. Resolves once the whole folder has been read and applied: pruning waits
   * for that, so a restart never deletes and re-creates functions.
   */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.#watcher = await watchFolder(this.dir, this.#stabilityMs, (file) => this.#changed(file), (err) =>
      this.#log.error(`manifests: watching ${this.dir} failed: ${err.message}`),
    );
    this.#log.info(`manifests: watching ${this.dir}`);
    await this.resync();
  }

  /** Re-reads every manifest file of the folder, applies them, then prunes. */
  async resync(): Promise<void> {
    if (this.#closed) return;
    for (const rel of await this.#folder.scan()) {
      if (!this.#files.has(rel)) this.#files.set(rel, newEntry());
      this.#dirty.add(rel);
    }
    for (const rel of this.#files.keys()) this.#dirty.add(rel); // gone ones are seen as deleted
    this.#ready = true;
    this.#kick(0);
    await this.idle();
  }

  /** Resolves when no change is waiting or being applied. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Every manifest file with its state, ordered by path. */
  files(): ManifestFileState[] {
    const owned = new Map<string, string[]>();
    for (const fn of this.#target.owners()) {
      if (fn.source !== 'manifest' || fn.manifestPath === null) continue;
      owned.set(fn.manifestPath, [...(owned.get(fn.manifestPath) ?? []), fn.name]);
    }
    return [...this.#files.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([rel, entry]) => ({
        path: rel,
        state: entry.state,
        functions: (owned.get(rel) ?? []).sort(),
        errors: entry.errors,
        appliedAt: entry.appliedAt,
      }));
  }

  /** Stops watching and waits for a sync in progress; applies nothing afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    for (const handle of this.#rechecks.values()) this.#clock.clearTimeout(handle);
    this.#rechecks.clear();
    await this.#watcher?.close();
    await this.#running;
    this.#dirty.clear();
    this.#notifyIdle();
  }

  #changed(absolute: string): void {
    if (this.#closed) return;
    const rel = this.#folder.rel(absolute);
    if (rel === null) return;
    if (isManifestPath(rel) && this.#codeOwner(rel) === null) {
      this.#dirty.add(rel);
    } else {
      // Code changed: re-read the manifests that name it, and every file still waiting or in error.
      for (const [file, entry] of this.#files) {
        if (entry.state !== 'applied' && entry.state !== 'conflict') this.#dirty.add(file);
        else if (entry.deps.some((dep) => within(absolute, dep) || within(dep, absolute))) this.#dirty.add(file);
      }
    }
    this.#kick(this.#debounceMs);
  }

  #kick(delayMs: number): void {
    if (!this.#ready || this.#closed || this.#dirty.size === 0) return;
    if (this.#running || this.#timer) return; // the running loop picks new keys up
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#running = this.#loop().finally(() => {
        this.#running = null;
        if (this.#dirty.size > 0) this.#kick(this.#debounceMs);
        else this.#notifyIdle();
      });
    }, delayMs);
  }

  async #loop(): Promise<void> {
    while (this.#dirty.size > 0 && !this.#closed) {
      const batch = [...this.#dirty].sort();
      this.#dirty.clear();
      // Learn the batch's code folders first, so a YAML file inside one is never read as a
      // manifest, whichever of the two comes first in the folder's order.
      const parsed = await this.#parseBatch(batch);
      for (const rel of batch) {
        if (this.#closed) return;
        if (this.#setAsideAsCode(rel)) continue;
        try {
          await this.#syncFile(rel, parsed.get(rel));
        } catch (err) {
          // Reading the file itself failed (permissions, I/O): report it, keep what runs.
          this.#setErrors(rel, this.#entry(rel), 'invalid', [{ file: rel, documentIndex: 0, path: '', message: userMessage(err, this.#log) }]);
        }
      }
      if (this.#closed) return;
      for (const folder of this.#released.splice(0)) {
        for (const rel of await this.#folder.scan(folder)) {
          this.#entry(rel);
          this.#dirty.add(rel);
        }
      }
      // A file went away: it may have been renamed, and the watcher reports the new name only
      // once it has settled. Read the folder itself before deleting what the old name held.
      if (batch.some((rel) => !this.#files.has(rel))) {
        for (const rel of await this.#folder.scan()) {
          if (this.#files.has(rel) || this.#codeOwner(rel) !== null) continue;
          this.#entry(rel);
          this.#dirty.add(rel);
        }
        if (this.#dirty.size > 0) continue;
      }
      await this.#prune();
    }
  }

  #isIdle(): boolean {
    return this.#closed || (this.#dirty.size === 0 && this.#running === null && this.#timer === null);
  }

  #notifyIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** `parsed`: the file as the batch read it, when it could. */
  async #syncFile(rel: string, parsed: ManifestParseResult | undefined): Promise<void> {
    const absolute = this.#folder.abs(rel);
    const info = await stat(absolute).catch(() => undefined);
    if (!info?.isFile()) {
      const gone = this.#files.get(rel);
      if (!gone) return;
      this.#files.delete(rel);
      this.#released.push(...gone.codeDirs);
      this.#log.info(`manifests: ${rel} was removed`);
      return;
    }
    const entry = this.#entry(rel);
    const fileWait = this.#settling.fileWait(info.mtimeMs);
    if (fileWait > 0) return this.#pending(rel, entry, fileWait);

    parsed ??= await this.#parse(rel);
    if (!parsed.ok) return this.#setErrors(rel, entry, 'invalid', parsed.errors);
    this.#setDeps(rel, entry, parsed.functions);

    const codeWait = await this.#settling.codeWait(parsed.functions);
    if (codeWait > 0) return this.#pending(rel, entry, codeWait);

    // One call per function cannot be undone, so code that would fail to install fails the
    // whole file first (a single-function file needs no check: its deploy is all or nothing).
    if (parsed.functions.length > 1) {
      const codeErrors = await checkCode(rel, parsed.functions, this.#log);
      if (codeErrors.length > 0) return this.#setErrors(rel, entry, 'invalid', codeErrors);
    }

    const names = parsed.functions.map((fn) => fn.name);
    const current = new Map(this.#target.owners().map((fn) => [fn.name, fn]));
    const conflicts: ManifestError[] = [];
    const failures: ManifestError[] = [];
    for (const fn of parsed.functions) {
      const existing = current.get(fn.name);
      const owner = ownerOf(this.#files, fn.name, rel, existing, fn.adopt);
      if (owner !== null) {
        conflicts.push({ file: rel, documentIndex: fn.documentIndex, path: 'metadata.name', message: describeConflict(fn.name, owner) });
        continue;
      }
      if (existing?.source === 'api') {
        this.#log.info(`manifests: function "${fn.name}" was deployed through the API; manifest ${rel} adopts it (glambdar/adopt)`);
      } else if (existing?.manifestPath && existing.manifestPath !== rel) {
        this.#log.info(`manifests: function "${fn.name}" moves from manifest ${existing.manifestPath} to ${rel}`);
      }
      try {
        const { outcome, record } = await this.#target.deploy({
          name: fn.name,
          code: fn.code,
          patch: fn.patch,
          source: 'manifest',
          manifestPath: rel,
          adopt: fn.adopt,
        });
        if (outcome === 'unchanged') this.#log.debug(`manifests: ${rel}: function "${fn.name}" unchanged`);
        else this.#log.info(`manifests: ${rel}: function "${fn.name}" ${outcome} (generation ${record.generation})`);
      } catch (err) {
        failures.push({ file: rel, documentIndex: fn.documentIndex, path: codePathOf(err), message: userMessage(err, this.#log) });
        // A function still being deleted takes its name back once it is gone: try again then.
        if ((err as { code?: unknown } | null)?.code === 'FUNCTION_DELETING') this.#recheck(rel, 1000);
      }
    }
    if (failures.length > 0) {
      // Not applied in full: prune keeps what the last good version named (and what did apply).
      if (entry.claims !== null) entry.claims = new Set([...entry.claims, ...names]);
      return this.#setErrors(rel, entry, 'invalid', [...failures, ...conflicts]);
    }
    entry.claims = new Set(names);
    entry.appliedAt = new Date(this.#clock.now()).toISOString();
    this.#setErrors(rel, entry, conflicts.length > 0 ? 'conflict' : 'applied', conflicts);
  }

  /**
   * Deletes manifest-owned functions that no manifest file names any more (ownership.ts says
   * which); a function another file also names moves to that file instead.
   */
  async #prune(): Promise<void> {
    for (const verdict of pruneVerdicts(this.#files, this.#target.owners())) {
      if (verdict.action === 'move') {
        // Re-read the file that waited for this name; if that file is itself broken, the
        // function keeps running as it is until the file is fixed.
        if (this.#files.get(verdict.heir)?.state === 'conflict') this.#dirty.add(verdict.heir);
        continue;
      }
      this.#log.info(`manifests: deleting function "${verdict.name}": manifest ${verdict.manifestPath} no longer names it`);
      try {
        await this.#target.remove(verdict.name, 'manifest', 0);
      } catch (err) {
        this.#log.warn(`manifests: deleting function "${verdict.name}" failed: ${userMessage(err, this.#log)}`);
      }
    }
  }

  /**
   * Reads and parses every file of `batch` that exists, once, and learns the code folders they
   * name before any of them is applied.
   */
  async #parseBatch(batch: string[]): Promise<Map<string, ManifestParseResult>> {
    const results = new Map<string, ManifestParseResult>();
    for (const rel of batch) {
      const parsed = await this.#parse(rel).catch(() => undefined);
      if (parsed === undefined) continue; // gone, or unreadable: #syncFile finds out which
      results.set(rel, parsed);
      if (parsed.ok) this.#setDeps(rel, this.#entry(rel), parsed.functions);
    }
    return results;
  }

  async #parse(rel: string): Promise<ManifestParseResult> {
    const absolute = this.#folder.abs(rel);
    const text = await readFile(absolute, 'utf8');
    return parseManifestFile(text, { file: rel, baseDir: path.dirname(absolute), root: this.dir });
  }

  #setDeps(rel: string, entry: FileEntry, functions: ManifestFunction[]): void {
    const file = this.#folder.abs(rel);
    const before = entry.codeDirs;
    entry.deps = functions.map((fn) => fn.code.path);
    entry.codeDirs = codeFoldersOf(file, functions);
    this.#released.push(...before.filter((dir) => !entry.codeDirs.includes(dir)));
    // Files already known inside these folders are looked at again, to be set aside.
    for (const other of this.#files.keys()) {
      if (other !== rel && entry.codeDirs.some((dir) => within(this.#folder.abs(other), dir))) this.#dirty.add(other);
    }
  }

  /** The manifest file whose code folder holds `rel`, or null. */
  #codeOwner(rel: string): string | null {
    return codeOwner(this.#files, rel, this.#folder.abs(rel));
  }

  /** Drops `rel` from the manifests when it lies in a code folder; true when it did. */
  #setAsideAsCode(rel: string): boolean {
    const owner = this.#codeOwner(rel);
    if (owner === null) return false;
    if (this.#files.delete(rel)) this.#log.info(`manifests: ${rel} is in the code folder named by ${owner}: it is code, not a manifest`);
    return true;
  }

  #entry(rel: string): FileEntry {
    let entry = this.#files.get(rel);
    if (!entry) {
      entry = newEntry();
      this.#files.set(rel, entry);
    }
    return entry;
  }

  #setErrors(rel: string, entry: FileEntry, state: FileEntry['state'], errors: ManifestError[]): void {
    entry.state = state;
    entry.errors = errors.map(({ file: _file, ...rest }) => rest);
    // The functions this file manages say in their status whether it applies (SourceValid).
    const problem = state === 'invalid' && errors.length > 0 ? `${formatManifestError(errors[0]!)}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}` : null;
    for (const fn of this.#target.owners()) if (fn.source === 'manifest' && fn.manifestPath === rel) this.#target.reportSource?.(fn.name, problem);
    // A conflict may end without this file changing (the API deletes its function, the owner
    // file drops it): look again in a while.
    if (state === 'conflict') this.#recheck(rel, this.#conflictRecheckMs);
    const text = errors.map(formatManifestError).join('\n');
    if (text === entry.logged) return;
    const line = stateChangeLine(rel, state, text, entry.logged !== '');
    entry.logged = text;
    if (line) this.#log[line.level](line.message);
  }

  /** The file (or its code) is still being written: look again once it has settled. */
  #pending(rel: string, entry: FileEntry, waitMs: number): void {
    entry.state = 'pending';
    this.#recheck(rel, waitMs + 20);
  }

  /** Reads the file again in `waitMs` (once, however often asked meanwhile). */
  #recheck(rel: string, waitMs: number): void {
    if (this.#rechecks.has(rel) || this.#closed) return;
    const handle = this.#clock.setTimeout(() => {
      this.#rechecks.delete(rel);
      this.#dirty.add(rel);
      this.#kick(0);
    }, waitMs);
    this.#rechecks.set(rel, handle);
  }
}

function codePathOf(err: unknown): string {
  return (err as { code?: unknown } | null)?.code === 'INVALID_ARCHIVE' ? 'spec.code' : '';
}
