import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rehearseInvoke, rehearseLoad } from './rehearsal.js';
import { onStrayOutput } from './capture.js';

const savedTmp = process.env['TMPDIR'];
const made: string[] = [];

afterEach(async () => {
  if (savedTmp === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = savedTmp;
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('rehearseLoad', () => {
  it('loads a function of its own through the loader, then removes its folder', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'glambdar-rehearsal-test-'));
    made.push(tmp);
    process.env['TMPDIR'] = tmp;
    await rehearseLoad();
    // Node's module cache holds what the loader required: the rehearsal's entry.
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((file) => file.startsWith(tmp));
    expect(loaded).toHaveLength(1);
    expect(loaded[0]).toMatch(/glambdar-rehearsal-[^/]+\/index\.js$/);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('never throws: without a temporary folder to write in, the real load is only slower', async () => {
    process.env['TMPDIR'] = '/nonexistent/glambdar';
    await expect(rehearseLoad()).resolves.toBeUndefined();
  });
});

describe('rehearseInvoke', () => {
  it('runs the invoke path through to an encoded result, and prints nothing', async () => {
    const printed: string[] = [];
    onStrayOutput((_stream, text) => printed.push(text));
    try {
      await expect(rehearseInvoke()).resolves.toBe(true);
    } finally {
      onStrayOutput(null);
    }
    expect(printed).toEqual([]);
  });
});
