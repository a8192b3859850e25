import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('uses the defaults when nothing is set', () => {
    expect(loadConfig({})).toEqual(DEFAULT_CONFIG);
    expect(loadConfig({}).socketPath).toBe('/run/glambdar/runtime.sock');
    expect(loadConfig({}).fnDir).toBe('/fn');
    expect(loadConfig({}).maxLogBytes).toBe(262144);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      GLAMBDAR_SOCKET: '/tmp/w.sock',
      GLAMBDAR_FN_DIR: '/code',
      GLAMBDAR_MAX_LOG_BYTES: '1024',
      GLAMBDAR_DRAIN_TIMEOUT_MS: '500',
      GLAMBDAR_STEM: '1',
    });
    expect(config).toEqual({ socketPath: '/tmp/w.sock', fnDir: '/code', maxLogBytes: 1024, drainTimeoutMs: 500, stem: true });
  });

  it('rejects a malformed number and names the variable', () => {
    expect(() => loadConfig({ GLAMBDAR_MAX_LOG_BYTES: '12kb' })).toThrow(/GLAMBDAR_MAX_LOG_BYTES/);
    expect(() => loadConfig({ GLAMBDAR_MAX_LOG_BYTES: '-1' })).toThrow(/GLAMBDAR_MAX_LOG_BYTES/);
  });
});
