import { describe, expect, it } from 'vitest';
import { loadConfig } from './server.js';

describe('loadConfig', () => {
  it('runs on its embedded defaults with nothing set', () => {
    expect(loadConfig({ HOME: '/home/u' })).toMatchObject({ port: 8000, host: '127.0.0.1', stemCells: 2 });
  });

  it('names the variable and the value it refuses, never "NaN"', () => {
    expect(() => loadConfig({ GLAMBDAR_PORT: 'notaport' })).toThrow('invalid configuration: GLAMBDAR_PORT="notaport": expected a number');
    expect(() => loadConfig({ GLAMBDAR_PORT: '70000', GLAMBDAR_LOG_LEVEL: 'loud' })).toThrow(
      /^invalid configuration: GLAMBDAR_PORT="70000": Too big: expected number to be <=65535; GLAMBDAR_LOG_LEVEL="loud": /,
    );
    expect(() => loadConfig({ GLAMBDAR_STEM_CELLS: '1.5' })).toThrow(/^invalid configuration: GLAMBDAR_STEM_CELLS="1.5": /);
  });
});

describe('loadConfig: access settings', () => {
  it('refuses GLAMBDAR_AUTH=none on an address other machines reach, and takes it on loopback ones', () => {
    expect(() => loadConfig({ GLAMBDAR_AUTH: 'none', GLAMBDAR_HOST: '0.0.0.0' })).toThrow(
      'invalid configuration: GLAMBDAR_AUTH="none": is refused while GLAMBDAR_HOST (0.0.0.0) is not a loopback address',
    );
    expect(() => loadConfig({ GLAMBDAR_AUTH: 'none', GLAMBDAR_HOST: 'glambdar.example.com' })).toThrow(/not a loopback address/);
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(loadConfig({ GLAMBDAR_AUTH: 'none', GLAMBDAR_HOST: host }).auth).toBe('none');
    expect(loadConfig({}).auth).toBe('token');
    expect(() => loadConfig({ GLAMBDAR_AUTH: 'off' })).toThrow('GLAMBDAR_AUTH="off": must be "token" or "none"');
  });

  it('never repeats the admin token it refuses', () => {
    const attempt = () => loadConfig({ GLAMBDAR_ADMIN_TOKEN: 'short secret' });
    expect(attempt).toThrow('invalid configuration: GLAMBDAR_ADMIN_TOKEN: must be at least 16 characters; GLAMBDAR_ADMIN_TOKEN: must be printable ASCII');
    expect(attempt).not.toThrow(/short secret/);
  });

  it('reads allowed hosts and CORS origins as comma-separated lists, refusing an origin with a path', () => {
    expect(loadConfig({ GLAMBDAR_ALLOWED_HOSTS: 'Glambdar.Internal, ci.local ,', GLAMBDAR_CORS_ORIGINS: 'https://dash.example.com/,http://localhost:3000' })).toMatchObject({
      allowedHosts: ['glambdar.internal', 'ci.local'],
      corsOrigins: ['https://dash.example.com', 'http://localhost:3000'],
    });
    expect(() => loadConfig({ GLAMBDAR_CORS_ORIGINS: 'https://dash.example.com/app' })).toThrow(/GLAMBDAR_CORS_ORIGINS="https:\/\/dash.example.com\/app": must list origins/);
  });
});
