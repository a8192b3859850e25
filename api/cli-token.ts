import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The admin token the CLI sends, and where it came from (for the hint after a 401). */
export interface CliToken {
  token: string | undefined;
  /** `GLAMBDAR_TOKEN`, or the file it read (or looked for). */
  from: string;
}

/**
 * Finds the admin token without flags: `GLAMBDAR_TOKEN`, else the file `admin-token` of the
 * runtime's data folder (`GLAMBDAR_DIR`, default `~/.glambdar`), which a local runtime writes
 * on its first start. None found: requests go without, and a 401 says where to look.
 */
export function findToken(env: Record<string, string | undefined> = process.env): CliToken {
  const fromEnv = env['GLAMBDAR_TOKEN']?.trim();
  if (fromEnv) return { token: fromEnv, from: 'GLAMBDAR_TOKEN' };
  const file = join(env['GLAMBDAR_DIR'] || join(env['HOME'] || homedir(), '.glambdar'), 'admin-token');
  try {
    const token = readFileSync(file, 'utf8').trim();
    return { token: token === '' ? undefined : token, from: file };
  } catch {
    return { token: undefined, from: file };
  }
}

/**
 * The runtime the client commands (and `down`) talk to: `GLAMBDAR_URL`, else the local
 * runtime on `GLAMBDAR_PORT` (default 8000), the variable `serve` listens on, so one
 * environment starts a runtime and talks to it: `down` must see a runtime started on another
 * port before it removes that runtime's containers.
 */
export function runtimeUrl(env: Record<string, string | undefined> = process.env): string {
  const url = env['GLAMBDAR_URL']?.trim();
  if (url) return url;
  const port = env['GLAMBDAR_PORT']?.trim();
  return `http://127.0.0.1:${port !== undefined && /^\d{1,5}$/.test(port) ? port : '8000'}`;
}

/** What to tell a user whose request got 401, knowing where the token came from. */
export function unauthorizedHint(found: CliToken, usedKey: boolean): string {
  if (usedKey) return 'the runtime refused the key; make one with `glambdar keys create <function>`';
  if (found.token === undefined) {
    return `no admin token found: set GLAMBDAR_TOKEN, or run where the runtime keeps its data (looked for ${found.from})`;
  }
  return found.from === 'GLAMBDAR_TOKEN'
    ? 'the runtime refused the token in GLAMBDAR_TOKEN; it is in the file admin-token of the runtime\'s data folder'
    : `the runtime refused the token in ${found.from}; set GLAMBDAR_TOKEN to the runtime's token (its data folder's admin-token, or GLAMBDAR_ADMIN_TOKEN)`;
}
