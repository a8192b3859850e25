import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyVersion } from './copy-version.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glambdar-copy-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('copyVersion', () => {
  it('copies every file and folder, nested, with the files’ modes and folders the container can enter', async () => {
    const from = await tempDir();
    const to = await tempDir();
    await writeFile(join(from, 'index.js'), 'exports.handler = async () => 1;\n');
    await mkdir(join(from, 'node_modules', 'dep', 'lib'), { recursive: true });
    await chmod(join(from, 'node_modules'), 0o700);
    await writeFile(join(from, 'node_modules', 'dep', 'lib', 'main.js'), 'module.exports = 2;\n');
    await writeFile(join(from, 'node_modules', 'dep', 'cli.js'), '#!/usr/bin/env node\n', { mode: 0o755 });
    await mkdir(join(from, 'empty'));

    await copyVersion(from, to);

    expect(await readFile(join(to, 'index.js'), 'utf8')).toBe('exports.handler = async () => 1;\n');
    expect(await readFile(join(to, 'node_modules', 'dep', 'lib', 'main.js'), 'utf8')).toBe('module.exports = 2;\n');
    expect((await stat(join(to, 'node_modules', 'dep', 'cli.js'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(to, 'index.js'))).mode & 0o777).toBe((await stat(join(from, 'index.js'))).mode & 0o777);
    expect((await stat(join(to, 'node_modules'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(to, 'empty'))).isDirectory()).toBe(true);
  });

  it('refuses an entry that is neither a file nor a folder, naming it', async () => {
    const from = await tempDir();
    const to = await tempDir();
    await writeFile(join(from, 'index.js'), '');
    await symlink('/etc/passwd', join(from, 'link'));
    await expect(copyVersion(from, to)).rejects.toThrow(/link is neither a file nor a folder/);
  });
});
