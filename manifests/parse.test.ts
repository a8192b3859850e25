import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatManifestError, parseManifestFile, type ManifestError, type ManifestParseResult } from './parse.js';

let root: string;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'glambdar-parse-'));
  await fs.mkdir(path.join(root, 'hello'));
  await fs.writeFile(path.join(root, 'hello', 'index.js'), 'exports.handler = async () => ({ body: "hi" });\n');
  await fs.writeFile(path.join(root, 'hello.zip'), 'not read by the parser');
});

afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function parse(text: string, file = 'hello.yaml'): Promise<ManifestParseResult> {
  return parseManifestFile(text, { file, baseDir: path.join(root, path.dirname(file)), root });
}

async function errorsOf(text: string, file?: string): Promise<ManifestError[]> {
  const result = await parse(text, file);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
}

const doc = (name: string, spec = 'code: ./hello') => `apiVersion: glambdar/v1
kind: Function
metadata:
  name: ${name}
spec:
  ${spec.split('\n').join('\n  ')}
`;

describe('parseManifestFile', () => {
  it('resolves a folder to its absolute path and leaves code out of the spec patch', async () => {
    const result = await parse(doc('hello', 'code: ./hello\nrateLimit: 5\nenv:\n  A: "1"'));
    expect(result).toEqual({
      ok: true,
      functions: [{ name: 'hello', documentIndex: 0, code: { kind: 'folder', path: path.join(root, 'hello') }, patch: { rateLimit: 5, env: { A: '1' } }, adopt: false }],
    });
  });

  it('reads metadata.annotations: "glambdar/adopt": "true" adopts, and annotation values must be strings', async () => {
    const adopting = await parse(doc('hello', 'code: ./hello').replace('  name: hello\n', '  name: hello\n  annotations:\n    glambdar/adopt: "true"\n    team: web\n'));
    expect(adopting.ok && adopting.functions[0]!.adopt).toBe(true);
    const unquoted = await parse(doc('hello', 'code: ./hello').replace('  name: hello\n', '  name: hello\n  annotations:\n    glambdar/adopt: true\n'));
    expect(unquoted).toMatchObject({ ok: false, errors: [{ path: 'metadata.annotations.glambdar/adopt', message: 'annotation values are strings: quote them ("true")' }] });
    const typo = await parse(doc('hello', 'code: ./hello').replace('  name: hello\n', '  name: hello\n  labels: {}\n'));
    expect(typo).toMatchObject({ ok: false, errors: [{ path: 'metadata.labels', message: 'unknown field "labels"; allowed here: name, annotations' }] });
  });

  it('takes schedule, retry and the other async fields as spec fields, and names a bad one', async () => {
    const result = await parse(
      doc('hello', 'code: ./hello\nschedule: "*/2 * * * * *"\ntimezone: Europe/Paris\nconcurrencyPolicy: Forbid\nschedulePayload:\n  kind: daily\nretry:\n  attempts: 5\nasyncConcurrency: 2'),
    );
    expect(result.ok && result.functions[0]!.patch).toEqual({
      schedule: '*/2 * * * * *',
      timezone: 'Europe/Paris',
      concurrencyPolicy: 'Forbid',
      schedulePayload: { kind: 'daily' },
      retry: { attempts: 5 },
      asyncConcurrency: 2,
    });
    const errors = await errorsOf(doc('hello', 'code: ./hello\ntimezone: Mars/Base\nretry:\n  attempts: 0'));
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      ['spec.retry.attempts', 'Too small: expected number to be >=1'],
      ['spec.timezone', 'must be an IANA time zone name, e.g. "Europe/Paris" or "UTC"'],
    ]);
  });

  it('resolves a zip relative to the manifest file, not to the process', async () => {
    await fs.mkdir(path.join(root, 'team'));
    await fs.writeFile(path.join(root, 'team', 'api.zip'), 'zip bytes');
    const result = await parse(doc('api', 'code: api.zip'), 'team/api.yaml');
    expect(result.ok && result.functions[0]?.code).toEqual({ kind: 'zip', path: path.join(root, 'team', 'api.zip') });
  });

  it('reads every document of a multi-document file and skips empty ones', async () => {
    const text = `---\n# nothing here\n---\n${doc('one')}---\n---\n${doc('two', 'code: ./hello.zip\nminWarm: 1')}`;
    const result = await parse(text);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.functions.map((f) => [f.name, f.documentIndex, f.code.kind])).toEqual([
      ['one', 1, 'folder'],
      ['two', 3, 'zip'],
    ]);
    expect(result.functions[1]?.patch).toEqual({ minWarm: 1 });
  });

  it('gives an empty file no functions (it asks for none)', async () => {
    expect(await parse('')).toEqual({ ok: true, functions: [] });
    expect(await parse('# just a comment\n')).toEqual({ ok: true, functions: [] });
  });

  it('names an unknown field by its path and lists the allowed ones', async () => {
    const [error, ...rest] = await errorsOf(doc('hello', 'code: ./hello\nreplicas: 3'));
    expect(rest).toEqual([]);
    expect(error).toMatchObject({ file: 'hello.yaml', documentIndex: 0, path: 'spec.replicas', line: 7 });
    expect(error?.message).toMatch(/^unknown field "replicas"; allowed here: code, rateLimit, .*minWarm/);
    expect(formatManifestError(error!)).toMatch(/^hello\.yaml document 0 \(line 7\): spec\.replicas: unknown field "replicas"/);
  });

  it('reports unknown top-level and metadata fields too', async () => {
    const errors = await errorsOf(doc('hello').replace('metadata:\n', 'status: {}\nmetadata:\n  labels: {}\n'));
    expect(errors.map((e) => e.path).sort()).toEqual(['metadata.labels', 'status']);
  });

  it('explains a function name that is not a DNS label', async () => {
    const [error] = await errorsOf(doc('Hello_World'));
    expect(error).toMatchObject({ path: 'metadata.name', line: 4 });
    expect(error?.message).toMatch(/DNS label/);
  });

  it('names the expected kind and apiVersion', async () => {
    const errors = await errorsOf(doc('hello').replace('kind: Function', 'kind: Deployment').replace('glambdar/v1', 'apps/v1'));
    expect(errors).toEqual([
      expect.objectContaining({ path: 'apiVersion', message: 'must be "glambdar/v1"' }),
      expect.objectContaining({ path: 'kind', message: 'must be "Function"' }),
    ]);
  });

  it('says which required field is missing', async () => {
    const errors = await errorsOf('apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: x\nspec:\n  rateLimit: 1\n');
    expect(errors).toEqual([expect.objectContaining({ path: 'spec.code', message: 'is required' })]);
    const noSpec = await errorsOf('apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: x\n');
    expect(noSpec).toEqual([expect.objectContaining({ path: 'spec', message: 'is required' })]);
  });

  it('checks spec values and the rules between them', async () => {
    const errors = await errorsOf(`${doc('a', 'code: ./hello\nrateLimit: -1\ncpus: lots')}---\n${doc('b', 'code: ./hello\nminWarm: 20\nmaxReplicas: 5')}`);
    expect(errors.map((e) => [e.documentIndex, e.path])).toEqual([
      [0, 'spec.rateLimit'],
      [0, 'spec.cpus'],
      [1, 'spec.minWarm'],
    ]);
    expect(errors[2]?.message).toMatch(/minWarm must not exceed maxReplicas/);
  });

  it('reports a document that is not a mapping', async () => {
    const [error] = await errorsOf('just a string\n');
    expect(error).toMatchObject({ documentIndex: 0, path: '' });
    expect(error?.message).toMatch(/must be a mapping/);
  });

  it('reports invalid YAML with its line', async () => {
    const [error] = await errorsOf(`${doc('ok')}---\nmetadata: [unclosed\n`);
    expect(error).toMatchObject({ documentIndex: 1, path: '', line: 9 });
    expect(error?.message).toMatch(/^invalid YAML: /);
  });

  it('refuses a key given twice', async () => {
    const [error] = await errorsOf(doc('hello', 'code: ./hello\nrateLimit: 1\nrateLimit: 2'));
    expect(error?.message).toMatch(/invalid YAML: Map keys must be unique/);
  });

  it('yields no function at all when one document of the file is invalid', async () => {
    const result = await parse(`${doc('good')}---\n${doc('bad', 'code: ./hello\nrateLimit: "5"')}`);
    expect(result.ok).toBe(false);
    expect(result).not.toHaveProperty('functions');
  });

  it('refuses a function named twice in one file', async () => {
    const errors = await errorsOf(`${doc('twin')}---\n${doc('twin')}`);
    expect(errors).toEqual([
      expect.objectContaining({ documentIndex: 1, path: 'metadata.name', message: 'function "twin" is already defined in document 0 of this file' }),
    ]);
  });

  it('reports code that is missing, not a zip, without index.js, or outside the folder, without host paths', async () => {
    await fs.mkdir(path.join(root, 'empty'));
    await fs.writeFile(path.join(root, 'notes.txt'), 'hi');
    const cases: Array<[string, RegExp]> = [
      ['./nope.zip', /"\.\/nope\.zip" not found/],
      ['./notes.txt', /not a \.zip/],
      ['./empty', /folder "\.\/empty" has no index\.js or index\.mjs/],
      ['../outside', /outside the manifests folder/],
      [path.join(os.tmpdir(), 'x.zip'), /outside the manifests folder/],
    ];
    for (const [code, message] of cases) {
      const [error] = await errorsOf(doc('x', `code: ${code}`));
      expect(error).toMatchObject({ path: 'spec.code', line: 6 });
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain(root);
    }
  });

  it('accepts a folder holding index.mjs', async () => {
    await fs.mkdir(path.join(root, 'esm'));
    await fs.writeFile(path.join(root, 'esm', 'index.mjs'), 'export const handler = async () => ({});\n');
    const result = await parse(doc('esm', 'code: ./esm'));
    expect(result.ok).toBe(true);
  });

  it('refuses a manifest file over the size limit', async () => {
    const [error] = await errorsOf(`${doc('big')}# ${'x'.repeat(1024 * 1024)}\n`);
    expect(error?.message).toMatch(/larger than 1024 KiB/);
  });
});
