import { describe, expect, it } from 'vitest';
import { runtimeUrl } from './cli-token.js';

describe('runtimeUrl', () => {
  it('is GLAMBDAR_URL when set, else the local runtime on GLAMBDAR_PORT, else on 8000', () => {
    expect(runtimeUrl({ GLAMBDAR_URL: 'http://box:9000', GLAMBDAR_PORT: '18000' })).toBe('http://box:9000');
    // The port `serve` listens on in the same environment: `down` then sees that runtime.
    expect(runtimeUrl({ GLAMBDAR_PORT: '18000' })).toBe('http://127.0.0.1:18000');
    expect(runtimeUrl({})).toBe('http://127.0.0.1:8000');
    expect(runtimeUrl({ GLAMBDAR_PORT: 'eighty' })).toBe('http://127.0.0.1:8000');
  });
});
