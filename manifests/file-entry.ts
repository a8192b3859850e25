import type { ManifestError } from './parse.js';

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

/** What the source remembers of one manifest file. */
export interface FileEntry {
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

/** A file not read yet. */
export function newEntry(): FileEntry {
  return { state: 'pending', errors: [], appliedAt: null, claims: null, deps: [], codeDirs: [], logged: '' };
}

/** The files the source knows, by path relative to the folder. */
export type FileTable = ReadonlyMap<string, FileEntry>;

/**
 * The log line for a file whose errors changed to `text` (one error per line; '' when none
 * is left), or null when nothing is worth a line.
 */
export function stateChangeLine(rel: string, state: FileEntry['state'], text: string, wasBroken: boolean): { level: 'info' | 'warn'; message: string } | null {
  const indented = text.split('\n').join('\n  ');
  if (text === '') return wasBroken ? { level: 'info', message: `manifests: ${rel} is applied again` } : null;
  if (state === 'invalid') return { level: 'warn', message: `manifests: ${rel} is invalid; nothing of it was applied and its functions keep their last good state:\n  ${indented}` };
  if (state === 'conflict') return { level: 'warn', message: `manifests: ${rel} is in conflict:\n  ${indented}` };
  return null;
}
