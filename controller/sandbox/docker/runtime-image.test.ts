import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { withCauses } from '../../support/errors.js';
import { silentLogger } from '../../support/logger.js';
import { engineAddress, ensureRuntimeImage } from './runtime-image.js';

/** The few dockerode calls ensureRuntimeImage makes, each one recorded. */
function fakeDocker(options: { ping: () => Promise<unknown>; inspect?: () => Promise<unknown>; modem?: object }): { docker: Docker; calls: string[] } {
  const calls: string[] = [];
  const docker = {
    modem: options.modem ?? { socketPath: '/var/run/docker.sock' },
    ping: () => {
      calls.push('ping');
      return options.ping();
    },
    getImage: (name: string) => ({
      inspect: () => {
        calls.push(`inspect ${name}`);
        return (options.inspect ?? (() => Promise.resolve({})))();
      },
    }),
    pull: () => {
      calls.push('pull');
      return Promise.reject(new Error('no registry'));
    },
    buildImage: () => {
      calls.push('build');
      return Promise.reject(new Error('no build'));
    },
  };
  return { docker: docker as unknown as Docker, calls };
}

const refused = (code: string) => Object.assign(new Error(`connect ${code} /run/docker.sock`), { code });

describe('ensureRuntimeImage', () => {
  it('says where the engine was expected and what to do when it does not answer, and tries nothing else', async () => {
    const { docker, calls } = fakeDocker({ ping: () => Promise.reject(refused('ENOENT')), modem: { socketPath: '/run/docker.sock' } });
    const err = await ensureRuntimeImage(docker, 'node:20-slim', silentLogger).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'the Docker engine at unix:///run/docker.sock does not answer (ENOENT): start it, or set DOCKER_HOST to where it listens',
    );
    expect(withCauses(err)).toContain('connect ENOENT /run/docker.sock');
    expect(calls).toEqual(['ping']);
  });

  it('tells a user who may not use the engine socket how to get access', async () => {
    const { docker } = fakeDocker({ ping: () => Promise.reject(refused('EACCES')) });
    await expect(ensureRuntimeImage(docker, 'node:20-slim', silentLogger)).rejects.toThrow(
      'the Docker engine at unix:///var/run/docker.sock does not answer (EACCES): this user may not use it: add the user to the docker group, or run as root',
    );
  });

  it('does not take an engine error while looking up the image for a missing image', async () => {
    const broken = Object.assign(new Error('server error'), { statusCode: 500 });
    const { docker, calls } = fakeDocker({ ping: () => Promise.resolve('OK'), inspect: () => Promise.reject(broken) });
    await expect(ensureRuntimeImage(docker, 'node:20-slim', silentLogger)).rejects.toBe(broken);
    expect(calls).toEqual(['ping', 'inspect node:20-slim']);
  });

  it('uses the configured image when the engine has it', async () => {
    const { docker, calls } = fakeDocker({ ping: () => Promise.resolve('OK') });
    expect(await ensureRuntimeImage(docker, 'node:20-slim', silentLogger)).toBe('node:20-slim');
    expect(calls).toEqual(['ping', 'inspect node:20-slim']);
  });
});

describe('engineAddress', () => {
  it('names a socket path or a TCP address as DOCKER_HOST would', () => {
    expect(engineAddress({ modem: { socketPath: '/var/run/docker.sock' } } as unknown as Docker)).toBe('unix:///var/run/docker.sock');
    expect(engineAddress({ modem: { host: '10.0.0.5', port: '2376', protocol: 'https' } } as unknown as Docker)).toBe('https://10.0.0.5:2376');
  });
});

describe('withCauses', () => {
  it('joins an error with the messages of its causes, outermost first', () => {
    const err = new Error('outer', { cause: new Error('middle', { cause: 'innermost' }) });
    expect(withCauses(err)).toBe('outer: middle: innermost');
  });
});
