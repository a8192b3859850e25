import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compiledFile } from '../controller/support/compiled-file.js';
import { silentLogger } from '../controller/support/logger.js';
import { FakeSandbox } from '../controller/sandbox/testing/fake-sandbox.js';
import type { BuiltImage, ImageBuilder, ImageBuildRequest } from '../controller/index.js';
import { RuntimeConfigSchema } from '../schemas/index.js';
import { makeZip } from '../test/zip.js';
import { startServer, type GlambdarServer } from './server.js';
import { HEALTH_PATH as EXPORTED_PROBE } from './export/pod.js';
import { HEALTH_PATH as WORKER_PROBE, MAX_HTTP_BODY_BYTES } from '../worker/http-mode.js';
import { MAX_INVOKE_BODY_BYTES } from './invoke-handler.js';

/** Records what it was asked to build; answers as the engine would, labels from the request. */
class RecordingBuilder implements ImageBuilder {
  requests: ImageBuildRequest[] = [];
  codeFiles: string[][] = [];
  async build(request: ImageBuildRequest): Promise<BuiltImage> {
    this.requests.push(request);
    this.codeFiles.push((await readdir(request.codeDir)).sort());
    const labels = { 'glambdar.function': request.functionName, 'glambdar.revision': String(request.revision), 'glambdar.digest': request.codeDigest };
    return { reference: request.reference, id: `sha256:${request.codeDigest.padEnd(64, '0')}`, labels };
  }
}

let dir: string;
let server: GlambdarServer;
let sandbox: FakeSandbox;
let auth: Record<string, string>;
const builder = new RecordingBuilder();

async function deploy(name: string, files: Record<string, string>, fields: Record<string, string> = {}): Promise<void> {
  const form = new FormData();
  form.set('file', new Blob([new Uint8Array(await makeZip(files))]), `${name}.zip`);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`${server.url}/deploy`, { method: 'POST', body: form, headers: auth });
  expect(res.status).toBeLessThan(300);
}

function build(name: string, body?: unknown): Promise<Response> {
  const init: RequestInit = { method: 'POST', headers: { ...auth, 'content-type': 'application/json' } };
  if (body !== undefined) init.body = JSON.stringify(body);
  return fetch(`${server.url}/images/${name}`, init);
}

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, GLAMBDAR_URL: server.url, GLAMBDAR_DIR: dir };
    delete env['GLAMBDAR_TOKEN'];
    execFile(process.execPath, [compiledFile('api/cli.js'), ...args], { env }, (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-images-'));
  sandbox = new FakeSandbox({ drainTimeoutMs: 50 });
  server = await startServer({ config: RuntimeConfigSchema.parse({ dir, port: 0, stemCells: 0 }), sandbox, images: builder, log: silentLogger, watchManifests: false });
  auth = { authorization: `Bearer ${(await readFile(join(dir, 'admin-token'), 'utf8')).trim()}` };
});

beforeEach(() => {
  builder.requests = [];
  builder.codeFiles = [];
});

afterAll(async () => {
  await server.close(500);
  await sandbox.closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('POST /images/:name', () => {
  it('builds the latest revision under the name the export references, with its code, interface, handler and timeout', async () => {
    await deploy('hello', { 'src/app.js': 'exports.handler = async () => "hi";' }, { interface: 'glambdar', handler: 'src/app.handler', timeoutMs: '5000' });
    const res = await build('hello');
    expect(res.status).toBe(201);
    const answer = (await res.json()) as { image: string; revision: number; codeDigest: string; imageId: string; labels: Record<string, string> };
    const info = (await (await fetch(`${server.url}/info/hello`, { headers: auth })).json()) as { revision: number; codeDigest: string };
    expect(answer).toMatchObject({ revision: info.revision, codeDigest: info.codeDigest, image: `glambdar/hello:r${info.revision}-${info.codeDigest.slice(0, 12)}` });
    expect(answer.labels['glambdar.digest']).toBe(info.codeDigest);
    const exported = await (await fetch(`${server.url}/export/hello?format=knative`, { headers: auth })).text();
    expect(exported).toContain(`image: ${answer.image}\n`);
    expect(builder.requests[0]).toMatchObject({ functionName: 'hello', interface: 'glambdar', handler: 'src/app.handler', timeoutMs: 5000 });
    expect(builder.codeFiles[0]).toContain('src');
  });

  it('gives a new revision a new tag, and the same code the same digest', async () => {
    await deploy('rev', { 'index.js': 'exports.handler = async () => 1;' });
    const first = (await (await build('rev')).json()) as { image: string; codeDigest: string };
    await fetch(`${server.url}/config/rev`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ env: { A: '1' } }) });
    const second = (await (await build('rev')).json()) as { image: string; codeDigest: string };
    expect(second.codeDigest).toBe(first.codeDigest);
    expect(second.image).not.toBe(first.image);
    await deploy('rev', { 'index.js': 'exports.handler = async () => 2;' });
    const third = (await (await build('rev')).json()) as { image: string; codeDigest: string };
    expect(third.codeDigest).not.toBe(first.codeDigest);
    expect(new Set([first.image, second.image, third.image]).size).toBe(3);
  });

  it('takes a tag and a registry prefix of the user', async () => {
    await deploy('tagged', { 'index.js': 'exports.handler = async () => 1;' });
    const res = await build('tagged', { imagePrefix: 'ghcr.io/acme', tag: 'v1.2' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { image: string }).image).toBe('ghcr.io/acme/tagged:v1.2');
  });

  it('refuses a bad tag or an unknown field with 400 naming it, and an unknown function with 404, building nothing', async () => {
    await deploy('strict', { 'index.js': 'exports.handler = async () => 1;' });
    const badTag = await build('strict', { tag: '-x' });
    expect(badTag.status).toBe(400);
    expect(((await badTag.json()) as { error: string }).error).toMatch(/^invalid body: tag: must be an image tag/);
    const unknown = await build('strict', { platform: 'arm64' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toContain('platform');
    expect((await build('ghost')).status).toBe(404);
    expect(builder.requests).toEqual([]);
  });

  it('probes, in the exported manifests, the path the worker in the image answers; the image takes the bodies /invoke takes', () => {
    expect(EXPORTED_PROBE).toBe(WORKER_PROBE);
    expect(MAX_HTTP_BODY_BYTES).toBe(MAX_INVOKE_BODY_BYTES);
  });

  it('is what glambdar image calls, flags as --flag value or --flag=value', async () => {
    await deploy('viacli', { 'index.js': 'exports.handler = async () => 1;' });
    const out = await cli('image', 'viacli', '--tag', 'latest', '--image-prefix=registry.local:5000/team');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ image: 'registry.local:5000/team/viacli:latest' });
    const missing = await cli('image');
    expect(missing).toMatchObject({ code: 1, stderr: 'glambdar: image needs a function name\n' });
  });
});
