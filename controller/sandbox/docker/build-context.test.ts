import { mkdir, mkdtemp, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import type { ImageBuildRequest } from '../../images/function-image.js';
import { buildContext, dockerfile } from './build-context.js';

let dir: string;
const request: ImageBuildRequest = {
  reference: 'glambdar/hello:r3-0123456789ab',
  functionName: 'hello',
  revision: 3,
  codeDigest: '0123456789abcdef0123',
  codeDir: '',
  interface: 'lambda',
  handler: 'src/app.handler',
  timeoutMs: 5000,
  platformEnv: { AWS_LAMBDA_FUNCTION_NAME: 'hello' },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-context-'));
  await mkdir(join(dir, 'code', 'src'), { recursive: true });
  await writeFile(join(dir, 'code', 'src', 'app.js'), 'exports.handler = async () => 1;');
  await writeFile(join(dir, 'code', 'run.sh'), '#!/bin/sh\n');
  await chmod(join(dir, 'code', 'run.sh'), 0o700);
  await writeFile(join(dir, 'main.cjs'), '// worker');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function entries(codeDir: string): Promise<{ bytes: Buffer; list: Array<{ name: string; mode: number; uid: number; mtime: number; body: string }> }> {
  const tar = await buildContext('FROM x\n', join(dir, 'main.cjs'), codeDir);
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from(tar)) chunks.push(Buffer.from(chunk as Uint8Array));
  const bytes = Buffer.concat(chunks);
  const list: Array<{ name: string; mode: number; uid: number; mtime: number; body: string }> = [];
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(Buffer.from(c as Uint8Array)));
      stream.on('end', () => {
        list.push({ name: header.name, mode: header.mode ?? 0, uid: header.uid ?? -1, mtime: header.mtime?.getTime() ?? -1, body: Buffer.concat(parts).toString() });
        next();
      });
    });
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.end(bytes);
  await done;
  return { bytes, list };
}

describe('function image build context', () => {
  it('writes a Dockerfile: code and worker read-only, user 65534, the worker in HTTP mode, labels of the function, revision and code digest', () => {
    const text = dockerfile('glambdar-node:20-r2', request);
    expect(text.split('\n')).toEqual([
      'FROM glambdar-node:20-r2',
      'COPY worker/ /worker/',
      'COPY fn/ /fn/',
      'WORKDIR /fn',
      'USER 65534:65534',
      'ENV NODE_ENV="production" GLAMBDAR_FN_DIR="/fn" PORT="8080" GLAMBDAR_FUNCTION="hello" GLAMBDAR_REVISION="3" GLAMBDAR_TIMEOUT_MS="5000" GLAMBDAR_INTERFACE="lambda" GLAMBDAR_HANDLER="src/app.handler" AWS_LAMBDA_FUNCTION_NAME="hello"',
      'EXPOSE 8080',
      'LABEL glambdar.function="hello" glambdar.revision="3" glambdar.digest="0123456789abcdef0123"',
      'ENTRYPOINT ["/usr/local/bin/node","/worker/main.cjs"]',
      '',
    ]);
  });

  it('packs the same bytes for the same code: sorted, root-owned, at the epoch, modes 0644 and 0755', async () => {
    const first = await entries(join(dir, 'code'));
    const second = await entries(join(dir, 'code'));
    expect(first.bytes.equals(second.bytes)).toBe(true);
    expect(first.list.map((e) => [e.name.replace(/\/$/, ''), e.mode.toString(8), e.uid, e.mtime])).toEqual([
      ['Dockerfile', '644', 0, 0],
      ['worker', '755', 0, 0],
      ['worker/main.cjs', '644', 0, 0],
      ['fn', '755', 0, 0],
      ['fn/run.sh', '755', 0, 0],
      ['fn/src', '755', 0, 0],
      ['fn/src/app.js', '644', 0, 0],
    ]);
    expect(first.list.find((e) => e.name === 'fn/src/app.js')?.body).toBe('exports.handler = async () => 1;');
  });

  it('refuses a symlink in the code rather than follow it, naming it by its path in the code only', async () => {
    const code = join(dir, 'linked');
    await mkdir(code);
    await symlink('/etc/passwd', join(code, 'passwd'));
    await expect(buildContext('FROM x\n', join(dir, 'main.cjs'), code)).rejects.toThrow('the code folder holds passwd, which is not a regular file or folder');
  });

  it('says the code is not installed, without its host path, when the folder is gone', async () => {
    await expect(buildContext('FROM x\n', join(dir, 'main.cjs'), join(dir, 'gone'))).rejects.toThrow(/^the code of this revision is not installed$/);
  });
});
