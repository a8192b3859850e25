import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { ADOPT_ANNOTATION, parseManifestDocument, type SpecPatch } from '../schemas/index.js';

/** One function a manifest file asks for, with its code resolved to an absolute path. */
export interface ManifestFunction {
  name: string;
  /** Position of the document in its file, counting from 0 (empty documents included). */
  documentIndex: number;
  code: { kind: 'zip' | 'folder'; path: string };
  /** The spec without `code`; fields not given take their defaults (a manifest states the whole spec). */
  patch: SpecPatch;
  /** `metadata.annotations["glambdar/adopt"]` is "true": the manifest may take the function over from the API. */
  adopt: boolean;
}

/** One problem of a manifest file, located by file, document and field. Never holds a host path. */
export interface ManifestError {
  /** The file, relative to the manifests folder (`team/hello.yaml`). */
  file: string;
  documentIndex: number;
  /** Dotted field path (`spec.rateLimit`); '' when the problem is the document or the file itself. */
  path: string;
  message: string;
  /** 1-based line of the field (or document) in the file, when known. */
  line?: number;
}

/** What parsing a manifest file gives: every function of it, or every problem of it (then nothing applies). */
export type ManifestParseResult = { ok: true; functions: ManifestFunction[] } | { ok: false; errors: ManifestError[] };

/** Where a manifest file lives, for resolving `spec.code` and naming the file in messages. */
export interface ManifestParseOptions {
  /** The file's name in messages: its path relative to the manifests folder. */
  file: string;
  /** Absolute folder holding the file; `spec.code` is relative to it. */
  baseDir: string;
  /** When set, `spec.code` must resolve inside this folder (the manifests folder). */
  root?: string;
}

/** Largest manifest file read; anything bigger is an error, not a parse. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

const ENTRY_POINTS = ['index.js', 'index.mjs'];

/** `team/hello.yaml document 1 (line 9): spec.rateLimit: Too small ...` */
export function formatManifestError(error: ManifestError): string {
  const where = `${error.file} document ${error.documentIndex}${error.line !== undefined ? ` (line ${error.line})` : ''}`;
  return `${where}: ${error.path ? `${error.path}: ` : ''}${error.message}`;
}

/**
 * Parses the text of one manifest file: every YAML document (empty ones skipped) is validated
 * against the manifest schema and its `spec.code` is resolved relative to the file: a `.zip`
 * file, or a folder holding index.js or index.mjs. A file with any invalid document yields only
 * errors, so a caller never applies half of a file.
 */
export async function parseManifestFile(text: string, options: ManifestParseOptions): Promise<ManifestParseResult> {
  const { file } = options;
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) {
    return { ok: false, errors: [{ file, documentIndex: 0, path: '', message: `manifest file is larger than ${MAX_MANIFEST_BYTES / 1024} KiB` }] };
  }
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  const errors: ManifestError[] = [];
  const functions: ManifestFunction[] = [];
  const firstDocument = new Map<string, number>();
  const lineOf = (offset: number | undefined) => (offset === undefined ? undefined : lines.linePos(offset).line);

  for (const [documentIndex, doc] of documents.entries()) {
    const startLine = lineOf(doc.range[0]);
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        errors.push({ file, documentIndex, path: '', message: `invalid YAML: ${firstLine(err.message)}`, line: lineOf(err.pos[0]) ?? startLine });
      }
      continue;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // an empty document
    const parsed = parseManifestDocument(value);
    if (!parsed.ok) {
      for (const issue of parsed.issues) {
        errors.push({ file, documentIndex, path: issue.path, message: issue.message, line: nodeLine(doc, issue.path, lineOf) ?? startLine });
      }
      continue;
    }
    const { metadata, spec } = parsed.value;
    const { code, ...patch } = spec;
    const previous = firstDocument.get(metadata.name);
    if (previous !== undefined) {
      errors.push({
        file,
        documentIndex,
        path: 'metadata.name',
        message: `function "${metadata.name}" is already defined in document ${previous} of this file`,
        line: nodeLine(doc, 'metadata.name', lineOf) ?? startLine,
      });
      continue;
    }
    firstDocument.set(metadata.name, documentIndex);
    const resolved = await resolveCode(code, options);
    if (!resolved.ok) {
      errors.push({ file, documentIndex, path: 'spec.code', message: resolved.message, line: nodeLine(doc, 'spec.code', lineOf) ?? startLine });
      continue;
    }
    functions.push({ name: metadata.name, documentIndex, code: resolved.code, patch, adopt: metadata.annotations?.[ADOPT_ANNOTATION] === 'true' });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, functions };
}

/** Resolves `spec.code` to a zip or a code folder on disk; messages quote the path as written. */
async function resolveCode(
  code: string,
  options: ManifestParseOptions,
): Promise<{ ok: true; code: ManifestFunction['code'] } | { ok: false; message: string }> {
  const shown = JSON.stringify(code);
  const absolute = path.resolve(options.baseDir, code);
  if (options.root !== undefined) {
    const rel = path.relative(path.resolve(options.root), absolute);
    if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
      return { ok: false, message: `${shown} is outside the manifests folder; code must be kept beside its manifests` };
    }
  }
  const info = await stat(absolute).catch(() => undefined);
  if (!info) return { ok: false, message: `${shown} not found (relative to the manifest's folder)` };
  if (info.isFile()) {
    if (!absolute.toLowerCase().endsWith('.zip')) {
      return { ok: false, message: `${shown} is a file but not a .zip; give a .zip or a folder holding index.js` };
    }
    return { ok: true, code: { kind: 'zip', path: absolute } };
  }
  if (info.isDirectory()) {
    for (const entry of ENTRY_POINTS) {
      const found = await stat(path.join(absolute, entry)).catch(() => undefined);
      if (found?.isFile()) return { ok: true, code: { kind: 'folder', path: absolute } };
    }
    return { ok: false, message: `folder ${shown} has no index.js or index.mjs` };
  }
  return { ok: false, message: `${shown} is neither a .zip file nor a folder` };
}

/** The line of the node at a dotted path, if the document has one there. */
function nodeLine(doc: Document, dotted: string, lineOf: (offset: number | undefined) => number | undefined): number | undefined {
  if (dotted === '') return undefined;
  const keys = dotted.split('.');
  for (let n = keys.length; n > 0; n--) {
    const node: unknown = doc.getIn(keys.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return lineOf(range[0]);
  }
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
