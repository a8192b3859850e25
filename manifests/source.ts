/**
 * The GitOps source: a watched folder of manifest files is a source of desired state.
 *
 * Like a controller, it works on keys, not events: a file event only marks a manifest file dirty,
 * and one loop re-reads each dirty file in full, applies what it names and then prunes what no
 * file names any more. It never talks to Docker: everything goes through a {@link ManifestTarget}
 * (the Runtime), whose store writes a new generation only when a spec or a code digest changed,
 * so applying the same file again is a no-op.
 */
import { watch, type FSWatcher } from 'chokidar';
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { SpecPatch } from '../schemas/index.js';
import { GlambdarError, installArchive, installFolder, systemClock, type Clock, type Logger, type TimerHandle } from '../controller/index.js';
import { formatManifestError, parseManifestFile, type ManifestError, type ManifestFunction, type ManifestParseResult } from './parse.js';

/**
 * What the source needs from the runtime; `Runtime` satisfies it structurally. `list` returns
 * live functions (not being deleted) with their owner.
 */
export interface ManifestTarget {
  deploy(request: {
    name: string;
    code: { kind: 'zip' | 'folder'; path: string };
    patch: SpecPatch;
    source: 'manifest';
    manifestPath: string;
  }): Promise<{ outcome: 'unchanged' | 'created' | 'updated' | 'deleted'; record: { generation: number } }>;
  remove(name: string, source: 'manifest', waitMs?: number): Promise<void>;
  list(): ReadonlyArray<{ name: string; source: 'api' | 'manifest'; manifestPath: string | null }>;
  readonly log: Logger;
}

/** The state of one manifest file, as `GET /manifests` shows it. */
export interface ManifestFileState {
  /** Relative to the manifests folder, `/`-separated: `team/hello.yaml`. */
  path: string;
  /**
   * `applied`: every function of the file is applied. `invalid`: the file (or one of its code
   * archives) has errors and this version was not applied; its functions keep their last good
   * state. `conflict`: some function is owned by another manifest file; the others are
   * applied. `pending`: the file or its code is still being written, or not read yet.
   */
  state: 'applied' | 'invalid' | 'conflict' | 'pending';
  /** Functions this file manages now (for an invalid file: those still running from its last good version). */
  functions: string[];
  errors: Array<Omit<ManifestError, 'file'>>;
  /** When the file was last applied in full (ISO 8601), or null. */
  appliedAt: string | null;
}

/** Options of {@link ManifestSource}. */
export interface ManifestSourceOptions {
  /** The watched folder (GLAMBDAR_MANIFESTS); created if missing. */
  dir: string;
  target: ManifestTarget;
  /** Defaults to the target's log. */
  log?: Logger;
  clock?: Clock;
  /**
   * A file must be left unchanged this long before it is read (chokidar's awaitWriteFinish, and
   * the same check on modification times for code a manifest names). 0 disables the wait.
   */
  stabilityMs?: number;
  /** File events are gathered this long before a sync runs. */
  debounceMs?: number;
}

interface FileEntry {
  state: ManifestFileState['state'];
  errors: Array<Omit<ManifestError, 'file'>>;
  appliedAt: string | null;
  /** Names of the last version that parsed; null while no version of the file has parsed. */
  claims: Set<string> | null;
  /** Absolute code paths of the last version that parsed. */
  deps: string[];
  /**
   * Of those, the code folders that do not hold this file: YAML inside them is the function's
   * code (a config.yaml, an openapi.yml), never a manifest.
   */
  codeDirs: string[];
  /** The errors last logged, so a file re-read for an unrelated event does not log them again. */
  logged: string;
}

const MANIFEST_FILE = /\.ya?ml$/i;

