/**
 * Glambdar's containers across instances, for what no running runtime does for itself:
 * `glambdar down` (every container of one instance) and orphan collection (containers whose
 * data folder is gone). Everything here filters on Glambdar's labels: nothing else on the
 * engine is ever listed or touched.
 */
import type Docker from 'dockerode';
import { LABELS } from '../sandbox.js';

/** A Glambdar container as these commands show it. */
export interface GlambdarContainer {
  id: string;
  /** The engine's name: `glambdar-<instance>-<function or "stem">-<replica>`. */
  name: string;
  instanceId: string;
  /** Its `glambdar.dir` label; null for containers made before the label existed. */
  dataDir: string | null;
  /** '' for a generic stem cell. */
  functionName: string;
  stem: boolean;
  state: string;
}

/** Every container labelled by a Glambdar instance (any, or `instanceId`), running or not. */
export async function listGlambdarContainers(docker: Docker, instanceId?: string): Promise<GlambdarContainer[]> {
  const found = await docker.listContainers({ all: true, filters: { label: [instanceId === undefined ? LABELS.instance : `${LABELS.instance}=${instanceId}`] } });
  return found.map((c) => {
    const labels = c.Labels ?? {};
    return {
      id: c.Id,
      name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
      instanceId: labels[LABELS.instance] ?? '',
      dataDir: labels[LABELS.dir] ?? null,
      functionName: labels[LABELS.function] ?? '',
      stem: labels[LABELS.stem] === '1',
      state: c.State,
    };
  });
}

/** Removes containers (force); one already gone is not an error. Returns those removed. */
export async function removeContainers(docker: Docker, containers: readonly GlambdarContainer[]): Promise<GlambdarContainer[]> {
  const removed: GlambdarContainer[] = [];
  for (const c of containers) {
    try {
      await docker.getContainer(c.id).remove({ force: true });
      removed.push(c);
    } catch (err) {
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404) continue;
      if (status !== 409) throw err;
      removed.push(c); // already being removed
    }
  }
  return removed;
}

/**
 * The orphans among Glambdar's containers: labelled with a data folder that `owns` says no
 * longer belongs to their instance (gone, or holding another instance now). Containers
 * without the label are left alone: nothing says whose they are.
 */
export async function findOrphans(docker: Docker, owns: (dataDir: string, instanceId: string) => boolean): Promise<GlambdarContainer[]> {
  const all = await listGlambdarContainers(docker);
  return all.filter((c) => c.dataDir !== null && c.instanceId !== '' && !owns(c.dataDir, c.instanceId));
}
