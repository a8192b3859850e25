import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { ManifestSource, type ManifestSourceOptions } from './source.js';
import { FakeTarget } from './testing/fake-target.js';

const EXAMPLES = fileURLToPath(new URL('../examples/manifests', import.meta.url));
const HANDLER = 'exports.handler = async () => ({ statusCode: 200, body: "v1" });\n';

let work: string;
let dir: string;
let target: FakeTarget;
const sources: ManifestSource[] = [];

beforeEach(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'glambdar-source-'));
  dir = path.join(work, 'manifests');
  await fs.mkdir(dir);
  target = new FakeTarget(path.join(work, 'functions'));
});

afterEach(async () => {
  for (const source of sources.splice(0)) await source.close();
  target.store.close();
  await fs.rm(work, { recursive: true, force: true });
});

function newSource(options: Partial<ManifestSourceOptions> = {}): ManifestSource {
  const source = new ManifestSource({ dir, target, log: target.log, stabilityMs: 0, debounceMs: 10, ...options });
  sources.push(source);
  return source;
}

const manifest = (name: string, spec = 'code: ./hello') => `apiVersion: glambdar/v1
kind: Function
metadata:
  name: ${name}
spec:
  ${spec.split('\n').join('\n  ')}
`;

async function write(rel: string, text: string | Buffer): Promise<void> {
  await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await fs.writeFile(path.join(dir, rel), text);
}

async function codeFolder(rel: string, handler = HANDLER): Promise<void> {
  await write(path.join(rel, 'index.js'), handler);
}

/** A zip; `rename` swaps same-length placeholder names for hostile ones (yazl refuses them). */
async function zip(rel: string, files: Record<string, string>, rename: Array<[string, string]> = []): Promise<void> {
  const z = new ZipFile();
  for (const [name, content] of Object.entries(files)) z.addBuffer(Buffer.from(content), name);
  z.end();
  const chunks: Buffer[] = [];
  for await (const chunk of z.outputStream) chunks.push(chunk as Buffer);
  let bytes = Buffer.concat(chunks).toString('latin1');
  for (const [from, to] of rename) bytes = bytes.split(from).join(to);
  await write(rel, Buffer.from(bytes, 'latin1'));
}