/** Watches a folder of manifests and keeps the target's manifest-owned functions equal to it. */
export class ManifestSource {
  readonly dir: string;
  #target: ManifestTarget;
  #log: Logger;
  #clock: Clock;
  #stabilityMs: number;
  #debounceMs: number;
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
    this.#target = options.target;
    this.#log = options.log ?? options.target.log;
    this.#clock = options.clock ?? systemClock;
    this.#stabilityMs = options.stabilityMs ?? 500;
    this.#debounceMs = options.debounceMs ?? 50;
  }

  /**
   * Starts watching. Resolves once the whole folder has been read and applied: pruning waits
   * for that, so a restart never deletes and re-creates functions.
   */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const watcher = watch(this.dir, {
      ignoreInitial: false,
      persistent: true,
      ignored: (p: string) => path.basename(p) === '.git',
      ...(this.#stabilityMs > 0 ? { awaitWriteFinish: { stabilityThreshold: this.#stabilityMs, pollInterval: 100 } } : {}),
    });
    this.#watcher = watcher;
    watcher.on('all', (_event, file) => this.#changed(file));
    watcher.on('error', (err: unknown) => this.#log.error(`manifests: watching ${this.dir} failed: ${(err as Error).message}`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    this.#log.info(`manifests: watching ${this.dir}`);
    await this.resync();
  }

  /** Re-reads every manifest file of the folder, applies them, then prunes. */
  async resync(): Promise<void> {
    if (this.#closed) return;
    for (const rel of await this.#scan()) {
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
    for (const fn of this.#target.list()) {
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

  // -------------------------------------------------------------------------------------------
  // Events to keys

  #changed(absolute: string): void {
    if (this.#closed) return;
    const rel = this.#rel(absolute);
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
          this.#setErrors(rel, this.#entry(rel), 'invalid', [{ file: rel, documentIndex: 0, path: '', message: this.#safeMessage(err) }]);
        }
      }
      if (this.#closed) return;
      for (const folder of this.#released.splice(0)) {
        for (const rel of await this.#scan(folder)) {
          this.#entry(rel);
          this.#dirty.add(rel);
        }
      }
      // A file went away: it may have been renamed, and the watcher reports the new name only
      // once it has settled. Read the folder itself before deleting what the old name held.
      if (batch.some((rel) => !this.#files.has(rel))) {
        for (const rel of await this.#scan()) {
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

  // -------------------------------------------------------------------------------------------
  // Apply one file

  /** `parsed`: the file as the batch read it, when it could. */
  async #syncFile(rel: string, parsed: ManifestParseResult | undefined): Promise<void> {
    const absolute = this.#abs(rel);
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
    const fileWait = this.#unsettledFor(info.mtimeMs);
    if (fileWait > 0) return this.#pending(rel, entry, fileWait);

    parsed ??= await this.#parse(rel);
    if (!parsed.ok) return this.#setErrors(rel, entry, 'invalid', parsed.errors);
    this.#setDeps(rel, entry, parsed.functions);

    const codeWait = await this.#codeUnsettledFor(parsed.functions);
    if (codeWait > 0) return this.#pending(rel, entry, codeWait);

    // One call per function cannot be undone, so code that would fail to install fails the
    // whole file first (a single-function file needs no check: its deploy is all or nothing).
    if (parsed.functions.length > 1) {
      const codeErrors = await this.#checkCode(rel, parsed.functions);
      if (codeErrors.length > 0) return this.#setErrors(rel, entry, 'invalid', codeErrors);
    }

    const names = parsed.functions.map((fn) => fn.name);
    const current = new Map(this.#target.list().map((fn) => [fn.name, fn]));
    const conflicts: ManifestError[] = [];
    const failures: ManifestError[] = [];
    for (const fn of parsed.functions) {
      const existing = current.get(fn.name);
      const owner = this.#ownerOf(fn.name, rel, existing);
      if (owner !== null) {
        conflicts.push({
          file: rel,
          documentIndex: fn.documentIndex,
          path: 'metadata.name',
          message: `function "${fn.name}" is already managed by manifest ${owner}; remove it from one of the two files`,
        });
        continue;
      }
      if (existing?.source === 'api') {
        this.#log.info(`manifests: function "${fn.name}" was deployed through the API; manifest ${rel} now manages it`);
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
        });
        if (outcome === 'unchanged') this.#log.debug(`manifests: ${rel}: function "${fn.name}" unchanged`);
        else this.#log.info(`manifests: ${rel}: function "${fn.name}" ${outcome} (generation ${record.generation})`);
      } catch (err) {
        failures.push({ file: rel, documentIndex: fn.documentIndex, path: codePathOf(err), message: this.#safeMessage(err) });
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
   * The manifest file that keeps `name` away from `rel`, or null when `rel` may apply it. The
   * file already owning a function keeps it while it still names it (or while its content is
   * not known yet: at start, or when it never parsed), so the first file wins, across restarts too.
   */
  #ownerOf(name: string, rel: string, existing: ReturnType<ManifestTarget['list']>[number] | undefined): string | null {
    if (!existing || existing.source !== 'manifest' || existing.manifestPath === null || existing.manifestPath === rel) return null;
    const ownerEntry = this.#files.get(existing.manifestPath);
    if (!ownerEntry) return null; // its file is gone: this one takes it over
    return ownerEntry.claims === null || ownerEntry.claims.has(name) ? existing.manifestPath : null;
  }

  /**
   * Deletes manifest-owned functions that no manifest file names any more. API functions are
   * never touched; a function whose file exists but never parsed is kept (its last good state).
   * A function another file also names moves to that file instead of being deleted.
   */
  async #prune(): Promise<void> {
    const claimants = new Map<string, string[]>();
    for (const [rel, entry] of [...this.#files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      for (const name of entry.claims ?? []) claimants.set(name, [...(claimants.get(name) ?? []), rel]);
    }
    // A file still being written may name what a vanished file held (a copy, then a delete):
    // its functions wait for it to settle instead of being deleted and created again.
    const unread = [...this.#files.values()].some((entry) => entry.claims === null && entry.state === 'pending');
    for (const fn of this.#target.list()) {
      if (fn.source !== 'manifest' || fn.manifestPath === null) continue;
      const ownerEntry = this.#files.get(fn.manifestPath);
      if (ownerEntry && (ownerEntry.claims === null || ownerEntry.claims.has(fn.name))) continue;
      if (!ownerEntry && unread) continue;
      const heir = claimants.get(fn.name)?.find((rel) => rel !== fn.manifestPath);
      if (heir !== undefined) {
        // Re-read the file that waited for this name; if that file is itself broken, the
        // function keeps running as it is until the file is fixed.
        if (this.#files.get(heir)?.state === 'conflict') this.#dirty.add(heir);
        continue;
      }
      this.#log.info(`manifests: deleting function "${fn.name}": manifest ${fn.manifestPath} no longer names it`);
      try {
        await this.#target.remove(fn.name, 'manifest', 0);
      } catch (err) {
        this.#log.warn(`manifests: deleting function "${fn.name}" failed: ${this.#safeMessage(err)}`);
      }
    }
  }

  /** Installs each function's code into a scratch folder, so a bad archive fails the file before anything applies. */
  async #checkCode(rel: string, functions: ManifestFunction[]): Promise<ManifestError[]> {
    const scratch = await mkdtemp(path.join(tmpdir(), 'glambdar-manifest-check-'));
    const errors: ManifestError[] = [];
    try {
      for (const fn of functions) {
        try {
          if (fn.code.kind === 'zip') await installArchive(fn.code.path, scratch, fn.name);
          else await installFolder(fn.code.path, scratch, fn.name);
        } catch (err) {
          errors.push({ file: rel, documentIndex: fn.documentIndex, path: 'spec.code', message: this.#safeMessage(err) });
        }
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return errors;
  }

  // -------------------------------------------------------------------------------------------
  // YAML that is code

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
    const absolute = this.#abs(rel);
    const text = await readFile(absolute, 'utf8');
    return parseManifestFile(text, { file: rel, baseDir: path.dirname(absolute), root: this.dir });
  }

  #setDeps(rel: string, entry: FileEntry, functions: ManifestFunction[]): void {
    const file = this.#abs(rel);
    const before = entry.codeDirs;
    entry.deps = functions.map((fn) => fn.code.path);
    entry.codeDirs = functions.filter((fn) => fn.code.kind === 'folder' && !within(file, fn.code.path)).map((fn) => fn.code.path);
    this.#released.push(...before.filter((dir) => !entry.codeDirs.includes(dir)));
    // Files already known inside these folders are looked at again, to be set aside.
    for (const other of this.#files.keys()) {
      if (other !== rel && entry.codeDirs.some((dir) => within(this.#abs(other), dir))) this.#dirty.add(other);
    }
  }

  /** The manifest file whose code folder holds `rel`, or null. */
  #codeOwner(rel: string): string | null {
    const absolute = this.#abs(rel);
    for (const [file, entry] of this.#files) {
      if (file !== rel && entry.codeDirs.some((dir) => within(absolute, dir))) return file;
    }
    return null;
  }

  /** Drops `rel` from the manifests when it lies in a code folder; true when it did. */
  #setAsideAsCode(rel: string): boolean {
    const owner = this.#codeOwner(rel);
    if (owner === null) return false;
    if (this.#files.delete(rel)) this.#log.info(`manifests: ${rel} is in the code folder named by ${owner}: it is code, not a manifest`);
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // State and helpers

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
    const text = errors.map(formatManifestError).join('\n');
    if (text === entry.logged) return;
    const wasBroken = entry.logged !== '';
    entry.logged = text;
    if (text === '') {
      if (wasBroken) this.#log.info(`manifests: ${rel} is applied again`);
    } else if (state === 'invalid') {
      this.#log.warn(`manifests: ${rel} is invalid; nothing of it was applied and its functions keep their last good state:\n  ${text.split('\n').join('\n  ')}`);
    } else if (state === 'conflict') {
      this.#log.warn(`manifests: ${rel} is in conflict:\n  ${text.split('\n').join('\n  ')}`);
    }
  }

  /** The file (or its code) is still being written: look again once it has settled. */
  #pending(rel: string, entry: FileEntry, waitMs: number): void {
    entry.state = 'pending';
    if (this.#rechecks.has(rel) || this.#closed) return;
    const handle = this.#clock.setTimeout(() => {
      this.#rechecks.delete(rel);
      this.#dirty.add(rel);
      this.#kick(0);
    }, waitMs + 20);
    this.#rechecks.set(rel, handle);
  }

  /** How much longer a file modified at `mtimeMs` must stay untouched before it is read. */
  #unsettledFor(mtimeMs: number): number {
    if (this.#stabilityMs <= 0) return 0;
    const age = this.#clock.now() - mtimeMs;
    if (age < -1000) return 0; // a timestamp from the future (copied with its time, clock skew): do not wait forever
    return Math.max(0, this.#stabilityMs - age);
  }

  async #codeUnsettledFor(functions: ManifestFunction[]): Promise<number> {
    if (this.#stabilityMs <= 0) return 0;
    let wait = 0;
    for (const fn of functions) {
      for (const mtime of await modificationTimes(fn.code)) wait = Math.max(wait, this.#unsettledFor(mtime));
    }
    return wait;
  }

  #safeMessage(err: unknown): string {
    if (err instanceof GlambdarError) return err.message;
    // Host errors (I/O, permissions) would name host paths: log them, show only their kind.
    this.#log.error(`manifests: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    const code = (err as { code?: unknown } | null)?.code;
    return `could not read or install the code${typeof code === 'string' ? ` (${code})` : ''}; see the runtime's log`;
  }

  /** The manifest paths under `root` (the whole folder by default). */
  async #scan(root = this.dir): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const dirent of entries) {
        const absolute = path.join(dir, dirent.name);
        if (dirent.name === '.git') continue;
        const rel = this.#rel(absolute);
        if (rel === null) continue;
        let isDir = dirent.isDirectory();
        let isFile = dirent.isFile();
        if (dirent.isSymbolicLink()) {
          const target = await stat(absolute).catch(() => undefined);
          isDir = target?.isDirectory() ?? false;
          isFile = target?.isFile() ?? false;
        }
        if (isDir && !rel.split('/').some(ignoredSegment)) await walk(absolute);
        else if (isFile && isManifestPath(rel)) found.push(rel);
      }
    };
    await walk(root);
    return found.sort();
  }

  #rel(absolute: string): string | null {
    const rel = path.relative(this.dir, absolute);
    if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
    return rel.split(path.sep).join('/');
  }

  #abs(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }
}

function newEntry(): FileEntry {
  return { state: 'pending', errors: [], appliedAt: null, claims: null, deps: [], codeDirs: [], logged: '' };
}

/** Hidden folders (`.git`) and `node_modules` hold YAML that is not ours. */
function ignoredSegment(segment: string): boolean {
  return segment.startsWith('.') || segment === 'node_modules';
}

/** A `*.yaml`/`*.yml` file outside hidden folders and node_modules. */
function isManifestPath(rel: string): boolean {
  const segments = rel.split('/');
  return MANIFEST_FILE.test(rel) && !segments.some(ignoredSegment);
}

function within(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent + path.sep);
}

function codePathOf(err: unknown): string {
  return (err as { code?: unknown } | null)?.code === 'INVALID_ARCHIVE' ? 'spec.code' : '';
}

/** Modification times of a code zip, or of every file of a code folder. */
async function modificationTimes(code: ManifestFunction['code']): Promise<number[]> {
  if (code.kind === 'zip') {
    const info = await stat(code.path).catch(() => undefined);
    return info ? [info.mtimeMs] : [];
  }
  const times: number[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 32 || times.length > 10_000) return;
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const dirent of entries) {
      const absolute = path.join(dir, dirent.name);
      if (dirent.isDirectory()) await walk(absolute, depth + 1);
      else if (dirent.isFile()) {
        const info = await stat(absolute).catch(() => undefined);
        if (info) times.push(info.mtimeMs);
      }
    }
  };
  await walk(code.path, 0);
  return times;
}
