import { randomBytes } from 'node:crypto';
import { cp, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { control, eventually, functionContainers, integrationEnabled, invoke, join, makeZip, startRuntime, type TestRuntime } from './harness.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/manifests', import.meta.url));

interface Info {
  name: string;
  createdAt: string;
  generation: number;
  rateLimit: number;
  source: string;
  manifestPath: string | null;
  status: { observedGeneration: number; phase: string };
}

interface ManifestFile {
  path: string;
  state: string;
  functions: string[];
  errors: Array<{ documentIndex: number; path: string; message: string }>;
}

async function info(rt: TestRuntime, name: string): Promise<Info | undefined> {
  const res = await control(rt, `/info/${name}`);
  return res.status === 200 ? ((await res.json()) as Info) : undefined;
}

async function manifests(rt: TestRuntime): Promise<ManifestFile[]> {
  return (await (await control(rt, `/manifests`)).json()) as ManifestFile[];
}

/** Waits for `name` to be Ready at its current generation. */
function ready(rt: TestRuntime, name: string, timeoutMs = 10_000): Promise<Info> {
  return eventually(
    async () => {
      const i = await info(rt, name);
      return i && i.status.phase === 'Ready' && i.status.observedGeneration === i.generation ? i : undefined;
    },
    timeoutMs,
    `${name} Ready`,
  );
}

async function answer(rt: TestRuntime, name: string, body: unknown): Promise<unknown> {
  const res = await invoke(rt.url, name, body);
  if (res.status !== 200) throw new Error(`invoke ${name}: ${res.status} ${await res.text()}`);
  return res.json();
}

const runningIds = async (rt: TestRuntime, name: string) =>
  (await functionContainers(rt, name))
    .filter((c) => c.State === 'running')
    .map((c) => c.Id)
    .sort();

