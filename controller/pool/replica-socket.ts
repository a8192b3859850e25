import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RUNTIME_SOCKET_NAME } from '../../worker/protocol.js';
import type { ClientContext } from './worker-client.js';
import { WorkerListener } from './worker-listener.js';

/**
 * A container's own folders on the host, named by its replica key: `<socketsDir>/<key>/`
 * holds the socket the runtime listens on for that container's worker (mounted read-only at
 * /run/glambdar), a stem cell's `<cellsDir>/<key>/` holds the code it is given (mounted
 * read-only at /fn), and `<secretMountsDir>/<key>/` the secrets of its function (mounted
 * read-only at /var/glambdar/secrets). All belong to the runtime's user; a container can write to none.
 */
export function socketDirOf(socketsDir: string, key: string): string {
  return join(socketsDir, key);
}

/** Makes the replica's socket folder ({@link makeMountedFolder}) and listens there for its worker. */
export async function listenForReplica(socketsDir: string, key: string, context: ClientContext): Promise<WorkerListener> {
  return listenIn(await makeSocketFolder(socketsDir, key), context);
}

/** Makes the replica's socket folder (the container's user reaches the socket in it) and returns it. */
export function makeSocketFolder(socketsDir: string, key: string): Promise<string> {
  return makeMountedFolder(socketDirOf(socketsDir, key));
}

/**
 * Makes `dir` 0755, whatever the umask, and returns it: a folder a container mounts read-only,
 * which its user (not the runtime's) must be able to enter.
 */
export async function makeMountedFolder(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  return dir;
}

/** Listens for a worker in a socket folder {@link makeSocketFolder} made. */
export function listenIn(socketDir: string, context: ClientContext): Promise<WorkerListener> {
  return WorkerListener.listen(join(socketDir, RUNTIME_SOCKET_NAME), context);
}

/**
 * Makes a container's own secrets folder, `<secretMountsDir>/<key>/` (0755 in the 0700 data
 * folder: the container's user reads it through its read-only mount, nobody else reaches it),
 * and returns it.
 */
export function makeSecretsFolder(secretMountsDir: string, key: string): Promise<string> {
  return makeMountedFolder(join(secretMountsDir, key));
}

/**
 * Removes what a replica had on the host: its socket folder, its code copy if it was a stem
 * cell, and its secrets folder.
 */
export async function removeReplicaFolders(socketsDir: string, cellsDir: string | null, key: string, secretMountsDir?: string): Promise<void> {
  await rm(socketDirOf(socketsDir, key), { recursive: true, force: true });
  if (cellsDir !== null) await rm(join(cellsDir, key), { recursive: true, force: true });
  if (secretMountsDir !== undefined) await rm(join(secretMountsDir, key), { recursive: true, force: true });
}

/** Removes the secrets folders of every replica key but those `kept` (at start: the adopted containers'). */
export async function removeSecretFoldersExcept(secretMountsDir: string, kept: ReadonlySet<string>): Promise<void> {
  for (const key of await readdir(secretMountsDir)) if (!kept.has(key)) await rm(join(secretMountsDir, key), { recursive: true, force: true });
}

/** The longest socket path under `socketsDir` (keys are 10 hex characters), for the 107-byte limit of Unix sockets. */
export function longestSocketPath(socketsDir: string): string {
  return join(socketsDir, 'x'.repeat(10), RUNTIME_SOCKET_NAME);
}
