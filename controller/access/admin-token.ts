import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import type { Logger } from '../support/logger.js';

/** Shortest admin token accepted from a file (GLAMBDAR_ADMIN_TOKEN has the same floor). */
const MIN_TOKEN_CHARS = 16;

/**
 * The control plane's token: `GLAMBDAR_ADMIN_TOKEN` when set, else the one in `file`
 * (`<dir>/admin-token`), made on first start (256 random bits, mode 0600). The log says where
 * it is, never what it is.
 */
export async function loadAdminToken(file: string, fromEnv: string | undefined, log: Logger): Promise<string> {
  if (fromEnv !== undefined) {
    log.info('admin token: from GLAMBDAR_ADMIN_TOKEN');
    return fromEnv;
  }
  try {
    await writeFile(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    await chmod(file, 0o600);
    log.info(`admin token created in ${file} (readable by this user only); send it as "Authorization: Bearer <token>"`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Kept from an earlier start: someone may have loosened its mode.
    if (((await stat(file)).mode & 0o077) !== 0) {
      await chmod(file, 0o600);
      log.warn(`admin token file ${file} was readable by other users; its mode is 0600 again`);
    }
    log.info(`admin token in ${file}`);
  }
  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < MIN_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) {
    throw new Error(`${file} does not hold a usable admin token (at least ${MIN_TOKEN_CHARS} printable characters); delete it to have a new one made`);
  }
  return token;
}
