import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { installArchive, installFolder } from './install.js';
import { DEFAULT_ARCHIVE_LIMITS } from './rules.js';
import { pruneCode } from './versions.js';
import { InvalidArchive, InvalidName } from '../support/errors.js';

interface FixtureEntry {
  name: string;
  data?: string | Buffer;
  /** Full unix mode including the type bits, e.g. 0o100644 or 0o120777. */
  mode?: number;
  dir?: boolean;
  /** Stored uncompressed when false (yazl deflates by default). */
  compress?: boolean;
  mtime?: Date;
}

const HANDLER = 'exports.handler = async () => ({ statusCode: 200, body: "hi" });\n';

let work: string;
let functionsDir: string;

beforeEach(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'glambdar-code-'));
  functionsDir = path.join(work, 'functions');
});

afterEach(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

/**
 * Builds a zip with yazl. yazl refuses unsafe names, so `rename` swaps placeholder names for
 * the hostile ones afterwards, byte for byte (same length) in the local and central headers.
 */
async function makeZip(file: string, entries: FixtureEntry[], rename: Array<[string, string]> = []): Promise<string> {
  const zip = new ZipFile();
  for (const e of entries) {
    if (e.dir) {
      zip.addEmptyDirectory(e.name, e.mode === undefined ? {} : { mode: e.mode });
    } else {
      const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.from(HANDLER));
      zip.addBuffer(data, e.name, {
        ...(e.mode === undefined ? {} : { mode: e.mode }),
        ...(e.compress === undefined ? {} : { compress: e.compress }),
        ...(e.mtime === undefined ? {} : { mtime: e.mtime }),
      });
    }
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  let buf: Buffer = Buffer.concat(chunks);
  for (const [from, to] of rename) {
    expect(Buffer.byteLength(from)).toBe(Buffer.byteLength(to));
    buf = replaceAll(buf, Buffer.from(from), Buffer.from(to));
  }
  const full = path.join(work, file);
  await fs.writeFile(full, buf);
  return full;
}

function replaceAll(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  const out = Buffer.from(buf);
  let at = out.indexOf(from);
  expect(at).toBeGreaterThanOrEqual(0);
  while (at !== -1) {
    to.copy(out, at);
    at = out.indexOf(from, at + from.length);
  }
  return out;
}

/** Rewrites the uncompressed size an entry declares in the central directory. */
async function lieAboutSize(zipPath: string, entryName: string, declared: number): Promise<void> {
  const buf = await fs.readFile(zipPath);
  let patched = false;
  for (let i = buf.indexOf(0x02014b50 & 0xff); i !== -1 && i < buf.length - 46; i = buf.indexOf(0x50, i + 1)) {
    if (buf.readUInt32LE(i) !== 0x02014b50) continue;
    const nameLength = buf.readUInt16LE(i + 28);
    if (buf.toString('utf8', i + 46, i + 46 + nameLength) === entryName) {
      buf.writeUInt32LE(declared, i + 24);
      patched = true;
    }
  }
  expect(patched).toBe(true);
  await fs.writeFile(zipPath, buf);
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(e.isDirectory() ? `${r}/` : r);
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** Nothing of a refused install may remain: no temp folder, no function folder. */
async function expectNothingInstalled(name: string): Promise<void> {
  const left = await fs.readdir(functionsDir).catch(() => []);
  expect(left.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  expect(left).not.toContain(name);
}

async function refusal(p: Promise<unknown>): Promise<InvalidArchive> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidArchive);
  const ia = err as InvalidArchive;
  expect(ia.code).toBe('INVALID_ARCHIVE');
  expect(ia.message).not.toContain(work);
  return ia;
}

describe('installArchive', () => {
  it('installs a zip with index.js at its root under a digest of its contents', async () => {
    const zip = await makeZip('hello.zip', [
      { name: 'index.js' },
      { name: 'lib/', dir: true, mode: 0o040700 },
      { name: 'lib/util.js', data: 'module.exports = 1;\n', mode: 0o100600 },
    ]);

    const first = await installArchive(zip, functionsDir, 'hello');
    expect(first.created).toBe(true);
    expect(first.digest).toMatch(/^[0-9a-f]{20}$/);
    expect(first.codeDir).toBe(path.join(functionsDir, 'hello', first.digest));
    expect(await listTree(first.codeDir)).toEqual(['index.js', 'lib/', 'lib/util.js']);
    expect(await fs.readFile(path.join(first.codeDir, 'index.js'), 'utf8')).toBe(HANDLER);
    await expectNothingInstalledTempOnly();

    const second = await installArchive(zip, functionsDir, 'hello');
    expect(second).toEqual({ ...first, created: false });
    await expectNothingInstalledTempOnly();
  });

  it('gives the same files zipped again (other times, order, compression, top folder) the same version', async () => {
    const files = { 'index.js': HANDLER, 'lib/util.js': 'module.exports = 1;\n' };
    const first = await installArchive(
      await makeZip('a.zip', [
        { name: 'index.js', data: files['index.js'], mtime: new Date('2026-01-01T00:00:00Z') },
        { name: 'lib/util.js', data: files['lib/util.js'], mtime: new Date('2026-01-01T00:00:00Z') },
      ]),
      functionsDir,
      'same',
    );
    const rezipped = await makeZip('b.zip', [
      { name: 'pkg/', dir: true },
      { name: 'pkg/lib/util.js', data: files['lib/util.js'], compress: false, mtime: new Date('2026-06-30T12:00:00Z') },
      { name: 'pkg/index.js', data: files['index.js'], compress: false, mtime: new Date('2026-06-30T12:00:00Z') },
    ]);
    expect(await fs.readFile(rezipped)).not.toEqual(await fs.readFile(path.join(work, 'a.zip')));

    expect(await installArchive(rezipped, functionsDir, 'same')).toEqual({ ...first, created: false });
    expect(await fs.readdir(path.join(functionsDir, 'same'))).toEqual([first.digest]);
    await expectNothingInstalledTempOnly();

    const edited = await installArchive(
      await makeZip('c.zip', [{ name: 'index.js', data: files['index.js'] }, { name: 'lib/util.js', data: 'module.exports = 2;\n' }]),
      functionsDir,
      'same',
    );
    expect(edited.created).toBe(true);
    expect(edited.digest).not.toBe(first.digest);
  });

  it('gives a zip and a folder holding the same files the same version', async () => {
    const src = path.join(work, 'folder-src');
    await fs.mkdir(path.join(src, 'lib'), { recursive: true });
    await fs.writeFile(path.join(src, 'index.js'), HANDLER);
    await fs.writeFile(path.join(src, 'lib/util.js'), 'module.exports = 1;\n');
    const fromFolder = await installFolder(src, functionsDir, 'both');
    const zip = await makeZip('both.zip', [{ name: 'index.js' }, { name: 'lib/util.js', data: 'module.exports = 1;\n' }]);
    expect(await installArchive(zip, functionsDir, 'both')).toEqual({ ...fromFolder, created: false });
  });

  it('counts the executable bit as part of the version, since the installed copy keeps it', async () => {
    const plain = await installArchive(
      await makeZip('plain.zip', [{ name: 'index.js' }, { name: 'tool', data: '#!/bin/sh\n', mode: 0o100644 }]),
      functionsDir,
      'bits',
    );
    const executable = await installArchive(
      await makeZip('exec.zip', [{ name: 'index.js' }, { name: 'tool', data: '#!/bin/sh\n', mode: 0o100755 }]),
      functionsDir,
      'bits',
    );
    expect(executable.created).toBe(true);
    expect(executable.digest).not.toBe(plain.digest);
    expect((await fs.stat(path.join(executable.codeDir, 'tool'))).mode & 0o777).toBe(0o755);
    expect((await fs.stat(path.join(plain.codeDir, 'tool'))).mode & 0o777).toBe(0o644);
  });

  it('makes the code readable by other users: files 0644, folders 0755, whatever the archive says', async () => {
    const zip = await makeZip('perm.zip', [
      { name: 'index.js', mode: 0o100600 },
      { name: 'bin/', dir: true, mode: 0o040700 },
      { name: 'bin/tool', data: '#!/bin/sh\n', mode: 0o100700 },
      { name: 'deep/er/file.txt', data: 'x', mode: 0o100000 },
    ]);
    const { codeDir } = await installArchive(zip, functionsDir, 'perm');
    const mode = async (rel: string) => (await fs.stat(path.join(codeDir, rel))).mode & 0o7777;
    expect(await mode('.')).toBe(0o755);
    expect(await mode('index.js')).toBe(0o644);
    expect(await mode('bin')).toBe(0o755);
    expect(await mode('bin/tool')).toBe(0o755);
    expect(await mode('deep')).toBe(0o755);
    expect(await mode('deep/er/file.txt')).toBe(0o644);
  });

  it('uses a single top-level folder holding index.js as the code root, ignoring __MACOSX', async () => {
    const zip = await makeZip('myfunc.zip', [
      { name: 'myfunc/', dir: true },
      { name: 'myfunc/index.mjs', data: 'export const handler = async () => ({ body: "ok" });\n' },
      { name: 'myfunc/lib/a.js', data: 'a' },
      { name: '__MACOSX/myfunc/._index.mjs', data: 'resource fork' },
    ]);
    const { codeDir, created } = await installArchive(zip, functionsDir, 'myfunc');
    expect(created).toBe(true);
    expect(await listTree(codeDir)).toEqual(['index.mjs', 'lib/', 'lib/a.js']);
    await expectNothingInstalledTempOnly();
  });

  it.each([
    ['../evil.js', 'zz/evil.js'],
    ['a/../../evil.js', 'a/zz/zz/evil.js'],
    ['..\\evil.js', 'zzzevil.js'],
  ])('refuses the zip-slip entry %s and writes nothing outside', async (hostile, placeholder) => {
    const zip = await makeZip('slip.zip', [{ name: 'index.js' }, { name: placeholder, data: 'pwned' }], [
      [placeholder, hostile],
    ]);
    const err = await refusal(installArchive(zip, functionsDir, 'slip'));
    expect(err.message).toMatch(/escapes the archive folder/);
    expect(err.message).toContain('evil.js');
    for (const where of [work, functionsDir, path.dirname(work)]) {
      await expect(fs.access(path.join(where, 'evil.js'))).rejects.toThrow();
    }
    await expectNothingInstalled('slip');
  });

  it.each([
    ['/tmp/evil.js', 'xtmp/evil.js'],
    ['C:/evil.js', 'Cx/evil.js'],
  ])('refuses the absolute path entry %s', async (hostile, placeholder) => {
    const zip = await makeZip('abs.zip', [{ name: 'index.js' }, { name: placeholder, data: 'pwned' }], [
      [placeholder, hostile],
    ]);
    const err = await refusal(installArchive(zip, functionsDir, 'abs'));
    expect(err.message).toMatch(/absolute path/);
    expect(err.message).toContain(hostile);
    await expectNothingInstalled('abs');
  });

  it('refuses a symlink entry', async () => {
    const zip = await makeZip('link.zip', [
      { name: 'index.js' },
      { name: 'passwd', data: '/etc/passwd', mode: 0o120777 },
    ]);
    const err = await refusal(installArchive(zip, functionsDir, 'link'));
    expect(err.message).toBe('archive entry "passwd" is a symbolic link; links are not allowed');
    await expectNothingInstalled('link');
  });

  it('refuses entries of other non-regular types (a fifo)', async () => {
    const zip = await makeZip('fifo.zip', [{ name: 'index.js' }, { name: 'pipe', data: '', mode: 0o010644 }]);
    const err = await refusal(installArchive(zip, functionsDir, 'fifo'));
    expect(err.message).toMatch(/"pipe" is not a regular file or folder/);
  });

  it('refuses an archive whose entries unpack to more than maxUnpackedBytes', async () => {
    const zip = await makeZip('bomb.zip', [
      { name: 'index.js' },
      { name: 'a.bin', data: Buffer.alloc(1024 * 1024) },
      { name: 'b.bin', data: Buffer.alloc(1024 * 1024) },
    ]);
    expect((await fs.stat(zip)).size).toBeLessThan(64 * 1024);
    const limits = { ...DEFAULT_ARCHIVE_LIMITS, maxUnpackedBytes: 1024 * 1024 };
    const err = await refusal(installArchive(zip, functionsDir, 'bomb', limits));
    expect(err.message).toBe('archive unpacks to more than 1 MiB (limit reached at entry "a.bin")');
    await expectNothingInstalled('bomb');
  });

  // yauzl 2 swallows its own size errors on modern Node (the extraction used to hang forever).
  it.each([
    ['more', 2 * 1024 * 1024, 1000],
    ['less', 2 * 1024, 100_000],
  ])('refuses an entry that inflates to %s than the size it declares, promptly', async (_, real, declared) => {
    const zip = await makeZip('liar.zip', [{ name: 'index.js' }, { name: 'a.bin', data: Buffer.alloc(real) }]);
    await lieAboutSize(zip, 'a.bin', declared);
    const limits = { ...DEFAULT_ARCHIVE_LIMITS, maxUnpackedBytes: 1024 * 1024 };
    const err = await refusal(installArchive(zip, functionsDir, 'liar', limits));
    expect(err.message).toBe('archive entry "a.bin" does not unpack to the size it declares');
    await expectNothingInstalled('liar');
  }, 5_000);

  it('refuses an entry whose compressed data is damaged', async () => {
    const zip = await makeZip('broken.zip', [{ name: 'index.js' }, { name: 'a.txt', data: 'hello world '.repeat(1000) }]);
    const buf = await fs.readFile(zip);
    const at = buf.indexOf('a.txt') + 10; // inside the deflate data after the local header
    for (let i = at; i < at + 30; i++) buf[i] = buf[i]! ^ 0xff;
    await fs.writeFile(zip, buf);
    const err = await refusal(installArchive(zip, functionsDir, 'broken'));
    expect(err.message).toMatch(/^upload is not a valid zip archive: /);
    await expectNothingInstalled('broken');
  }, 5_000);

  it('refuses an archive with more than maxEntries entries', async () => {
    const entries: FixtureEntry[] = [{ name: 'index.js' }];
    for (let i = 0; i < 10; i++) entries.push({ name: `f${i}.txt`, data: '' });
    const zip = await makeZip('many.zip', entries);
    const limits = { ...DEFAULT_ARCHIVE_LIMITS, maxEntries: 10 };
    const err = await refusal(installArchive(zip, functionsDir, 'many', limits));
    expect(err.message).toBe('archive has 11 entries; at most 10 are allowed');
    await expectNothingInstalled('many');
    // exactly at the limit is fine
    const ok = await makeZip('ten.zip', entries.slice(0, 10));
    expect((await installArchive(ok, functionsDir, 'many', limits)).created).toBe(true);
  });

  it('refuses an archive without an entry file at its root or in a single top-level folder, naming the accepted ones and what it found', async () => {
    const cases: Array<[FixtureEntry[], string]> = [
      [[{ name: 'handler.js' }], '"handler.js"'],
      [[{ name: 'main.py' }, { name: 'package.json', data: '{}' }], '"main.py", "package.json"'],
      [[{ name: 'a/index.js' }, { name: 'b/index.js' }], 'nothing'],
      [[{ name: 'a/index.js' }, { name: 'README.md', data: '' }], '"README.md"'],
      [[{ name: 'a/b/index.js' }], 'nothing'],
      [[{ name: 'index.js/', dir: true }], 'nothing'],
    ];
    for (const [i, [entries, found]] of cases.entries()) {
      const zip = await makeZip(`none${i}.zip`, entries);
      const err = await refusal(installArchive(zip, functionsDir, 'none'));
      expect(err.message).toBe(`archive has no index.js (nor index.mjs, index.cjs, index.ts, index.mts, index.cts) at its root or in a single top-level folder (found: ${found})`);
    }
    await expectNothingInstalled('none');
  });

  it('refuses bytes that are not a zip at all, and an empty upload', async () => {
    const junk = path.join(work, 'junk.zip');
    await fs.writeFile(junk, 'this is not a zip archive, just some text\n'.repeat(100));
    const err = await refusal(installArchive(junk, functionsDir, 'junk'));
    expect(err.message).toBe('upload is not a valid zip archive');

    const empty = path.join(work, 'empty.zip');
    await fs.writeFile(empty, '');
    expect((await refusal(installArchive(empty, functionsDir, 'junk'))).message).toBe(
      'upload is not a valid zip archive',
    );
    await expectNothingInstalled('junk');
  });

  it('refuses a function name that is not a DNS label before touching the disk', async () => {
    const zip = await makeZip('ok.zip', [{ name: 'index.js' }]);
    await expect(installArchive(zip, functionsDir, '../x')).rejects.toBeInstanceOf(InvalidName);
    await expect(fs.access(functionsDir)).rejects.toThrow();
  });

  it('leaves an installed version alone when a later upload is refused', async () => {
    const good = await makeZip('good.zip', [{ name: 'index.js' }]);
    const { codeDir } = await installArchive(good, functionsDir, 'keep');
    const bad = await makeZip('bad.zip', [{ name: 'index.js' }, { name: 'l', data: 'x', mode: 0o120777 }]);
    await refusal(installArchive(bad, functionsDir, 'keep'));
    expect(await fs.readdir(path.join(functionsDir, 'keep'))).toEqual([path.basename(codeDir)]);
    expect(await listTree(codeDir)).toEqual(['index.js']);
  });
});

describe('installFolder', () => {
  async function writeTree(root: string, files: Record<string, string>): Promise<void> {
    for (const [rel, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await fs.writeFile(path.join(root, rel), content, { mode: 0o600 });
    }
  }
  const tree = { 'index.js': HANDLER, 'lib/util.js': 'module.exports = 2;\n', 'lib/deep/x.json': '{}' };

  it('copies the folder and gives the same digest for the same content wherever it lives', async () => {
    const a = path.join(work, 'src-a');
    const b = path.join(work, 'src-b');
    await writeTree(a, tree);
    await writeTree(b, tree);

    const first = await installFolder(a, functionsDir, 'folder');
    expect(first.created).toBe(true);
    expect(first.digest).toMatch(/^[0-9a-f]{20}$/);
    expect(first.codeDir).toBe(path.join(functionsDir, 'folder', first.digest));
    expect(await listTree(first.codeDir)).toEqual(['index.js', 'lib/', 'lib/deep/', 'lib/deep/x.json', 'lib/util.js']);
    expect(await fs.readFile(path.join(first.codeDir, 'lib/util.js'), 'utf8')).toBe('module.exports = 2;\n');
    expect((await fs.stat(path.join(first.codeDir, 'lib/util.js'))).mode & 0o777).toBe(0o644);
    expect((await fs.stat(first.codeDir)).mode & 0o777).toBe(0o755);

    const again = await installFolder(b, functionsDir, 'folder');
    expect(again).toEqual({ ...first, created: false });

    await fs.writeFile(path.join(b, 'lib/util.js'), 'module.exports = 3;\n');
    const changed = await installFolder(b, functionsDir, 'folder');
    expect(changed.created).toBe(true);
    expect(changed.digest).not.toBe(first.digest);

    await fs.rename(path.join(b, 'lib/util.js'), path.join(b, 'lib/util2.js'));
    await fs.writeFile(path.join(b, 'lib/util2.js'), 'module.exports = 2;\n');
    expect((await installFolder(b, functionsDir, 'folder')).digest).not.toBe(first.digest);
    expect((await fs.readdir(functionsDir)).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('refuses a symlink inside the folder, to a file or to a folder', async () => {
    const src = path.join(work, 'src-link');
    await writeTree(src, tree);
    await fs.symlink('/etc/passwd', path.join(src, 'lib', 'passwd'));
    const err = await refusal(installFolder(src, functionsDir, 'linked'));
    expect(err.message).toBe('code folder entry "lib/passwd" is a symbolic link; links are not allowed');

    await fs.rm(path.join(src, 'lib', 'passwd'));
    await fs.symlink('/etc', path.join(src, 'etc'));
    await refusal(installFolder(src, functionsDir, 'linked'));
    await expectNothingInstalled('linked');
  });

  it('refuses a folder without index.js and a folder over the limits', async () => {
    const src = path.join(work, 'src-none');
    await writeTree(src, { 'lib/index.js': HANDLER });
    expect((await refusal(installFolder(src, functionsDir, 'none'))).message).toBe('code folder has no index.js (nor index.mjs, index.cjs, index.ts, index.mts, index.cts) at its root (found: nothing)');

    const big = path.join(work, 'src-big');
    await writeTree(big, { 'index.js': HANDLER, 'a.txt': 'x'.repeat(2048) });
    const small = { maxEntries: 10, maxUnpackedBytes: 1024 };
    expect((await refusal(installFolder(big, functionsDir, 'big', small))).message).toMatch(/larger than 1 KiB/);
    expect((await refusal(installFolder(big, functionsDir, 'big', { ...small, maxEntries: 1 }))).message).toMatch(
      /more than 1 entries/,
    );
    await expectNothingInstalled('big');
  });
});

describe('pruneCode', () => {
  it('keeps only the given digest, or removes every version when none is given', async () => {
    const digests: string[] = [];
    for (const body of ['1', '2', '3']) {
      const zip = await makeZip(`v${body}.zip`, [{ name: 'index.js', data: `// v${body}\n${HANDLER}` }]);
      digests.push((await installArchive(zip, functionsDir, 'pruned')).digest);
    }
    const other = await makeZip('other.zip', [{ name: 'index.js' }]);
    const { codeDir: otherDir } = await installArchive(other, functionsDir, 'other');

    await pruneCode(functionsDir, 'pruned', digests[1]);
    expect(await fs.readdir(path.join(functionsDir, 'pruned'))).toEqual([digests[1]]);

    await pruneCode(functionsDir, 'pruned');
    await expect(fs.access(path.join(functionsDir, 'pruned'))).rejects.toThrow();
    await pruneCode(functionsDir, 'pruned', 'whatever'); // nothing there: no error
    await expect(fs.access(otherDir)).resolves.toBeUndefined();
  });

  it('keeps every digest of a set (the code of kept revisions and running containers)', async () => {
    const digests: string[] = [];
    for (const body of ['1', '2', '3', '4']) {
      const zip = await makeZip(`v${body}.zip`, [{ name: 'index.js', data: `// v${body}\n${HANDLER}` }]);
      digests.push((await installArchive(zip, functionsDir, 'kept')).digest);
    }
    await pruneCode(functionsDir, 'kept', new Set([digests[0]!, digests[2]!]));
    expect((await fs.readdir(path.join(functionsDir, 'kept'))).sort()).toEqual([digests[0]!, digests[2]!].sort());
  });

  it('with a cutoff, removes only versions last installed before it; installing a version again renews it', async () => {
    const zips = await Promise.all(['1', '2', '3'].map((v) => makeZip(`v${v}.zip`, [{ name: 'index.js', data: `// v${v}\n${HANDLER}` }])));
    const installed = [];
    for (const zip of zips) installed.push(await installArchive(zip, functionsDir, 'aged'));
    const hourAgo = new Date(Date.now() - 3_600_000);
    for (const { codeDir } of installed) await fs.utimes(codeDir, hourAgo, hourAgo);
    // v1 is deployed again (a rollback): already there, but just installed.
    expect(await installArchive(zips[0]!, functionsDir, 'aged')).toMatchObject({ created: false });

    await pruneCode(functionsDir, 'aged', installed[2]!.digest, Date.now() - 60_000);
    expect((await fs.readdir(path.join(functionsDir, 'aged'))).sort()).toEqual([installed[0]!.digest, installed[2]!.digest].sort());
  });
});

async function expectNothingInstalledTempOnly(): Promise<void> {
  const left = await fs.readdir(functionsDir);
  expect(left.filter((f) => f.startsWith('.tmp-'))).toEqual([]);
}
