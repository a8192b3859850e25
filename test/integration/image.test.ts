import { execFile, type ExecFileException } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledFile } from '../../controller/support/compiled-file.js';
import { INTERFACE_FUNCTIONS, pathFor } from '../../worker/testing/interface-functions.js';
import { control, deploy, docker, eventually, integrationEnabled, makeZip, startRuntime, type TestRuntime } from './harness.js';

/**
 * `glambdar image` end to end: each interface's function built into an image offline, the image
 * run as Knative or Kubernetes would run it (here with network none, read-only, uid 65534), and
 * its HTTP answers compared with `/invoke`'s for the same requests. Every image and container
 * made here is removed afterwards, even on failure: other runtimes share the engine.
 */

/** What one HTTP request answered, comparable across the two paths. */
interface Seen {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Headers that describe the hop (or the moment), not the answer. */
const HOP = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

function comparable(status: number, headers: Iterable<[string, string]>, body: string): Seen & { requestId: string | null } {
  const out: Record<string, string> = {};
  let requestId: string | null = null;
  for (const [name, value] of headers) {
    if (name === 'x-glambdar-request-id') requestId = value;
    else if (!HOP.has(name)) out[name] = value;
  }
  return { status, headers: out, body, requestId };
}

/** The script `docker exec` runs in a container: one fetch to the worker, printed as JSON. */
const FETCH_SCRIPT = `
const [url, method, headers, body] = JSON.parse(process.argv[1]);
fetch(url, { method, headers, body: body === null ? undefined : body }).then(async (res) => {
  const bytes = Buffer.from(await res.arrayBuffer());
  process.stdout.write(JSON.stringify({ status: res.status, headers: [...res.headers], body: bytes.toString('base64') }));
}, (err) => { process.stderr.write(String(err && err.cause || err)); process.exit(3); });
`;

function dockerCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker', args, { maxBuffer: 16 * 1024 * 1024 }, (err: ExecFileException | null, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** `docker exec <id> node -e FETCH_SCRIPT`: the request as a client in the pod would send it. */
async function fetchInside(id: string, path: string, method: string, headers: Record<string, string>, body: string | null): Promise<Seen & { requestId: string | null }> {
  const out = await dockerCli(['exec', id, 'node', '-e', FETCH_SCRIPT, JSON.stringify([`http://127.0.0.1:8080${path}`, method, headers, body])]);
  if (out.code !== 0) throw new Error(`docker exec fetch failed (${out.code}): ${out.stderr} stdout: ${out.stdout}`);
  const seen = JSON.parse(out.stdout) as { status: number; headers: Array<[string, string]>; body: string };
  return comparable(seen.status, seen.headers, Buffer.from(seen.body, 'base64').toString('utf8'));
}

async function viaInvoke(rt: TestRuntime, name: string, path: string, method: string, headers: Record<string, string>, body: string | null): Promise<Seen & { requestId: string | null }> {
  const res = await fetch(`${rt.url}/invoke/${name}${path}`, { method, headers, ...(body === null ? {} : { body }) });
  return comparable(res.status, res.headers, await res.text());
}

describe.runIf(integrationEnabled)('function images (glambdar image) run outside Glambdar', () => {
  let rt: TestRuntime;
  // Names of this run only: other runtimes build on the same engine.
  const prefix = `glt-img-${randomBytes(4).toString('hex')}`;
  const images = new Set<string>();
  const containers = new Set<string>();

  async function buildImage(name: string, body: Record<string, string> = {}): Promise<{ image: string; imageId: string; revision: number; codeDigest: string; labels: Record<string, string> }> {
    const res = await control(rt, `/images/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imagePrefix: prefix, ...body }) });
    const answer = (await res.json()) as { image: string; imageId: string; revision: number; codeDigest: string; labels: Record<string, string> };
    if (res.status === 201) images.add(answer.image);
    expect(res.status, JSON.stringify(answer)).toBe(201);
    return answer;
  }

  /** `glambdar image NAME --image-prefix P`, the CLI against this runtime. */
  function cliImage(name: string): Promise<{ image: string; imageId: string; revision: number; codeDigest: string; labels: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      const env = { ...process.env, GLAMBDAR_URL: rt.url, GLAMBDAR_TOKEN: rt.token };
      execFile(process.execPath, [compiledFile('api/cli.js'), 'image', name, '--image-prefix', prefix], { env }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`glambdar image failed: ${stderr}${stdout}`));
        const answer = JSON.parse(stdout) as { image: string; imageId: string; revision: number; codeDigest: string; labels: Record<string, string> };
        images.add(answer.image);
        resolve(answer);
      });
    });
  }

  /** Runs an image hardened as Glambdar runs its containers, and waits for its probe. */
  async function run(image: string): Promise<string> {
    const container = await docker.createContainer({
      Image: image,
      Labels: { 'glambdar.test': prefix },
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=16m,mode=1777' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        PidsLimit: 128,
        Memory: 256 * 1024 * 1024,
      },
    });
    containers.add(container.id);
    await container.start();
    await eventually(async () => ((await fetchInside(container.id, '/healthz', 'GET', {}, null)).status === 200 ? true : undefined), 20_000, `${image} to answer /healthz`);
    return container.id;
  }

  beforeAll(async () => {
    rt = await startRuntime();
    for (const fn of INTERFACE_FUNCTIONS) {
      const res = await deploy(rt.url, `img-${fn.interface}.zip`, await makeZip(fn.files), { interface: fn.interface });
      expect(res.status, await res.clone().text()).toBeLessThan(300);
    }
  });

  afterAll(async () => {
    for (const id of containers) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
    for (const image of images) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    await rt?.destroy();
  });

  for (const fn of INTERFACE_FUNCTIONS) {
    it(`builds the ${fn.interface} function offline; its container answers exactly what /invoke answers`, async () => {
      const name = `img-${fn.interface}`;
      const built = await buildImage(name);
      const info = (await (await control(rt, `/info/${name}`)).json()) as { revision: number; codeDigest: string };
      expect(built.image).toBe(`${prefix}/${name}:r${info.revision}-${info.codeDigest.slice(0, 12)}`);
      expect(built.labels).toMatchObject({ 'glambdar.function': name, 'glambdar.revision': String(info.revision), 'glambdar.digest': info.codeDigest });
      const inspected = await docker.getImage(built.image).inspect();
      expect(inspected.Config.User).toBe('65534:65534');
      // The export references the image just built.
      const exported = await (await control(rt, `/export/${name}?format=knative&imagePrefix=${prefix}`)).text();
      expect(exported).toContain(`image: ${built.image}\n`);

      const id = await run(built.image);
      const requests: Array<{ method: string; path: string; headers: Record<string, string>; body: string | null }> = [
        { method: 'GET', path: pathFor(fn.interface, '/a/b', 'x=1&y=two'), headers: {}, body: null },
        { method: 'POST', path: pathFor(fn.interface, '/echo'), headers: { 'content-type': 'application/json' }, body: '{"n":1,"s":"é"}' },
        { method: 'PUT', path: pathFor(fn.interface, '/text'), headers: { 'content-type': 'text/plain' }, body: 'plain words' },
        { method: 'POST', path: pathFor(fn.interface, '/throw'), headers: {}, body: 'x' },
      ];
      for (const request of requests) {
        const expected = await viaInvoke(rt, name, request.path, request.method, request.headers, request.body);
        const seen = await fetchInside(id, request.path, request.method, request.headers, request.body);
        expect({ status: seen.status, headers: seen.headers, body: seen.body }, `${request.method} ${request.path}`).toEqual({
          status: expected.status,
          headers: expected.headers,
          body: expected.body,
        });
        // Both carry a request id on answers of the function, neither on errors of the runtime's.
        expect(seen.requestId === null, 'request id').toBe(expected.requestId === null);
      }
      // One JSON line per request on stdout, what a log collector reads.
      const logs = await dockerCli(['logs', id]);
      const lines = logs.stdout.trim().split('\n').map((line) => JSON.parse(line) as { function: string; status: number; stdout: string });
      expect(lines.filter((line) => line.status === 201).length).toBeGreaterThanOrEqual(3);
      expect(lines.every((line) => line.function === name)).toBe(true);
      expect(lines.some((line) => line.stdout.includes(`invoked ${fn.interface}`))).toBe(true);
    }, 120_000);
  }

  it('drains a request in flight on SIGTERM, then exits 0', async () => {
    const built = await buildImage('img-glambdar');
    const id = await run(built.image);
    // The client runs beside the worker, in a container of its own sharing only the worker's
    // loopback (network none has nothing else): unlike a docker exec, it outlives the worker's exit.
    const peer = `${prefix}-peer`;
    containers.add(peer);
    const args = JSON.stringify(['http://127.0.0.1:8080/slow?ms=1500&marker=/tmp/slow-started', 'GET', {}, null]);
    const inFlight = dockerCli(['run', '--name', peer, '--label', `glambdar.test=${prefix}`, '--network', `container:${id}`, '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--entrypoint', 'node', built.image, '-e', FETCH_SCRIPT, args]);
    await eventually(async () => ((await dockerCli(['exec', id, 'node', '-e', "process.exit(require('fs').existsSync('/tmp/slow-started') ? 0 : 1)"])).code === 0 ? true : undefined), 10_000, 'the slow request to start');
    await docker.getContainer(id).kill({ signal: 'SIGTERM' });
    const client = await inFlight;
    expect(client.code, client.stderr).toBe(0);
    const answer = JSON.parse(client.stdout) as { status: number; body: string };
    expect({ status: answer.status, body: Buffer.from(answer.body, 'base64').toString('utf8') }).toEqual({ status: 200, body: 'slow done' });
    const exit = (await docker.getContainer(id).wait()) as { StatusCode: number };
    expect(exit.StatusCode).toBe(0);
  }, 60_000);

  it('gives the same code the same digest label (and the same image), and a new revision a new tag', async () => {
    const first = await cliImage('img-fetch');
    const again = await buildImage('img-fetch');
    expect(again.image).toBe(first.image);
    expect(again.labels['glambdar.digest']).toBe(first.labels['glambdar.digest']);
    expect(again.imageId).toBe(first.imageId);
    // A spec change: a new revision of the same code.
    const configured = await control(rt, '/config/img-fetch', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ env: { MODE: 'b' } }) });
    expect(configured.status).toBe(200);
    const respecced = await buildImage('img-fetch');
    expect(respecced.revision).toBeGreaterThan(first.revision);
    expect(respecced.image).not.toBe(first.image);
    expect(respecced.labels['glambdar.digest']).toBe(first.labels['glambdar.digest']);
    // New code: a new revision, a new tag and a new digest label.
    const files = { 'index.mjs': 'export default { fetch: () => new Response("v2") };' };
    expect((await deploy(rt.url, 'img-fetch.zip', await makeZip(files), { interface: 'fetch' })).status).toBeLessThan(300);
    const recoded = await buildImage('img-fetch');
    expect(recoded.image).not.toBe(respecced.image);
    expect(recoded.labels['glambdar.digest']).not.toBe(first.labels['glambdar.digest']);
  }, 120_000);
});
