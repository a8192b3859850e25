import { join } from 'node:path';
import type { ContainerSpec } from '../sandbox/sandbox.js';
import type { FunctionRecord } from '../state/records.js';
import { entryOf, functionEnv, templateOf } from './replica.js';

/** The host folders a labelled container mounts (its own two are named by its replica key). */
export interface LabelledFolders {
  functionsDir: string;
  workerDir: string;
  socketDir: string;
  secretsDir: string | null;
}

/**
 * The container of `fn` under replica key `key`: its labels name the function, revision and
 * template, so a restart can adopt it. One builder for a start and a standby's create, so the
 * two cannot drift apart.
 */
export function labelledSpec(fn: FunctionRecord, key: string, folders: LabelledFolders): ContainerSpec {
  return {
    replicaKey: key,
    functionName: fn.name,
    generation: fn.generation,
    digest: fn.codeDigest,
    template: templateOf(fn),
    codeDir: join(folders.functionsDir, fn.name, fn.codeDigest),
    workerDir: folders.workerDir,
    socketDir: folders.socketDir,
    ...(folders.secretsDir === null ? {} : { secretsDir: folders.secretsDir }),
    memoryMb: fn.spec.memoryMb,
    cpus: fn.spec.cpus,
    env: functionEnv(fn),
    ...entryOf(fn),
  };
}