const names = () => target.list().map((fn) => fn.name);
const stateOf = (source: ManifestSource, rel: string) => source.files().find((f) => f.path === rel);

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('ManifestSource: apply', () => {
  it('applies every function of the example folder with source manifest and the file path relative to the folder', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    const source = newSource();
    await source.resync();
    expect(target.list().map((fn) => [fn.name, fn.source, fn.manifestPath, fn.generation])).toEqual([
      ['greet-en', 'manifest', 'team/greeters.yaml', 1],
      ['greet-fr', 'manifest', 'team/greeters.yaml', 1],
      ['hello', 'manifest', 'hello.yaml', 1],
    ]);
    expect(target.get('hello')?.spec.rateLimit).toBe(5);
    expect(target.get('greet-fr')?.spec).toMatchObject({ maxConcurrency: 4, env: { GREETING: 'Bonjour' } });
    expect(source.files()).toEqual([
      { path: 'hello.yaml', state: 'applied', functions: ['hello'], errors: [], appliedAt: expect.any(String) },
      { path: 'team/greeters.yaml', state: 'applied', functions: ['greet-en', 'greet-fr'], errors: [], appliedAt: expect.any(String) },
    ]);
  });

  it('writes no new generation when the same folder is applied again', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    const source = newSource();
    await source.resync();
    const before = target.list();
    await source.resync();
    await newSource().resync(); // a restart reads the same files
    expect(target.list()).toEqual(before);
  });

  it('gives the same code the same digest and a changed byte a new generation', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    const source = newSource();
    await source.resync();
    // greet-en and greet-fr share one folder: same content, same digest.
    expect(target.get('greet-en')?.codeDigest).toBe(target.get('greet-fr')?.codeDigest);
    const first = target.get('hello')!;

    const handler = path.join(dir, 'hello', 'index.js');
    const original = await fs.readFile(handler, 'utf8');
    await fs.writeFile(handler, original.replace('version: 1', 'version: 2'));
    await source.resync();
    const second = target.get('hello')!;
    expect(second.codeDigest).not.toBe(first.codeDigest);
    expect(second.generation).toBe(2);
    expect(second.createdAt).toBe(first.createdAt);
    expect(target.get('greet-en')?.generation).toBe(1);
  });

  it('bumps the generation for an edited spec field and keeps the code digest', async () => {
    await codeFolder('hello');
    await write('hello.yaml', manifest('hello', 'code: ./hello\nrateLimit: 5'));
    const source = newSource();
    await source.resync();
    const first = target.get('hello')!;
    await write('hello.yaml', manifest('hello', 'code: ./hello\nrateLimit: 7'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ generation: 2, codeDigest: first.codeDigest, spec: { rateLimit: 7 } });
  });

  it('states the whole spec: a field removed from the manifest goes back to its default', async () => {
    await codeFolder('hello');
    await write('hello.yaml', manifest('hello', 'code: ./hello\nrateLimit: 5'));
    const source = newSource();
    await source.resync();
    await write('hello.yaml', manifest('hello'));
    await source.resync();
    expect(target.get('hello')?.spec.rateLimit).toBe(0);
  });

  it('applies a zip as well as a folder', async () => {
    await zip('api.zip', { 'index.js': HANDLER });
    await write('api.yaml', manifest('api', 'code: ./api.zip'));
    const source = newSource();
    await source.resync();
    expect(target.get('api')).toMatchObject({ source: 'manifest', manifestPath: 'api.yaml', generation: 1 });
  });

  it('ignores YAML under hidden folders and node_modules', async () => {
    await write('.git/config.yaml', 'not: a manifest');
    await write('hello/node_modules/dep/.travis.yml', 'language: node_js');
    await codeFolder('hello');
    const source = newSource();
    await source.resync();
    expect(source.files()).toEqual([]);
  });
});

describe('ManifestSource: YAML inside code folders', () => {
  it('reads YAML in a code folder a manifest names as code, not as a manifest, whichever comes first', async () => {
    await codeFolder('hello');
    await write('hello/config.yaml', 'greeting: hi\n');
    await write('hello.yaml', manifest('hello'));
    // Sorted paths put this code folder before the manifest that names it.
    await codeFolder('a-code/greet');
    await write('a-code/greet/openapi.yml', 'openapi: 3.0.0\n');
    await write('z-team/greet.yaml', manifest('greet', 'code: ../a-code/greet'));
    const source = newSource();
    await source.resync();
    expect(source.files().map((f) => [f.path, f.state])).toEqual([
      ['hello.yaml', 'applied'],
      ['z-team/greet.yaml', 'applied'],
    ]);
    expect(names()).toEqual(['greet', 'hello']);
  });

  it('redeploys a function when a YAML file of its code folder changes', async () => {
    await codeFolder('hello');
    await write('hello/config.yaml', 'greeting: hi\n');
    await write('hello.yaml', manifest('hello'));
    const source = newSource();
    await source.start();
    const digest = target.get('hello')!.codeDigest;
    await write('hello/config.yaml', 'greeting: hello\n');
    await eventually(() => target.get('hello')?.codeDigest !== digest, 'the new code');
    expect(target.get('hello')?.generation).toBe(2);
    expect(source.files().map((f) => f.path)).toEqual(['hello.yaml']);
  });

  it('reads the YAML of a folder as manifests again once no manifest names it as code', async () => {
    await codeFolder('hello');
    await write('hello/extra.yaml', manifest('extra', 'code: ../extra'));
    await codeFolder('extra');
    await write('hello.yaml', manifest('hello'));
    const source = newSource();
    await source.start();
    expect(names()).toEqual(['hello']);
    await fs.rm(path.join(dir, 'hello.yaml'));
    await eventually(() => target.get('extra') !== undefined, 'the manifest that was code');
    expect(names()).toEqual(['extra']);
    expect(stateOf(source, 'hello/extra.yaml')?.state).toBe('applied');
  });
});

