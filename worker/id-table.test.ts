import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { IdTable } from './id-table.js';

describe('IdTable', () => {
  it('holds, replaces and removes entries by id', () => {
    const table = new IdTable<string>(8);
    table.set(1, 'a');
    table.set(2, 'b');
    table.set(2, 'B');
    expect(table.size).toBe(2);
    expect(table.get(1)).toBe('a');
    expect(table.get(2)).toBe('B');
    expect(table.has(3)).toBe(false);
    expect(table.delete(1)).toBe(true);
    expect(table.delete(1)).toBe(false);
    expect(table.get(1)).toBeUndefined();
    expect(table.size).toBe(1);
    expect(table.values()).toEqual(['B']);
  });

  it('keeps an old entry whose slot a newer id takes, and finds both', () => {
    const table = new IdTable<string>(4);
    table.set(3, 'old');
    table.set(7, 'new'); // 7 % 4 === 3 % 4
    expect(table.get(3)).toBe('old');
    expect(table.get(7)).toBe('new');
    expect(table.size).toBe(2);
    table.set(3, 'again'); // the displaced id set anew: still one entry for it
    expect(table.size).toBe(2);
    expect(table.get(3)).toBe('again');
    expect(table.delete(7)).toBe(true);
    expect(table.delete(3)).toBe(true);
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
  });

  it('grows past many long-lived entries and loses none', () => {
    const table = new IdTable<number>(4);
    // Every 10th request stays in flight while 5,000 others come and go.
    const kept: number[] = [];
    for (let id = 1; id <= 5000; id++) {
      table.set(id, id * 2);
      if (id % 10 === 0) kept.push(id);
      else expect(table.delete(id)).toBe(true);
    }
    expect(table.size).toBe(kept.length);
    for (const id of kept) expect(table.get(id)).toBe(id * 2);
    expect(table.values().sort((a, b) => a - b)).toEqual(kept.map((id) => id * 2));
  });

  it('takes ids past 2^31 and answers nothing for ids it never had', () => {
    const table = new IdTable<string>(16);
    const big = 2 ** 40 + 5;
    table.set(big, 'big');
    expect(table.get(big)).toBe('big');
    for (const id of [-1, -0, 0.5, NaN, Infinity, 5, 2 ** 40 + 21]) expect(table.get(id)).toBeUndefined();
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(big)).toBeUndefined();
  });

  it('refuses an id with no slot, and stays as it was', () => {
    const table = new IdTable<string>(16);
    table.set(1, 'one');
    for (const id of [-1, 0.5, NaN, Infinity, 2 ** 53]) expect(() => table.set(id, 'x')).toThrow(RangeError);
    expect(table.size).toBe(1);
    expect(table.values()).toEqual(['one']);
  });

  it('leaves nothing for the GC to promote once a full GC has aged the table (unlike a Map)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const oldSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
    const table = new IdTable<{ pad: number[] }>();
    // The invoke path's pattern: ~32 requests in flight, each ~1 KB, ids counting up.
    const churn = () => {
      const inflight: number[] = [];
      for (let id = 1; id <= 50_000; id++) {
        table.set(id, { pad: new Array<number>(100).fill(id) });
        inflight.push(id);
        if (inflight.length > 32) table.delete(inflight.shift()!);
      }
      for (const id of inflight) table.delete(id);
    };
    churn();
    gc(); // the table is old now, as in a runtime after its first full GC
    const before = oldSpaceUsed();
    churn();
    // ~50 MB went through the table. With a Map in its place, the scavenges promote what the
    // dead tables reach: 2-15 MB here, run to run.
    expect(oldSpaceUsed() - before).toBeLessThan(1_000_000);
  });
});
