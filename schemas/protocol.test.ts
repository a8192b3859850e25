import { describe, expect, it } from 'vitest';
import { MAX_HEADER_VALUE_CHARS, MAX_LOG_CHARS, MAX_RESPONSE_HEADERS, ResultFrame, resultFrameIssue } from './protocol.js';

const valid = { t: 'result', id: 3, statusCode: 200, headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }, stdout: 'out', stderr: '', error: null, errorCode: null, durationMs: 0.25 };
const many = Object.fromEntries(Array.from({ length: MAX_RESPONSE_HEADERS + 1 }, (_, i) => [`x-h${i}`, 'v']));

/** Frames the hand-written check and the zod schema must judge alike. */
const cases: Array<[string, unknown]> = [
  ['a valid result', valid],
  ['a valid result with an error and extra fields', { ...valid, statusCode: 500, error: 'boom', extra: 1 }],
  ['no object', 'result'],
  ['null', null],
  ['an array', [valid]],
  ['another type', { ...valid, t: 'hello' }],
  ['a missing id', { ...valid, id: undefined }],
  ['a caller error code', { ...valid, statusCode: 400, error: 'request body is not valid JSON', errorCode: 'INVALID_JSON_BODY' }],
  ['an unknown error code', { ...valid, errorCode: 'OOPS' }],
  ['a missing error code', { ...valid, errorCode: undefined }],
  ['an id of 0', { ...valid, id: 0 }],
  ['a fractional id', { ...valid, id: 1.5 }],
  ['an id past the safe integers', { ...valid, id: 2 ** 53 }],
  ['an interim status', { ...valid, statusCode: 101 }],
  ['a status past 599', { ...valid, statusCode: 600 }],
  ['a status as a string', { ...valid, statusCode: '200' }],
  ['headers as a list', { ...valid, headers: [] }],
  ['a header name that is not a token', { ...valid, headers: { 'bad name': 'x' } }],
  ['a header value with a newline', { ...valid, headers: { 'x-split': 'a\r\nb' } }],
  ['a header value that is a number', { ...valid, headers: { 'x-n': 1 } }],
  ['a header list with a number', { ...valid, headers: { 'x-n': ['a', 1] } }],
  ['a header value too long', { ...valid, headers: { 'x-long': 'a'.repeat(MAX_HEADER_VALUE_CHARS + 1) } }],
  ['too many headers', { ...valid, headers: many }],
  ['stdout missing', { ...valid, stdout: undefined }],
  ['stderr too long', { ...valid, stderr: 'e'.repeat(MAX_LOG_CHARS + 1) }],
  ['an error that is a number', { ...valid, error: 5 }],
  ['a negative duration', { ...valid, durationMs: -1 }],
  ['a duration as a string', { ...valid, durationMs: '1' }],
];

describe('resultFrameIssue', () => {
  it.each(cases)('judges %s as the ResultFrame schema does', (_what, frame) => {
    const issue = resultFrameIssue(frame);
    expect(issue === null).toBe(ResultFrame.safeParse(frame).success);
  });

  it('names the field at fault', () => {
    expect(resultFrameIssue({ ...valid, statusCode: 101 })).toMatch(/^statusCode: /);
    expect(resultFrameIssue({ ...valid, headers: { 'bad name': 'x' } })).toMatch(/^headers: /);
  });

  it('checks every field of the schema', () => {
    // No field accepts a symbol: each one set to it must be refused under its own name.
    for (const field of Object.keys(ResultFrame.shape)) expect(resultFrameIssue({ ...valid, [field]: Symbol('bad') }), field).toMatch(new RegExp(`^${field}: `));
  });
});