describe('ManifestSource: prune', () => {
  it('deletes the function of a document removed from its file, and only that one', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    const source = newSource();
    await source.resync();
    const text = await fs.readFile(path.join(dir, 'team/greeters.yaml'), 'utf8');
    await write('team/greeters.yaml', text.split('\n---\n')[0]!);
    await source.resync();
    expect(names()).toEqual(['greet-en', 'hello']);
    expect(target.get('greet-en')?.generation).toBe(1);
    expect(target.calls.filter((c) => c.startsWith('remove'))).toEqual(['remove greet-fr']);
  });

  it('deletes every function of a deleted file', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    const source = newSource();
    await source.resync();
    await fs.rm(path.join(dir, 'team'), { recursive: true });
    await source.resync();
    expect(names()).toEqual(['hello']);
    expect(source.files().map((f) => f.path)).toEqual(['hello.yaml']);
  });

  it('deletes a manifest function whose file vanished while the runtime was stopped', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    await newSource().resync();
    await fs.rm(path.join(dir, 'hello.yaml'));
    await newSource().resync();
    expect(names()).toEqual(['greet-en', 'greet-fr']);
  });

  it('never deletes a function deployed through the API', async () => {
    await codeFolder('hello');
    await target.deployFromApi('from-api', path.join(dir, 'hello'));
    await write('hello.yaml', manifest('hello'));
    const source = newSource();
    await source.resync();
    await fs.rm(path.join(dir, 'hello.yaml'));
    await source.resync();
    expect(target.list().map((fn) => [fn.name, fn.source])).toEqual([['from-api', 'api']]);
  });

  it('decides nothing before the whole folder was read: a restart deletes and re-creates nothing', async () => {
    for (let i = 0; i < 20; i++) {
      await codeFolder(`f${i}`, `exports.handler = async () => ({ body: ${i} });\n`);
      await write(`group-${i % 3}/f${i}.yaml`, manifest(`f${i}`, `code: ../f${i}`));
    }
    await newSource().resync();
    const before = target.list();
    expect(before).toHaveLength(20);
    target.calls.length = 0;
    await newSource().resync();
    expect(target.list()).toEqual(before);
    expect(target.calls.filter((c) => c.startsWith('remove'))).toEqual([]);
  });
});

