/**
 * What is cleaned up with no runtime running, or beyond one runtime's own containers:
 * `glambdar down` (every container of one data folder's instance) and orphans (containers of
 * an instance whose data folder is gone), removed by `glambdar gc` and at every start.
 */
import Docker from 'dockerode';
import { join } from 'node:path';
import { findOrphans, listGlambdarContainers, removeContainers, type GlambdarContainer } from './sandbox/docker/instances.js';
import { readInstanceId } from './state/sqlite-store.js';

/** A container of some Glambdar instance, as `glambdar down` and `gc` report what they removed. */
export interface RemovedContainer {
  name: string;
  functionName: string;
  stem: boolean;
}

const removedOf = (c: GlambdarContainer): RemovedContainer => ({ name: c.name, functionName: c.functionName, stem: c.stem });

/** True when `dataDir` still holds the runtime of `instanceId` (or cannot be read now: then it is left alone). */
function ownsFolder(dataDir: string, instanceId: string): boolean {
  const found = readInstanceId(join(dataDir, 'glambdar.db'));
  return found === undefined || found === instanceId;
}

/**
 * Removes the containers of instances whose data folder is gone or holds another instance now
 * (`glambdar gc`, and every runtime at start): they can never be adopted.
 */
export async function collectOrphans(docker: Docker = new Docker()): Promise<RemovedContainer[]> {
  return (await removeContainers(docker, await findOrphans(docker, ownsFolder))).map(removedOf);
}

/**
 * Removes every container of the runtime whose data folder is `dir` (`glambdar down`):
 * function containers and stem cells. The instance is read from the folder's database; null
 * when the folder holds no runtime.
 */
export async function removeInstanceContainers(dir: string, docker: Docker = new Docker()): Promise<{ instanceId: string | null; removed: RemovedContainer[] }> {
  const instanceId = readInstanceId(join(dir, 'glambdar.db'));
  if (!instanceId) return { instanceId: null, removed: [] };
  return { instanceId, removed: (await removeContainers(docker, await listGlambdarContainers(docker, instanceId))).map(removedOf) };
}

/** The instance id of the runtime whose data folder is `dir`, or null. */
export function instanceOf(dir: string): string | null {
  return readInstanceId(join(dir, 'glambdar.db')) ?? null;
}
