import type Docker from 'dockerode';
import { spawn, execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from '../../support/logger.js';

/** Where node sits in both node:*-slim and our fallback image. */
export const NODE_PATH_IN_IMAGE = '/usr/local/bin/node';

/** Bumped when the fallback image's recipe changes, so stale builds are not reused. */
const RECIPE = 2;

/** Name of the image built from the host's node binary. */
export function fallbackImageName(nodeVersion = process.versions.node): string {
  return `glambdar-node:${nodeVersion}-r${RECIPE}`;
}

async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (err) {
    // Only "no such image" means absent; anything else must not set off a pull and a build.
    if ((err as { statusCode?: unknown }).statusCode === 404) return false;
    throw err;
  }
}

/** Where dockerode talks to the engine, for the operator's log (never for API errors). */
export function engineAddress(docker: Docker): string {
  const modem = docker.modem as unknown as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  if (typeof modem.host === 'string') {
    const protocol = typeof modem.protocol === 'string' ? modem.protocol : 'http';
    return `${protocol}://${modem.host}${modem.port === undefined ? '' : `:${String(modem.port)}`}`;
  }
  return 'the default address';
}

/** Fails with what to do when the engine does not answer, before anything is looked up or pulled. */
async function checkEngine(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : (err as Error).message;
    const advice =
      code === 'EACCES'
        ? 'this user may not use it: add the user to the docker group, or run as root'
        : 'start it, or set DOCKER_HOST to where it listens';
    throw new Error(`the Docker engine at ${engineAddress(docker)} does not answer (${why}): ${advice}`, { cause: err });
  }
}

async function tryPull(docker: Docker, name: string, timeoutMs: number): Promise<boolean> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const stream = await docker.pull(name, { abortSignal: abort.signal });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
    return imageExists(docker, name);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** The shared libraries a binary links, as absolute paths (from ldd). */
function linkedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const paths = new Set<string>();
  for (const line of out.split('\n')) {
    const match = /(\/[^\s)]+)/.exec(line.includes('=>') ? (line.split('=>')[1] ?? '') : line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths];
}

/**
 * Builds a minimal image holding only the host's node binary and the libraries it links,
 * via `docker import` of a rootfs tarball. This is what lets Glambdar run on a host with no
 * registry access.
 */
export async function buildFallbackImage(docker: Docker, name: string): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'glambdar-rootfs-'));
  try {
    const node = await realpath(process.execPath);
    const files: Array<[string, string]> = [[node, NODE_PATH_IN_IMAGE]];
    for (const lib of linkedLibraries(node)) files.push([await realpath(lib), lib]);
    for (const [from, to] of files) {
      await mkdir(join(root, dirname(to)), { recursive: true });
      await copyFile(from, join(root, to));
    }
    for (const dir of ['tmp', 'fn', 'worker', 'run/glambdar', 'etc']) await mkdir(join(root, dir), { recursive: true });
    // Docker copies the image's /tmp mode onto the tmpfs mounted there: make it world-writable.
    await chmod(join(root, 'tmp'), 0o1777);
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/sbin/nologin\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    const [repo, tag] = name.split(':');
    const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-c', '.'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const stream = await docker.importImage(tar.stdout, { repo, tag, changes: ['ENV PATH=/usr/local/bin:/usr/bin:/bin'] });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
    );
    if (!(await imageExists(docker, name))) throw new Error(`docker import did not produce ${name}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * Returns the image to run functions in: the configured one if present or pullable, else the
 * image built from the host's node (built once, then reused).
 */
export async function ensureRuntimeImage(docker: Docker, configured: string, log: Logger): Promise<string> {
  await checkEngine(docker);
  if (await imageExists(docker, configured)) return configured;
  const fallback = fallbackImageName();
  if (await imageExists(docker, fallback)) {
    log.info(`runtime image ${configured} is not present; using ${fallback} built from this host's node`);
    return fallback;
  }
  log.info(`runtime image ${configured} is not present; trying to pull it`);
  if (await tryPull(docker, configured, 20_000)) return configured;
  log.warn(`could not pull ${configured}; building ${fallback} from this host's node binary (no registry needed)`);
  await buildFallbackImage(docker, fallback);
  log.info(`built runtime image ${fallback}`);
  return fallback;
}