describe('ManifestSource: ownership', () => {
  it('leaves a function deployed through the API to the API: a manifest naming it is a conflict naming the owner, and removing it deletes nothing', async () => {
    await codeFolder('hello');
    await codeFolder('other', 'exports.handler = async () => ({ body: "manifest code" });\n');
    await target.deployFromApi('hello', path.join(dir, 'hello'));
    const digest = target.get('hello')!.codeDigest;
    await write('hello.yaml', `${manifest('hello', 'code: ./other')}---\n${manifest('second', 'code: ./other')}`);
    const source = newSource();
    await source.resync();
    expect(target.get('hello')).toMatchObject({ source: 'api', manifestPath: null, codeDigest: digest, generation: 1 });
    expect(stateOf(source, 'hello.yaml')).toMatchObject({
      state: 'conflict',
      functions: ['second'],
      errors: [
        {
          documentIndex: 0,
          path: 'metadata.name',
          message: 'function "hello" was deployed through the API; to manage it from this manifest, add metadata.annotations "glambdar/adopt": "true" (or delete it through the API first)',
        },
      ],
    });
    await fs.rm(path.join(dir, 'hello.yaml'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ source: 'api', codeDigest: digest });
    expect(target.get('second')).toBeUndefined();
  });

  it('takes over a function deployed through the API when the manifest adopts it with glambdar/adopt, and says so', async () => {
    await codeFolder('hello');
    await target.deployFromApi('hello', path.join(dir, 'hello'));
    await write('hello.yaml', manifest('hello').replace('  name: hello\n', '  name: hello\n  annotations:\n    glambdar/adopt: "true"\n'));
    await newSource().resync();
    expect(target.get('hello')).toMatchObject({ source: 'manifest', manifestPath: 'hello.yaml', generation: 1 });
    expect(target.lines).toContain('info manifests: function "hello" was deployed through the API; manifest hello.yaml adopts it (glambdar/adopt)');
    await expect(target.deployFromApi('hello', path.join(dir, 'hello'))).rejects.toMatchObject({ code: 'OWNED_BY_MANIFEST' });
  });

  it('applies a function whose name is still being deleted once the deletion is done', async () => {
    await codeFolder('hello');
    await target.deployFromApi('hello', path.join(dir, 'hello'));
    target.store.markDeleting('hello', 2_000);
    await write('hello.yaml', manifest('hello'));
    const source = newSource();
    await source.resync();
    expect(stateOf(source, 'hello.yaml')).toMatchObject({ state: 'invalid', errors: [{ message: expect.stringMatching(/^function "hello" is being deleted/) }] });
    target.store.purge('hello');
    await target.until(() => target.get('hello')?.source === 'manifest');
  });

  it('applies a conflicted file once the API function it names is deleted', async () => {
    await codeFolder('hello');
    await target.deployFromApi('hello', path.join(dir, 'hello'));
    await write('hello.yaml', manifest('hello'));
    const source = newSource({ conflictRecheckMs: 50 });
    await source.resync();
    expect(stateOf(source, 'hello.yaml')?.state).toBe('conflict');
    await target.remove('hello', 'api');
    await target.until(() => target.get('hello')?.source === 'manifest');
    await source.idle();
    expect(stateOf(source, 'hello.yaml')).toMatchObject({ state: 'applied', functions: ['hello'] });
  });

  it('leaves a function to the first file naming it and reports the second as a conflict naming the owner', async () => {
    await codeFolder('hello');
    await write('a.yaml', manifest('hello', 'code: ./hello\nrateLimit: 1'));
    await write('b.yaml', `${manifest('hello', 'code: ./hello\nrateLimit: 2')}---\n${manifest('other')}`);
    const source = newSource();
    await source.resync();
    expect(target.get('hello')).toMatchObject({ manifestPath: 'a.yaml', spec: { rateLimit: 1 } });
    expect(target.get('other')).toMatchObject({ manifestPath: 'b.yaml' });
    expect(stateOf(source, 'b.yaml')).toEqual({
      path: 'b.yaml',
      state: 'conflict',
      functions: ['other'],
      errors: [{ documentIndex: 0, path: 'metadata.name', message: expect.stringContaining('already managed by manifest a.yaml') }],
      appliedAt: expect.any(String),
    });
    expect(stateOf(source, 'a.yaml')?.state).toBe('applied');
  });

  it('keeps the owner across a restart even when the other file is read first', async () => {
    await codeFolder('hello');
    await write('z.yaml', manifest('hello', 'code: ./hello\nrateLimit: 1'));
    await newSource().resync();
    await write('a.yaml', manifest('hello', 'code: ./hello\nrateLimit: 2'));
    const restarted = newSource();
    await restarted.resync();
    expect(target.get('hello')).toMatchObject({ manifestPath: 'z.yaml', generation: 1 });
    expect(stateOf(restarted, 'a.yaml')?.state).toBe('conflict');
  });

  it('moves a function to the other file when its owner file is deleted, without a new generation', async () => {
    await codeFolder('hello');
    await write('a.yaml', manifest('hello'));
    await write('b.yaml', manifest('hello'));
    const source = newSource();
    await source.resync();
    const before = target.get('hello')!;
    await fs.rm(path.join(dir, 'a.yaml'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ manifestPath: 'b.yaml', generation: before.generation, createdAt: before.createdAt });
    expect(target.calls).not.toContain('remove hello');
    expect(stateOf(source, 'b.yaml')).toMatchObject({ state: 'applied', functions: ['hello'], errors: [] });
  });

  it('moves a function to the file it was moved into (a rename) without deleting it', async () => {
    await codeFolder('hello');
    await write('old.yaml', manifest('hello'));
    const source = newSource();
    await source.resync();
    await fs.rename(path.join(dir, 'old.yaml'), path.join(dir, 'new.yaml'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ manifestPath: 'new.yaml', generation: 1 });
    expect(target.calls).not.toContain('remove hello');
  });
});

