import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerSandbox } from './docker-sandbox.js';
import type { ContainerSpec } from '../sandbox.js';
import { silentLogger } from '../../support/logger.js';

/** An engine that records the order of calls, with a container whose start the test observes (and may fail). */
function fakeEngine(failStart = false): { docker: Docker; calls: string[] } {
  const calls: string[] = [];
  const container = {
    id: 'c1',
    start: async () => {
      calls.push('start');
      if (failStart) throw new Error('no such device');
    },
    remove: async () => {
      calls.push('remove');
    },
  };
  const docker = {
    ping: async () => 'OK',
    getImage: () => ({ inspect: async () => ({}) }),
    createContainer: async () => {
      calls.push('create');
      return container;
    },
    getContainer: (id: string) => (id === container.id ? container : undefined),
  };
  return { docker: docker as unknown as Docker, calls };
}

const spec: ContainerSpec = {
  replicaKey: 'abcdef0123',
  functionName: 'hello',
  generation: 1,
  digest: 'd',
  template: 't',
  codeDir: '/tmp/code',
  workerDir: '/tmp/worker',
  socketDir: '/tmp/socket',
  memoryMb: 128,
  cpus: 0.5,
  env: {},
};

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('DockerSandbox.start', () => {
  it('creates the container while what it needs on the host is made, and starts it once that is ready', async () => {
    const { docker, calls } = fakeEngine();
    const sandbox = new DockerSandbox({ instanceId: 'i', image: 'img', log: silentLogger, docker });
    const ready = deferred();
    const started = sandbox.start(spec, ready.promise);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual(['create']);
    ready.resolve();
    await expect(started).resolves.toBe('c1');
    expect(calls).toEqual(['create', 'start']);
  });

  it('removes the created container, and fails with why, when what it needs could not be made', async () => {
    const { docker, calls } = fakeEngine();
    const sandbox = new DockerSandbox({ instanceId: 'i', image: 'img', log: silentLogger, docker });
    const ready = deferred();
    const started = sandbox.start(spec, ready.promise);
    ready.reject(new Error('the socket folder is gone'));
    await expect(started).rejects.toThrow('the socket folder is gone');
    expect(calls).toEqual(['create', 'remove']);
  });
});

describe('DockerSandbox.create and startCreated (a standby container)', () => {
  it('creates without starting; the start comes when asked', async () => {
    const { docker, calls } = fakeEngine();
    const sandbox = new DockerSandbox({ instanceId: 'i', image: 'img', log: silentLogger, docker });
    await expect(sandbox.create(spec)).resolves.toBe('c1');
    expect(calls).toEqual(['create']);
    await sandbox.startCreated('c1');
    expect(calls).toEqual(['create', 'start']);
  });

  it('removes a created container that fails to start, and says the engine refused', async () => {
    const { docker, calls } = fakeEngine(true);
    const sandbox = new DockerSandbox({ instanceId: 'i', image: 'img', log: silentLogger, docker });
    await sandbox.create(spec);
    await expect(sandbox.startCreated('c1')).rejects.toThrow('refused to start a container');
    expect(calls).toEqual(['create', 'start', 'remove']);
  });
});
