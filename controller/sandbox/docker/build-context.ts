/**
 * The `docker build` context of a function image: a Dockerfile, the worker bundle and the
 * function's code, as a tar stream. Entries are sorted, owned by root, dated at the epoch and
 * given fixed modes (0644, 0755 for directories and executables), so the same inputs give the
 * same bytes: the engine's build cache then gives the same image for the same code.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pack, type Pack } from 'tar-stream';
import { IMAGE_HTTP_PORT, IMAGE_LABELS, type ImageBuildRequest } from '../../images/function-image.js';
import { NODE_PATH_IN_IMAGE } from './runtime-image.js';

const EPOCH = new Date(0);

/** The Dockerfile of a function image built `FROM base`. */
export function dockerfile(base: string, request: ImageBuildRequest): string {
  const env: Array<[string, string]> = [
    ['NODE_ENV', 'production'],
    ['GLAMBDAR_FN_DIR', '/fn'],
    // The worker's HTTP mode (worker/config.ts): on PORT, which Knative overrides with its own.
    ['PORT', String(IMAGE_HTTP_PORT)],
    ['GLAMBDAR_FUNCTION', request.functionName],
    ['GLAMBDAR_REVISION', String(request.revision)],
    ['GLAMBDAR_TIMEOUT_MS', String(request.timeoutMs)],
    ...(request.interface ? ([['GLAMBDAR_INTERFACE', request.interface]] as Array<[string, string]>) : []),
    ...(request.handler ? ([['GLAMBDAR_HANDLER', request.handler]] as Array<[string, string]>) : []),
    ...Object.entries(request.platformEnv),
  ];
  const labels: Array<[string, string]> = [
    [IMAGE_LABELS.function, request.functionName],
    [IMAGE_LABELS.revision, String(request.revision)],
    [IMAGE_LABELS.digest, request.codeDigest],
  ];
  // Values are quoted as JSON strings, which Dockerfile double quotes read alike.
  const pairs = (list: Array<[string, string]>) => list.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
  return [
    `FROM ${base}`,
    // Owned by root, read-only to the user the worker runs as.
    'COPY worker/ /worker/',
    'COPY fn/ /fn/',
    'WORKDIR /fn',
    'USER 65534:65534',
    `ENV ${pairs(env)}`,
    `EXPOSE ${IMAGE_HTTP_PORT}`,
    `LABEL ${pairs(labels)}`,
    `ENTRYPOINT ${JSON.stringify([NODE_PATH_IN_IMAGE, '/worker/main.cjs'])}`,
    '',
  ].join('\n');
}

/**
 * The build context as a tar stream: `Dockerfile`, `worker/main.cjs` and `fn/` (the code folder's
 * regular files and folders; anything else, a symlink say, is refused: paths are never followed).
 */
export async function buildContext(dockerfileText: string, workerBundle: string, codeDir: string): Promise<Pack> {
  const entries = await codeEntries(codeDir);
  const tar = pack();
  const add = (name: string, body: Buffer) => tar.entry({ name, mode: 0o644, mtime: EPOCH, uid: 0, gid: 0 }, body);
  add('Dockerfile', Buffer.from(dockerfileText));
  tar.entry({ name: 'worker', type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
  add('worker/main.cjs', await readFile(workerBundle));
  tar.entry({ name: 'fn', type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
  // Files are streamed one after another (a tar is sequential), so a large function is never held whole.
  void (async () => {
    for (const entry of entries) {
      const name = posix.join('fn', entry.path);
      if (entry.directory) {
        tar.entry({ name, type: 'directory', mode: 0o755, mtime: EPOCH, uid: 0, gid: 0 });
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const sink = tar.entry({ name, size: entry.size, mode: entry.executable ? 0o755 : 0o644, mtime: EPOCH, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
        const source = createReadStream(join(codeDir, entry.path));
        source.on('error', reject);
        source.pipe(sink);
      });
    }
    tar.finalize();
  })().catch((err: unknown) => tar.destroy(err instanceof Error ? err : new Error(String(err))));
  return tar;
}

interface CodeEntry {
  /** Relative, with `/`. */
  path: string;
  directory: boolean;
  size: number;
  executable: boolean;
}

/** The code folder's entries, sorted, parents before children. */
async function codeEntries(codeDir: string): Promise<CodeEntry[]> {
  const out: CodeEntry[] = [];
  const walk = async (rel: string): Promise<void> => {
    // Errors name paths inside the code folder only, never where it is on the host.
    const names = await readdir(join(codeDir, rel)).catch(() => {
      throw new Error(rel === '' ? 'the code of this revision is not installed' : `cannot read ${rel}`);
    });
    names.sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      // lstat: a symlink is refused, never followed.
      const info = await lstat(join(codeDir, path));
      if (info.isDirectory()) {
        out.push({ path, directory: true, size: 0, executable: false });
        await walk(path);
      } else if (info.isFile()) {
        out.push({ path, directory: false, size: info.size, executable: (info.mode & 0o111) !== 0 });
      } else {
        throw new Error(`the code folder holds ${path}, which is not a regular file or folder`);
      }
    }
  };
  await walk('');
  return out;
}