describe('ManifestSource: bad manifests', () => {
  it('keeps the last good state of a file that became invalid and lists its errors', async () => {
    await codeFolder('hello');
    await write('hello.yaml', manifest('hello', 'code: ./hello\nrateLimit: 5'));
    const source = newSource();
    await source.resync();
    await write('hello.yaml', manifest('hello', 'code: ./hello\nrateLimit: 9\nreplicas: 3'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ generation: 1, spec: { rateLimit: 5 } });
    const state = stateOf(source, 'hello.yaml')!;
    expect(state).toMatchObject({ state: 'invalid', functions: ['hello'], errors: [{ documentIndex: 0, path: 'spec.replicas', line: 8 }] });
    expect(state.errors[0]?.message).toMatch(/unknown field "replicas"/);
    expect(target.lines.some((l) => l.startsWith('warn manifests: hello.yaml is invalid') && l.includes('spec.replicas'))).toBe(true);

    await write('hello.yaml', manifest('hello', 'code: ./hello\nrateLimit: 9'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ generation: 2, spec: { rateLimit: 9 } });
    expect(stateOf(source, 'hello.yaml')).toMatchObject({ state: 'applied', errors: [] });
  });

  it('reports every function of a file that became invalid with the file\'s first error, and again once it applies', async () => {
    await codeFolder('hello');
    await write('team.yaml', `${manifest('one')}---\n${manifest('two')}`);
    const source = newSource();
    await source.resync();
    expect(Object.fromEntries(target.sourceReports)).toEqual({ one: null, two: null });
    await write('team.yaml', `${manifest('one', 'code: ./hello\nrateLimit: -1')}---\n${manifest('two', 'code: ./hello\nreplicas: 2')}`);
    await source.resync();
    const problem = target.sourceReports.get('one');
    expect(problem).toMatch(/^team\.yaml document 0 \(line \d+\): spec\.rateLimit: .* \(and 1 more\)$/);
    expect(target.sourceReports.get('two')).toBe(problem);
    await write('team.yaml', `${manifest('one')}---\n${manifest('two')}`);
    await source.resync();
    expect(Object.fromEntries(target.sourceReports)).toEqual({ one: null, two: null });
  });

  it('does not delete the functions of a file that is invalid from the start', async () => {
    await codeFolder('hello');
    await write('hello.yaml', manifest('hello'));
    await newSource().resync();
    await write('hello.yaml', 'apiVersion: glambdar/v1\nkind: [broken\n');
    const restarted = newSource();
    await restarted.resync();
    expect(names()).toEqual(['hello']);
    expect(stateOf(restarted, 'hello.yaml')).toMatchObject({ state: 'invalid', functions: ['hello'] });
  });

  it('does not delete a function whose document became invalid', async () => {
    await fs.cp(EXAMPLES, dir, { recursive: true });
    const source = newSource();
    await source.resync();
    const file = path.join(dir, 'team/greeters.yaml');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('name: greet-fr', 'name: Greet_FR'));
    await source.resync();
    expect(names()).toEqual(['greet-en', 'greet-fr', 'hello']);
    expect(stateOf(source, 'team/greeters.yaml')?.errors).toEqual([expect.objectContaining({ documentIndex: 1, path: 'metadata.name' })]);
  });

  it('reports a missing code path and applies nothing of that file', async () => {
    await codeFolder('hello');
    await write('pair.yaml', `${manifest('one')}---\n${manifest('two', 'code: ./two.zip')}`);
    const source = newSource();
    await source.resync();
    expect(names()).toEqual([]);
    expect(stateOf(source, 'pair.yaml')).toMatchObject({
      state: 'invalid',
      functions: [],
      errors: [{ documentIndex: 1, path: 'spec.code', message: '"./two.zip" not found (relative to the manifest\'s folder)' }],
    });
  });

  it('applies none of the functions of a file when one of its zips is unsafe', async () => {
    await codeFolder('hello');
    await zip('evil.zip', { 'index.js': HANDLER, 'xx/evil.js': 'boom' }, [['xx/evil.js', '../evil.js']]);
    await write('pair.yaml', `${manifest('good')}---\n${manifest('evil', 'code: ./evil.zip')}`);
    const source = newSource();
    await source.resync();
    expect(names()).toEqual([]);
    expect(target.calls).toEqual([]);
    const state = stateOf(source, 'pair.yaml')!;
    expect(state).toMatchObject({ state: 'invalid', errors: [{ documentIndex: 1, path: 'spec.code' }] });
    expect(state.errors[0]?.message).toMatch(/escapes the archive folder/);
  });

  it('keeps the last good code running when a zip is replaced by an unsafe one', async () => {
    await zip('api.zip', { 'index.js': HANDLER });
    await write('api.yaml', manifest('api', 'code: ./api.zip'));
    const source = newSource();
    await source.resync();
    const good = target.get('api')!;
    await zip('api.zip', { 'index.js': HANDLER, 'xx/evil.js': 'boom' }, [['xx/evil.js', '../evil.js']]);
    await source.resync();
    expect(target.get('api')).toEqual(good);
    expect(stateOf(source, 'api.yaml')).toMatchObject({ state: 'invalid', functions: ['api'], errors: [{ path: 'spec.code' }] });
  });

  it('turns an unexpected deploy failure into an error of the file without a host path', async () => {
    await codeFolder('hello');
    await write('hello.yaml', manifest('hello'));
    target.failDeploy = () => Object.assign(new Error(`EACCES: permission denied, open '${dir}/x'`), { code: 'EACCES' });
    const source = newSource();
    await source.resync();
    const state = stateOf(source, 'hello.yaml')!;
    expect(state.state).toBe('invalid');
    expect(state.errors[0]?.message).toBe("could not read or install the code (EACCES); see the runtime's log");
  });
});

