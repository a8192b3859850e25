import { mkdtemp, readFile, rm, stat, chmod, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../support/logger.js';
import { loadAdminToken } from './admin-token.js';

let dir: string;
let lines: string[];
const log = () => createLogger('debug', (line) => lines.push(line));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glb-token-'));
  lines = [];
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('loadAdminToken', () => {
  it('makes a 256-bit token on first start in a file only its owner reads, says where it is and never what', async () => {
    const file = join(dir, 'admin-token');
    const token = await loadAdminToken(file, undefined, log());
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(token);
    expect(lines.join('\n')).toContain(file);
    expect(lines.join('\n')).not.toContain(token);
  });

  it('keeps the token across starts, and makes its file 0600 again when someone loosened it', async () => {
    const file = join(dir, 'admin-token');
    const first = await loadAdminToken(file, undefined, log());
    await chmod(file, 0o644);
    expect(await loadAdminToken(file, undefined, log())).toBe(first);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(lines.some((l) => l.includes('was readable by other users'))).toBe(true);
  });

  it('takes GLAMBDAR_ADMIN_TOKEN instead and writes no file', async () => {
    const file = join(dir, 'admin-token');
    expect(await loadAdminToken(file, 'given-token-0123456789', log())).toBe('given-token-0123456789');
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a file that holds no usable token', async () => {
    const file = join(dir, 'admin-token');
    await writeFile(file, 'short\n', { mode: 0o600 });
    await expect(loadAdminToken(file, undefined, log())).rejects.toThrow(/does not hold a usable admin token/);
  });
});
