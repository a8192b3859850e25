import { describe, expect, it } from 'vitest';
import { binaryHeaderText, hasBinaryForm, readBinaryHeader, writeBinaryHeader, type BinaryHeader } from './binary-header.js';
import type { InvokeHeader, ResultHeader } from './protocol.js';

/** `header` through its binary form: encoded into a buffer, then decoded. */
function roundTrip(header: BinaryHeader): BinaryHeader {
  const text = binaryHeaderText(header);
  const buffer = Buffer.alloc(64 + text.length * 3);
  const end = 5 + writeBinaryHeader(buffer, 5, header, text);
  return readBinaryHeader(buffer, 5, end);
}

/** `header`'s binary form alone. */
function encoded(header: BinaryHeader): Buffer {
  const text = binaryHeaderText(header);
  const buffer = Buffer.alloc(64 + text.length * 3);
  return buffer.subarray(0, writeBinaryHeader(buffer, 0, header, text));
}

const invoke = (extra: Partial<InvokeHeader> = {}): InvokeHeader => ({
  t: 'invoke',
  id: 7,
  method: 'POST',
  path: '/a/b',
  query: { x: '1', list: ['p', 'q'] },
  headers: { host: '127.0.0.1:8000', 'content-type': 'application/json', 'x-many': ['a', 'b', 'c'] },
  requestId: 'a1b2c3d4-e5f6-4a7b-8c9d-0123456789ab',
  timeoutMs: 30_000,
  ...extra,
});

const result = (extra: Partial<ResultHeader> = {}): ResultHeader => ({
  t: 'result',
  id: 7,
  statusCode: 201,
  headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] },
  stdout: 'hello\n',
  stderr: '',
  error: null,
  errorCode: null,
  durationMs: 1.234,
  ...extra,
});

/** What the JSON form gives for the same header: the binary form must give the same. */
const viaJson = (header: BinaryHeader): unknown => JSON.parse(JSON.stringify(header));

/** A random string of up to `max` units: ASCII, Latin-1, other BMP characters, astral pairs, the codes the form uses for itself. */
function randomText(random: () => number, max: number): string {
  const pieces = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\0', '\u00e9', '\u00ff', '\u4e2d', '\ud000', '\ud001', '\ud002', '\ud7ff', '\ufffd', '\u{1f600}'];
  let text = '';
  const length = Math.floor(random() * max);
  while (text.length < length) text += pieces[Math.floor(random() * pieces.length)];
  return text;
}

function randomRecord(random: () => number): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  const count = Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    const name = randomText(random, 12) || 'n';
    record[name] = random() < 0.3 ? Array.from({ length: Math.floor(random() * 3) }, () => randomText(random, 20)) : randomText(random, 40);
  }
  return record;
}