describe('ManifestSource: traffic', () => {
  it('applies traffic as a spec field like any other, and refuses a revision that is not kept, keeping the last good state', async () => {
    await codeFolder('hello');
    await write('hello.yaml', manifest('hello'));
    const source = newSource();
    await source.resync();
    await codeFolder('hello', HANDLER.replace('v1', 'v2'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ generation: 2, revision: 2 });

    const split = 'code: ./hello\ntraffic:\n  - revision: 1\n    percent: 90\n    tag: stable\n  - latestRevision: true\n    percent: 10';
    await write('hello.yaml', manifest('hello', split));
    await source.resync();
    expect(stateOf(source, 'hello.yaml')).toMatchObject({ state: 'applied', errors: [] });
    expect(target.get('hello')).toMatchObject({ generation: 3, revision: 2 });
    expect(target.get('hello')?.spec.traffic).toEqual([
      { revision: 1, percent: 90, tag: 'stable' },
      { latestRevision: true, percent: 10 },
    ]);

    await write('hello.yaml', manifest('hello', split.replace('revision: 1', 'revision: 8')));
    await source.resync();
    const state = stateOf(source, 'hello.yaml')!;
    expect(state.state).toBe('invalid');
    expect(state.errors[0]?.message).toMatch(/traffic\.0\.revision: revision 8 of function "hello" is not kept \(kept: 1, 2\)/);
    expect(target.get('hello')).toMatchObject({ generation: 3 });

    // Dropping the field from the manifest drops the split.
    await write('hello.yaml', manifest('hello'));
    await source.resync();
    expect(target.get('hello')).toMatchObject({ generation: 4 });
    expect(target.get('hello')?.spec.traffic).toBeUndefined();
  });
});

