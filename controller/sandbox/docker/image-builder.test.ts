import type Docker from 'dockerode';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageBuildFailed, SandboxUnavailable } from '../../support/errors.js';
import { silentLogger } from '../../support/logger.js';
import type { ImageBuildRequest } from '../../images/function-image.js';
import { DockerImageBuilder } from './image-builder.js';

let dir: string;
let request: ImageBuildRequest;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-builder-'));
  await mkdir(join(dir, 'worker'));
  await writeFile(join(dir, 'worker', 'main.cjs'), '// worker');
  await mkdir(join(dir, 'code'));
  await writeFile(join(dir, 'code', 'index.js'), 'exports.handler = async () => 1;');
  request = { reference: 'glambdar/hello:r1-0123456789ab', functionName: 'hello', revision: 1, codeDigest: '0123456789abcdef0123', codeDir: join(dir, 'code'), interface: null, handler: null, timeoutMs: 30_000, platformEnv: {} };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An engine that has every image, and whose builds end with `progress` (or whose build call throws `refuse`). */
function engine(progress: unknown[], refuse?: Error): { docker: Docker; built: string[] } {
  const built: string[] = [];
  const stub = {
    ping: async () => 'OK',
    getImage: (name: string) => ({ inspect: async () => ({ Id: `sha256:${name === request.reference ? 'built' : 'base'}`, Config: { Labels: { 'glambdar.digest': request.codeDigest } } }) }),
    buildImage: async (context: Readable, options: { t: string; networkmode: string }) => {
      if (refuse) throw refuse;
      for await (const chunk of context) void chunk;
      built.push(`${options.t} ${options.networkmode}`);
      return Readable.from([]);
    },
    modem: { followProgress: (_stream: unknown, done: (err: Error | null, output: unknown[]) => void) => done(null, progress) },
  };
  return { docker: stub as unknown as Docker, built };
}

describe('DockerImageBuilder', () => {
  it('builds with no network and answers the image id and labels the engine reports', async () => {
    const { docker, built } = engine([{ stream: 'Step 1/9 : FROM glambdar-node' }]);
    const builder = new DockerImageBuilder({ image: 'node:20-slim', workerDir: join(dir, 'worker'), log: silentLogger, docker });
    const image = await builder.build(request);
    expect(built).toEqual(['glambdar/hello:r1-0123456789ab none']);
    expect(image).toEqual({ reference: request.reference, id: 'sha256:built', labels: { 'glambdar.digest': request.codeDigest } });
  });

  it('fails with IMAGE_BUILD_FAILED and the step error when a build step fails', async () => {
    const { docker } = engine([{ stream: 'Step 2/9 : COPY worker/ /worker/' }, { errorDetail: { message: 'COPY failed: no space left' }, error: 'COPY failed: no space left' }]);
    const builder = new DockerImageBuilder({ image: 'node:20-slim', workerDir: join(dir, 'worker'), log: silentLogger, docker });
    const failure = builder.build(request);
    await expect(failure).rejects.toBeInstanceOf(ImageBuildFailed);
    await expect(failure).rejects.toThrow('docker build of glambdar/hello:r1-0123456789ab failed: COPY failed: no space left');
  });

  it('fails with SANDBOX_UNAVAILABLE, without the engine\'s words, when the engine refuses the build', async () => {
    const { docker } = engine([], new Error('connect EACCES /var/run/docker.sock'));
    const builder = new DockerImageBuilder({ image: 'node:20-slim', workerDir: join(dir, 'worker'), log: silentLogger, docker });
    const failure = builder.build(request);
    await expect(failure).rejects.toBeInstanceOf(SandboxUnavailable);
    await expect(failure).rejects.not.toThrow(/docker\.sock/);
  });
});
