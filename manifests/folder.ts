/**
 * The manifests folder on disk: which paths are manifests, paths relative to the folder, and
 * a walk that lists the manifests under a folder.
 */
import { watch, type FSWatcher } from 'chokidar';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';

const MANIFEST_FILE = /\.ya?ml$/i;

/** Hidden folders (`.git`) and `node_modules` hold YAML that is not ours. */
export function ignoredSegment(segment: string): boolean {
  return segment.startsWith('.') || segment === 'node_modules';
}

/** A `*.yaml`/`*.yml` file outside hidden folders and node_modules. */
export function isManifestPath(rel: string): boolean {
  const segments = rel.split('/');
  return MANIFEST_FILE.test(rel) && !segments.some(ignoredSegment);
}

/** True when `child` is `parent` or inside it. */
export function within(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent + path.sep);
}

/** Paths inside one manifests folder: `/`-separated and relative to it, as `GET /manifests` shows them. */
export class ManifestFolder {
  constructor(readonly dir: string) {}

  /** `absolute` relative to the folder, or null when it is the folder itself or outside it. */
  rel(absolute: string): string | null {
    const rel = path.relative(this.dir, absolute);
    if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
    return rel.split(path.sep).join('/');
  }

  abs(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  /** The manifest paths under `root` (the whole folder by default), sorted. */
  async scan(root = this.dir): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const dirent of entries) {
        const absolute = path.join(dir, dirent.name);
        if (dirent.name === '.git') continue;
        const rel = this.rel(absolute);
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
}

/**
 * Watches the folder (chokidar; `stabilityMs` > 0 waits for writes to finish) and resolves
 * once the initial scan is done. Every event is just a path: the source re-reads what it names.
 */
export async function watchFolder(dir: string, stabilityMs: number, onPath: (absolute: string) => void, onError: (err: Error) => void): Promise<FSWatcher> {
  const watcher = watch(dir, {
    ignoreInitial: false,
    persistent: true,
    ignored: (p: string) => path.basename(p) === '.git',
    ...(stabilityMs > 0 ? { awaitWriteFinish: { stabilityThreshold: stabilityMs, pollInterval: 100 } } : {}),
  });
  watcher.on('all', (_event, file) => onPath(file));
  watcher.on('error', (err: unknown) => onError(err instanceof Error ? err : new Error(String(err))));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return watcher;
}
