import { describe, expect, it } from 'vitest';
import { heapFlags } from './docker-sandbox.js';

describe('heapFlags', () => {
  it('gives a container 75 % of its memory as heap, a 32nd of it as each semi-space', () => {
    // 84 MiB old + 3 x 4 MiB young = 96 MiB, 75 % of 128.
    expect(heapFlags(128)).toEqual(['--max-old-space-size=84', '--max-semi-space-size=4']);
    expect(heapFlags(512)).toEqual(['--max-old-space-size=336', '--max-semi-space-size=16']);
  });

  it('keeps the semi-spaces within 1 and 16 MiB and the old generation at 16 MiB at least', () => {
    expect(heapFlags(32)).toEqual(['--max-old-space-size=21', '--max-semi-space-size=1']);
    expect(heapFlags(16 * 1024)).toEqual(['--max-old-space-size=12240', '--max-semi-space-size=16']);
    expect(heapFlags(20)).toEqual(['--max-old-space-size=16', '--max-semi-space-size=1']);
  });
});
