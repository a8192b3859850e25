/**
 * A stem cell's rehearsal: it loads a one-line function of its own once, before it offers
 * itself, from a folder it then removes. The first load in a process pays for enabling the
 * output capture's async context and compiling the loader's code (finding the entry, the
 * require, picking the interface): in a specialisation, which a cold start waits for, the
 * load took ~3.7 ms from the load frame to the answer, ~1.7 after a rehearsal (host, a
 * one-line function). The function that comes later sees none of it: the folder is gone and
 * no state of the rehearsal's load is kept.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCaptured } from './capture.js';
import { loadFunction } from './loader.js';

const REHEARSED = 'exports.handler = async () => ({ statusCode: 204 });\n';

/** Loads a function of its own and forgets it; never throws (a failed rehearsal only costs the time it saves). */
export async function rehearseLoad(): Promise<void> {
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(tmpdir(), 'glambdar-rehearsal-'));
    await writeFile(join(dir, 'index.js'), REHEARSED);
    const folder = dir;
    await runCaptured(() => loadFunction(folder), 0);
  } catch {
    // A /tmp that is full or missing: the real load is only slower.
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
