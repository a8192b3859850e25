import { describe, expect, it } from 'vitest';
import { isCancelHeader, isCreditHeader, isInvokeHeader, isLoadHeader, type InvokeHeader } from './protocol.js';

const invoke = { t: 'invoke', id: 1, method: 'GET', path: '/', query: {}, headers: { host: 'h' }, requestId: 'r', timeoutMs: 0 } satisfies InvokeHeader;

describe("the worker's checks of the runtime's frames", () => {
  it('take a whole invoke frame', () => {
    expect(isInvokeHeader(invoke)).toBe(true);
  });

  it('refuse an invoke frame with any one field missing or of another type, each field checked', () => {
    for (const field of Object.keys(invoke)) {
      expect(isInvokeHeader({ ...invoke, [field]: Symbol(field) }), field).toBe(false);
      const without: Record<string, unknown> = { ...invoke };
      delete without[field];
      expect(isInvokeHeader(without), `without ${field}`).toBe(false);
    }
  });

  it.each([
    ['an id of 0', { id: 0 }],
    ['a fractional id', { id: 1.5 }],
    ['a negative timeout', { timeoutMs: -1 }],
    ['headers as a list', { headers: [['host', 'h']] }],
    ['a null query', { query: null }],
    ['another kind', { t: 'load' }],
  ])('refuse an invoke frame with %s', (_what, change) => {
    expect(isInvokeHeader({ ...invoke, ...change })).toBe(false);
  });

  it('refuse what is not an object', () => {
    for (const value of [null, undefined, 'invoke', 1, [invoke]]) expect(isInvokeHeader(value)).toBe(false);
  });

  it('tell the other frames apart by their fields', () => {
    expect(isLoadHeader({ t: 'load', id: 2, env: {}, interface: null, handler: null })).toBe(true);
    expect(isLoadHeader({ t: 'load', id: 2, env: {}, interface: 'nope', handler: null })).toBe(false);
    expect(isCreditHeader({ t: 'credit', id: 2, bytes: 10 })).toBe(true);
    expect(isCreditHeader({ t: 'credit', id: 2, bytes: 0 })).toBe(false);
    expect(isCancelHeader({ t: 'cancel', id: 2 })).toBe(true);
    expect(isCancelHeader(invoke)).toBe(false);
  });
});
