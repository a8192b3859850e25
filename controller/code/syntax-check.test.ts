import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkSyntax } from './syntax-check.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-syntax-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkSyntax', () => {
  it('refuses a CommonJS entry that does not parse with file:line and the error, and no host path', async () => {
    await writeFile(join(dir, 'index.js'), 'exports.handler = async () => {\n  return 1;\n}}\n');
    const err = await checkSyntax(dir).then(() => undefined, (e: unknown) => e as Error & { code: string });
    expect(err?.code).toBe('INVALID_CODE');
    expect(err?.message).toBe("index.js:3: SyntaxError: Unexpected token '}' (near: }})");
    expect(err?.message).not.toContain(dir);
  });

  it('checks the entry the worker loads (index.mjs first) as an ES module, without running it', async () => {
    await writeFile(join(dir, 'index.mjs'), 'import fs from "node:fs";\nfs.writeFileSync("ran", "yes");\nexport const handler = async () => 1;\n');
    await writeFile(join(dir, 'index.js'), 'this is not JavaScript at all');
    await checkSyntax(dir);
    await expect(import('node:fs').then((fs) => fs.existsSync(join(dir, 'ran')))).resolves.toBe(false);
    await writeFile(join(dir, 'index.mjs'), 'export const handler = async () => {;\n');
    await expect(checkSyntax(dir)).rejects.toThrow(/^index\.mjs:2: SyntaxError: Unexpected end of input/);
  });

  it('accepts a CommonJS entry that parses, and leaves files it does not check alone', async () => {
    await writeFile(join(dir, 'index.js'), 'exports.handler = async (req) => ({ ok: true });\n');
    await checkSyntax(dir);
    await checkSyntax(dir, undefined, 'handler.ts');
  });
});
