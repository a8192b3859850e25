import type Docker from 'dockerode';
import { existsSync, watch } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The engine's own floor for a cold start: create + start of a container of the runtime image
 * with the same limits (and the same 1-CPU boot quota), until its node process has booted and
 * written a file into a mounted folder, without Glambdar. Same run, same machine.
 */
export async function bareDockerStarts(docker: Docker, image: string, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const dir = await mkdtemp('/tmp/glb-bare-');
    await chmod(dir, 0o777);
    const booted = new Promise<number>((resolve) => {
      const watcher = watch(dir, () => {
        if (!existsSync(join(dir, 'booted'))) return;
        watcher.close();
        resolve(performance.now());
      });
    });
    const t0 = performance.now();
    const c = await docker.createContainer({
      Image: image,
      Cmd: ['/usr/local/bin/node', '-e', "require('fs').writeFileSync('/out/booted', '')"],
      User: '65534:65534',
      NetworkDisabled: true,
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        Memory: 128 * 1024 * 1024,
        CpuPeriod: 10_000,
        CpuQuota: 10_000,
        Binds: [`${dir}:/out:rw`],
      },
    });
    await c.start();
    times.push((await booted) - t0);
    await c.remove({ force: true });
    await rm(dir, { recursive: true, force: true });
  }
  return times;
}
