import type { SpecPatch } from '../schemas/index.js';
import type { Clock, Logger } from '../controller/index.js';

/**
 * What the source needs from the runtime; `Runtime` satisfies it structurally. `owners` returns
 * live functions (not being deleted) with their owner.
 */
export interface ManifestTarget {
  deploy(request: {
    name: string;
    code: { kind: 'zip' | 'folder'; path: string };
    patch: SpecPatch;
    source: 'manifest';
    manifestPath: string;
    /** The manifest says `glambdar/adopt: "true"`: it may take over a function deployed through the API. */
    adopt?: boolean;
  }): Promise<{ outcome: 'unchanged' | 'created' | 'updated' | 'deleted'; record: { generation: number } }>;
  remove(name: string, source: 'manifest', waitMs?: number): Promise<unknown>;
  /**
   * Tells whether the manifest file of a function it manages applies (`problem` null) or not
   * (the file's first error): the function's `SourceValid` condition.
   */
  reportSource?(name: string, problem: string | null): void;
  owners(): ReadonlyArray<{ name: string; source: 'api' | 'manifest'; manifestPath: string | null }>;
}

/** Options of {@link ManifestSource}. */
export interface ManifestSourceOptions {
  /** The watched folder (GLAMBDAR_MANIFESTS); created if missing. */
  dir: string;
  target: ManifestTarget;
  log: Logger;
  clock?: Clock;
  /**
   * A file must be left unchanged this long before it is read (chokidar's awaitWriteFinish, and
   * the same check on modification times for code a manifest names). 0 disables the wait.
   */
  stabilityMs?: number;
  /** File events are gathered this long before a sync runs. */
  debounceMs?: number;
  /** A file in conflict is read again after this long (its owner may have let go). Default 10 s. */
  conflictRecheckMs?: number;
}
