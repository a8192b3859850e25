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