/** A seeded generator (mulberry32): a failing case can be run again. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('binary frame headers', () => {
  it('carry only invoke and result headers', () => {
    expect(hasBinaryForm(invoke())).toBe(true);
    expect(hasBinaryForm(result())).toBe(true);
    for (const other of [{ t: 'hello' }, { t: 'load' }, { t: 'chunk', id: 1 }, { id: 1 }, null, 'invoke']) expect(hasBinaryForm(other)).toBe(false);
  });

  it.each([
    ['an invoke', invoke()],
    ['an invoke with nothing in it', invoke({ method: '', path: '', requestId: '', query: {}, headers: {}, timeoutMs: 0 })],
    ['an invoke with Latin-1 header bytes and a UTF-8 path', invoke({ path: '/caf\u00e9/\u4e2d/\u{1f600}', headers: { 'x-raw': '\u00e9\u00ff\u0080' } })],
    ['an invoke whose id is past 2^32', invoke({ id: 2 ** 40 + 3 })],
    ['a result', result()],
    ['a failed result', result({ statusCode: 500, error: 'boom', stderr: 'Error: boom\n    at x', errorCode: null })],
    ['a result of a body that is not JSON', result({ statusCode: 400, error: 'not JSON', errorCode: 'INVALID_JSON_BODY' })],
    ['a result with an empty header list', result({ headers: { 'set-cookie': [] } })],
    ['a result with a fractional duration', result({ durationMs: 0.000123 })],
    ['a result whose strings hold the codes the form uses', result({ stdout: '\ud000\ud001\ud002', headers: { '\ud001': '\ud000' } })],
  ])('give back %s as JSON would', (_what, header) => {
    expect(roundTrip(header)).toEqual(viaJson(header));
  });

  it('carry strings longer than one length character holds (captured output of 100,000 characters)', () => {
    const stdout = 'x'.repeat(100_000) + '\u00e9'.repeat(0xd000);
    const back = roundTrip(result({ stdout, stderr: 'y'.repeat(0xd000) }));
    expect((back as ResultHeader).stdout).toBe(stdout);
    expect((back as ResultHeader).stderr).toBe('y'.repeat(0xd000));
  });

  it('keep a `__proto__` name as an own property, as JSON.parse does, not as the prototype', () => {
    const headers = JSON.parse('{"__proto__": ["a", "b"], "x": "1"}') as Record<string, string | string[]>;
    const back = roundTrip(invoke({ headers, query: JSON.parse('{"__proto__": "q"}') as Record<string, string> })) as InvokeHeader;
    expect(Object.getPrototypeOf(back.headers)).toBe(Object.prototype);
    expect(Object.keys(back.headers)).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(back.headers, '__proto__')?.value).toEqual(['a', 'b']);
    expect(Object.getOwnPropertyDescriptor(back.query, '__proto__')?.value).toBe('q');
    const inherited: string[] = [];
    for (const name in back.headers) if (!Object.hasOwn(back.headers, name)) inherited.push(name);
    expect(inherited).toEqual([]);
  });

  it('carry only own names of a record, as JSON does, whatever its prototype holds', () => {
    const headers = Object.create({ inherited: 'x' }) as Record<string, string>;
    headers['own'] = 'y';
    expect((roundTrip(result({ headers })) as ResultHeader).headers).toEqual({ own: 'y' });
  });

  it('turn a lone surrogate (a broken string a function printed) into U+FFFD, keeping every other character', () => {
    const back = roundTrip(result({ stdout: 'a\ud83db', stderr: '\ude00' })) as ResultHeader;
    expect(back.stdout).toBe('a\ufffdb');
    expect(back.stderr).toBe('\ufffd');
  });

  it('give back 500 random invokes and results as JSON would', () => {
    const random = seeded(22);
    for (let i = 0; i < 500; i++) {
      const text = () => randomText(random, 30);
      const header =
        random() < 0.5
          ? invoke({ id: 1 + Math.floor(random() * 1e9), method: text(), path: text(), requestId: text(), query: randomRecord(random), headers: randomRecord(random), timeoutMs: random() * 1e6 })
          : result({
              id: 1 + Math.floor(random() * 1e9),
              statusCode: 200 + Math.floor(random() * 400),
              headers: randomRecord(random),
              stdout: randomText(random, 200),
              stderr: randomText(random, 200),
              error: random() < 0.5 ? null : text(),
              durationMs: random() * 1000,
            });
      expect(roundTrip(header), `case ${i}`).toEqual(viaJson(header));
    }
  });

  it.each([
    ['an empty header', Buffer.alloc(0), /empty/],
    ['a header of an unknown kind', Buffer.from([9, 0, 0]), /unknown kind 9/],
    ['a header shorter than its numbers', encoded(result()).subarray(0, 20), /ends early/],
    ['a header cut inside its text', encoded(result()).subarray(0, 30), /ends early/],
    ['a header with bytes after its fields', Buffer.concat([encoded(invoke()), Buffer.from('x')]), /after its fields/],
    ['a length in the reserved range', Buffer.concat([encoded(invoke()).subarray(0, 17), Buffer.from('\ud005', 'utf8')]), /bad length/],
  ])('refuse %s', (_what, bytes, message) => {
    expect(() => readBinaryHeader(bytes, 0, bytes.length)).toThrow(message);
  });

  it('either refuse a mangled result or give one whose every field has its type: a hostile worker gets nothing else through', () => {
    const random = seeded(5);
    const valid = encoded(result({ headers: { a: ['1', '2'], b: 'c' }, stdout: 'out', error: 'e' }));
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(valid);
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cut = random() < 0.2 ? Math.floor(random() * bytes.length) : bytes.length;
      let header: BinaryHeader;
      try {
        header = readBinaryHeader(bytes, 0, cut);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        refused++;
        continue;
      }
      expect(header.t).toBe('result');
      const r = header as ResultHeader;
      expect([typeof r.id, typeof r.statusCode, typeof r.durationMs, typeof r.stdout, typeof r.stderr]).toEqual(['number', 'number', 'number', 'string', 'string']);
      expect(r.error === null || typeof r.error === 'string').toBe(true);
      expect(r.errorCode === null || typeof r.errorCode === 'string').toBe(true);
      expect(Object.getPrototypeOf(r.headers)).toBe(Object.prototype);
      for (const value of Object.values(r.headers)) expect(typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'))).toBe(true);
    }
    expect(refused).toBeGreaterThan(100);
  });
});
