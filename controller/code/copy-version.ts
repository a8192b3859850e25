import { constants } from 'node:fs';
import { chmod, copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DIR_MODE } from './rules.js';

/**
 * Copies an installed code version (regular files and folders only, as every code folder is:
 * see code-folder.ts) into `to`, an existing folder: a stem cell's code folder, which its
 * specialisation waits for. Node's `fs.cp` took 4-9 ms for a one-file function here (it
 * checks every parent folder of the target and stats each entry several times); this is one
 * `readdir` per folder and one copy per file (a clone where the filesystem can), each
 * folder's entries at once. Files keep their modes; folders get {@link DIR_MODE}, whatever
 * the umask, so the container's user can enter them.
 */
export async function copyVersion(from: string, to: string): Promise<void> {
  const entries = await readdir(from, { withFileTypes: true });
  await Promise.all(
    entries.map(async (entry) => {
      const source = join(from, entry.name);
      const target = join(to, entry.name);
      if (entry.isDirectory()) {
        await mkdir(target);
        await chmod(target, DIR_MODE);
        await copyVersion(source, target);
      } else if (entry.isFile()) {
        await copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      } else {
        throw new Error(`${source} is neither a file nor a folder; a code version holds only those`);
      }
    }),
  );
}
