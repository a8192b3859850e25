import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** Every TypeScript source under `dir` (tests included when `withTests`). */
function sources(dir: string, withTests = false): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    if (!withTests && entry.name.endsWith('.test.ts')) continue;
    out.push(relative(ROOT, join(entry.parentPath, entry.name)));
  }
  return out;
}

/** The relative imports of a file, resolved to paths from the repository root. */
function relativeImports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((spec) => relative(ROOT, resolve(ROOT, file, '..', spec)));
}

describe('layers', () => {
  it('api/ reaches the controller only through controller/index.ts, and manifests only through manifests/index.ts', () => {
    const allowed = (target: string) =>
      target.startsWith('api/') || target.startsWith('schemas/') || target === 'controller/index.js' || target === 'manifests/index.js';
    const offending = sources('api').flatMap((file) => relativeImports(file).filter((t) => !allowed(t)).map((t) => `${file} -> ${t}`));
    expect(offending).toEqual([]);
  });

  it('api/ uses verbs of the Runtime, never a part of it (runtime.<part>.<member>)', () => {
    const offending = sources('api').flatMap((file) =>
      readFileSync(join(ROOT, file), 'utf8')
        .split('\n')
        .filter((line) => /\bruntime\.[A-Za-z_$#][\w$]*\.[A-Za-z_$]/.test(line))
        .map((line) => `${file}: ${line.trim()}`),
    );
    expect(offending).toEqual([]);
  });

  it('worker/ imports nothing outside worker/ (it is mounted alone into containers)', () => {
    const offending = sources('worker', true).flatMap((file) => relativeImports(file).filter((t) => !t.startsWith('worker/')).map((t) => `${file} -> ${t}`));
    expect(offending).toEqual([]);
  });

  it('schemas/ imports only zod and itself', () => {
    const offending = sources('schemas').flatMap((file) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const packages = [...text.matchAll(/from\s+['"]([^.'"][^'"]*)['"]/g)].map((m) => m[1]!).filter((p) => p !== 'zod');
      const outside = relativeImports(file).filter((t) => !t.startsWith('schemas/'));
      return [...packages, ...outside].map((t) => `${file} -> ${t}`);
    });
    expect(offending).toEqual([]);
  });

  it('no source file outside tests is over 400 lines, and controller/ keeps at most 4 files at its top', () => {
    const long = ['api', 'bench', 'controller', 'manifests', 'schemas', 'worker']
      .flatMap((dir) => sources(dir))
      .map((file) => ({ file, lines: readFileSync(join(ROOT, file), 'utf8').split('\n').length }))
      .filter((f) => f.lines > 400);
    expect(long).toEqual([]);
    const top = readdirSync(join(ROOT, 'controller')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(top.length).toBeLessThanOrEqual(4);
  });
});
