/**
 * Which manifest file owns which function: the rules that decide whether a file may apply a
 * function, and what happens to a manifest-owned function no file names any more.
 */
import type { FileTable } from './file-entry.js';

/** A function as the target lists it: its name and who owns it. */
export interface OwnedFunction {
  name: string;
  source: 'api' | 'manifest';
  manifestPath: string | null;
}

/** What keeps a function away from a manifest file: the API, or another manifest file. */
export type Owner = { kind: 'api' } | { kind: 'manifest'; path: string };

/**
 * What keeps `name` away from `rel`, or null when `rel` may apply it. A function deployed
 * through the API stays the API's unless the manifest adopts it (`glambdar/adopt: "true"`).
 * The file already owning a function keeps it while it still names it (or while its content
 * is not known yet: at start, or when it never parsed), so the first file wins, across
 * restarts too.
 */
export function ownerOf(files: FileTable, name: string, rel: string, existing: OwnedFunction | undefined, adopt = false): Owner | null {
  if (existing?.source === 'api') return adopt ? null : { kind: 'api' };
  const path = manifestOwnerOf(files, name, rel, existing);
  return path === null ? null : { kind: 'manifest', path };
}

/** What {@link ownerOf} says of an owner file, as its message names it. */
export function describeConflict(name: string, owner: Owner): string {
  return owner.kind === 'api'
    ? `function "${name}" was deployed through the API; to manage it from this manifest, add metadata.annotations "glambdar/adopt": "true" (or delete it through the API first)`
    : `function "${name}" is already managed by manifest ${owner.path}; remove it from one of the two files`;
}

function manifestOwnerOf(files: FileTable, name: string, rel: string, existing: OwnedFunction | undefined): string | null {
  if (!existing || existing.source !== 'manifest' || existing.manifestPath === null || existing.manifestPath === rel) return null;
  const ownerEntry = files.get(existing.manifestPath);
  if (!ownerEntry) return null; // its file is gone: this one takes it over
  return ownerEntry.claims === null || ownerEntry.claims.has(name) ? existing.manifestPath : null;
}

/** What to do with a manifest-owned function at a prune. */
export type PruneVerdict = { name: string; manifestPath: string } & ({ action: 'delete' } | { action: 'move'; heir: string });

/**
 * Manifest-owned functions that no manifest file names any more: each is deleted, or moves to
 * another file that also names it. API functions are never touched; a function whose file
 * exists but never parsed is kept (its last good state), and while a file is still being
 * written nothing is deleted for a vanished file (a copy, then a delete, would otherwise
 * delete and re-create its functions).
 */
export function pruneVerdicts(files: FileTable, functions: readonly OwnedFunction[]): PruneVerdict[] {
  const claimants = new Map<string, string[]>();
  for (const [rel, entry] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const name of entry.claims ?? []) claimants.set(name, [...(claimants.get(name) ?? []), rel]);
  }
  const unread = [...files.values()].some((entry) => entry.claims === null && entry.state === 'pending');
  const verdicts: PruneVerdict[] = [];
  for (const fn of functions) {
    if (fn.source !== 'manifest' || fn.manifestPath === null) continue;
    const ownerEntry = files.get(fn.manifestPath);
    if (ownerEntry && (ownerEntry.claims === null || ownerEntry.claims.has(fn.name))) continue;
    if (!ownerEntry && unread) continue;
    const heir = claimants.get(fn.name)?.find((rel) => rel !== fn.manifestPath);
    verdicts.push(heir !== undefined ? { name: fn.name, manifestPath: fn.manifestPath, action: 'move', heir } : { name: fn.name, manifestPath: fn.manifestPath, action: 'delete' });
  }
  return verdicts;
}