describe('ManifestSource: watching', () => {
  it('applies a new manifest, a code change and a deletion while it watches, however slow each write is', async () => {
    // Each write takes 2 s, as on a machine under CPU load: the test waits on the writes
    // themselves, never on a deadline of its own (the three first deploys alone take 6 s, past a 5 s poll).
    target.delayMs = 2000;
    const source = newSource();
    await source.start();
    await fs.cp(EXAMPLES, dir, { recursive: true });
    await target.until(() => names().length === 3);
    const digest = target.get('hello')!.codeDigest;

    await fs.writeFile(path.join(dir, 'hello', 'index.js'), 'exports.handler = async () => ({ body: "v2" });\n');
    await target.until(() => target.get('hello')?.codeDigest !== digest);
    expect(target.get('hello')?.generation).toBe(2);

    await fs.rm(path.join(dir, 'hello.yaml'));
    await target.until(() => target.get('hello') === undefined);
    expect(names()).toEqual(['greet-en', 'greet-fr']);
  }, 60_000);

  it('re-reads an invalid manifest when the code it names appears', async () => {
    const source = newSource();
    await source.start();
    await write('late.yaml', manifest('late', 'code: ./late'));
    await eventually(() => stateOf(source, 'late.yaml')?.state === 'invalid', 'the missing code error');
    await codeFolder('late');
    await eventually(() => target.get('late') !== undefined, 'the function');
    expect(stateOf(source, 'late.yaml')).toMatchObject({ state: 'applied', errors: [] });
  });

  it('waits for code still being written: the file is pending until it has settled', async () => {
    await zip('slow.zip', { 'index.js': HANDLER });
    await write('slow.yaml', manifest('slow', 'code: ./slow.zip'));
    const source = newSource({ stabilityMs: 400 });
    await source.resync();
    expect(stateOf(source, 'slow.yaml')?.state).toBe('pending');
    expect(names()).toEqual([]);
    await eventually(() => stateOf(source, 'slow.yaml')?.state === 'applied', 'the settled file');
    expect(target.get('slow')?.generation).toBe(1);
  });

  it('moves a function to its file\'s new name while it watches, deleting nothing, though the new name settles later', async () => {
    await codeFolder('hello');
    await write('old.yaml', manifest('hello'));
    const source = newSource({ stabilityMs: 300 });
    await source.start();
    await eventually(() => target.get('hello') !== undefined, 'the first apply');
    expect(target.get('hello')).toMatchObject({ manifestPath: 'old.yaml', generation: 1 });
    await fs.rename(path.join(dir, 'old.yaml'), path.join(dir, 'new.yaml'));
    await eventually(() => target.get('hello')?.manifestPath === 'new.yaml', 'the move to new.yaml');
    await source.idle();
    expect(target.get('hello')).toMatchObject({ generation: 1 });
    expect(target.calls).not.toContain('remove hello');
    expect(source.files().map((f) => [f.path, f.state])).toEqual([['new.yaml', 'applied']]);
  });

  it('keeps a function while the file that takes it over is still being written (copy, then delete the old one)', async () => {
    await codeFolder('hello');
    await write('old.yaml', manifest('hello'));
    const source = newSource({ stabilityMs: 300 });
    await source.start();
    await eventually(() => target.get('hello') !== undefined, 'the first apply');
    await write('new.yaml', manifest('hello'));
    await fs.rm(path.join(dir, 'old.yaml'));
    await eventually(() => target.get('hello')?.manifestPath === 'new.yaml', 'the move to new.yaml');
    await source.idle();
    expect(target.calls).not.toContain('remove hello');
  });

  it('applies nothing after close', async () => {
    const source = newSource();
    await source.start();
    await source.close();
    await fs.cp(EXAMPLES, dir, { recursive: true });
    await new Promise((r) => setTimeout(r, 200));
    expect(names()).toEqual([]);
  });
});