describe.runIf(integrationEnabled)('GitOps manifests folder on a real Docker engine', () => {
  let rt: TestRuntime;
  let dir: string;

  beforeAll(async () => {
    rt = await startRuntime();
    dir = join(rt.dir, 'manifests');
  });
  afterAll(async () => {
    await rt?.destroy();
  });

  it('serves a function within seconds of its manifest and folder being copied in', async () => {
    const started = Date.now();
    await cp(join(EXAMPLES, 'hello'), join(dir, 'hello'), { recursive: true });
    await cp(join(EXAMPLES, 'hello.yaml'), join(dir, 'hello.yaml'));
    const hello = await ready(rt, 'hello', 8_000);
    expect(hello).toMatchObject({ source: 'manifest', manifestPath: 'hello.yaml', rateLimit: 5, generation: 1 });
    expect(await answer(rt, 'hello', { name: 'GitOps' })).toEqual({ message: 'Hello GitOps!', version: 1 });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(await manifests(rt)).toEqual([
      { path: 'hello.yaml', state: 'applied', functions: ['hello'], errors: [], appliedAt: expect.any(String) },
    ]);
  });

  it('refuses API writes to the manifest-owned function with 409 naming the file', async () => {
    const res = await control(rt, `/del/hello`, { method: 'DELETE' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ code: 'OWNED_BY_MANIFEST', error: expect.stringContaining('hello.yaml') });
  });

  it('applies an edited rateLimit live: higher observedGeneration, same containers serving', async () => {
    const before = await ready(rt, 'hello');
    // A stem cell served the first request; the labelled container that replaces it is what keeps serving.
    await eventually(async () => {
      const containers = await functionContainers(rt, 'hello');
      return containers.length > 0 && containers.every((c) => c.Labels['glambdar.function'] === 'hello') ? true : undefined;
    }, 10_000, 'labelled containers only');
    const ids = await runningIds(rt, 'hello');
    expect(ids.length).toBeGreaterThan(0);

    const file = join(dir, 'hello.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('rateLimit: 5', 'rateLimit: 50'));
    const after = await eventually(async () => {
      const i = await info(rt, 'hello');
      return i && i.rateLimit === 50 && i.status.observedGeneration > before.status.observedGeneration ? i : undefined;
    }, 10_000, 'the new rateLimit observed');
    expect(after.generation).toBe(before.generation + 1);
    const res = await invoke(rt.url, 'hello', { name: 'again' });
    expect(res.status).toBe(200);
    expect(res.headers.get('ratelimit-limit')).toBe('50');
    expect(await runningIds(rt, 'hello')).toEqual(ids);
  });

  it('answers with the new code after the code folder is replaced', async () => {
    await writeFile(
      join(dir, 'hello', 'index.js'),
      'exports.handler = async (req) => ({ statusCode: 200, body: { message: `Hi ${(await req.json()).name}`, version: 2 } });\n',
    );
    await eventually(async () => {
      const body = (await answer(rt, 'hello', { name: 'v2' })) as { version: number };
      return body.version === 2 ? body : undefined;
    }, 20_000, 'the new code answering');
    expect(await answer(rt, 'hello', { name: 'v2' })).toEqual({ message: 'Hi v2', version: 2 });
  });

  it('rolls a zip-based function to a new zip written in slowly, never reading it half-written', async () => {
    const zipV1 = await makeZip({ 'index.js': 'exports.handler = async () => ({ statusCode: 200, body: { zip: 1 } });\n' });
    await writeFile(join(dir, 'zipped.zip'), zipV1);
    await writeFile(join(dir, 'zipped.yaml'), 'apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: zipped\nspec:\n  code: ./zipped.zip\n');
    await ready(rt, 'zipped', 8_000);
    expect(await answer(rt, 'zipped', {})).toEqual({ zip: 1 });

    const padding = randomBytes(192 * 1024).toString('base64'); // a bigger archive, so the slow write has several steps
    const zipV2 = await makeZip({ 'index.js': 'exports.handler = async () => ({ statusCode: 200, body: { zip: 2 } });\n', 'pad.txt': padding });
    const handle = await open(join(dir, 'zipped.zip'), 'w');
    const states = new Set<string>();
    const step = Math.ceil(zipV2.length / 8);
    for (let offset = 0; offset < zipV2.length; offset += step) {
      await handle.write(zipV2.subarray(offset, offset + step));
      await new Promise((r) => setTimeout(r, 120));
      for (const m of await manifests(rt)) if (m.path === 'zipped.yaml') states.add(m.state);
    }
    await handle.close();
    await eventually(async () => {
      const body = (await answer(rt, 'zipped', {})) as { zip: number };
      return body.zip === 2 ? body : undefined;
    }, 20_000, 'the new zip answering');
    expect(states.has('invalid')).toBe(false);
    expect((await manifests(rt)).find((m) => m.path === 'zipped.yaml')).toMatchObject({ state: 'applied', errors: [] });
    expect((await info(rt, 'zipped'))?.generation).toBe(2);
    await rm(join(dir, 'zipped.yaml'));
    await eventually(async () => ((await info(rt, 'zipped')) === undefined ? true : undefined), 8_000, 'zipped gone');
  });

  it('lists an invalid manifest with its error and disturbs nothing else', async () => {
    const before = await ready(rt, 'hello');
    await writeFile(
      join(dir, 'broken.yaml'),
      'apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: broken\nspec:\n  code: ./hello\n  replicas: 3\n',
    );
    const listed = await eventually(async () => (await manifests(rt)).find((m) => m.path === 'broken.yaml' && m.state === 'invalid'), 8_000, 'broken.yaml listed');
    expect(listed).toMatchObject({ functions: [], errors: [{ documentIndex: 0, path: 'spec.replicas', message: expect.stringContaining('unknown field "replicas"') }] });
    expect(await info(rt, 'broken')).toBeUndefined();
    expect(await info(rt, 'hello')).toMatchObject({ generation: before.generation, createdAt: before.createdAt });
    expect(await answer(rt, 'hello', { name: 'still' })).toMatchObject({ version: 2 });
    expect((await manifests(rt)).find((m) => m.path === 'hello.yaml')?.state).toBe('applied');
    await rm(join(dir, 'broken.yaml'));
  });

  it('deletes the function and its containers when its manifest is deleted', async () => {
    const ids = (await functionContainers(rt, 'hello')).map((c) => c.Id);
    expect(ids.length).toBeGreaterThan(0);
    await rm(join(dir, 'hello.yaml'));
    await eventually(async () => ((await info(rt, 'hello')) === undefined ? true : undefined), 8_000, 'hello gone from /info');
    await eventually(async () => ((await functionContainers(rt, 'hello', ids)).length === 0 ? true : undefined), 15_000, 'containers gone');
    expect((await invoke(rt.url, 'hello', {})).status).toBe(404);
    expect(await manifests(rt)).toEqual([]);
  });
});

describe.runIf(integrationEnabled)('GitOps manifests across a restart', () => {
  const runtimes: TestRuntime[] = [];
  afterEach(async () => {
    for (const rt of runtimes.splice(0).reverse()) await rt.destroy();
  });

  it('neither deletes nor re-creates any of 20 manifest functions on restart', async () => {
    const first = await startRuntime();
    runtimes.push(first);
    const dir = join(first.dir, 'manifests');
    await cp(join(EXAMPLES, 'hello'), join(dir, 'code'), { recursive: true });
    for (let i = 0; i < 20; i++) {
      await mkdir(join(dir, `team-${i % 4}`), { recursive: true });
      await writeFile(
        join(dir, `team-${i % 4}`, `fn-${i}.yaml`),
        `apiVersion: glambdar/v1\nkind: Function\nmetadata:\n  name: fn-${i}\nspec:\n  code: ../code\n  rateLimit: ${i}\n`,
      );
    }
    const before = await eventually(async () => {
      const all = (await (await control(first, `/info`)).json()) as { functions: Info[] };
      return all.functions.length === 20 && all.functions.every((f) => f.status.phase === 'Ready') ? all.functions : undefined;
    }, 20_000, '20 functions Ready');

    await first.stop();
    const second = await startRuntime({ dir: first.dir });
    runtimes.push(second);
    // startServer resolves after the folder was read and pruned: the state is final at once.
    const after = (await (await control(second, `/info`)).json()) as { functions: Info[] };
    const key = (f: Info) => [f.name, f.createdAt, f.generation, f.manifestPath];
    expect(after.functions.map(key)).toEqual(before.map(key));
    expect((await manifests(second)).every((m) => m.state === 'applied')).toBe(true);
    expect(await answer(second, 'fn-7', { name: 'restart' })).toEqual({ message: 'Hello restart!', version: 1 });
  });
});
