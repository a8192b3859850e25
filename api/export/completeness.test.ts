import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXPORT_FORMATS, FunctionSpec } from '../../schemas/index.js';
import { CARRIED_BY_IMAGE, exportFunction, NOT_CARRIED_OVER, renderExport } from './index.js';
import { COMING_FIELDS, FULL_SPEC, source } from './testing.js';

/**
 * No spec field is dropped silently. A field a feature adds to `FunctionSpec` fails here until
 * the export maps it (reads it, in knative.ts / kubernetes.ts) or lists it in NOT_CARRIED_OVER
 * (not-carried.ts) with a reason, and docs/kubernetes.md names it.
 */
const SPEC_FIELDS = Object.keys(FunctionSpec.shape);
const DOCS = readFileSync(resolve(import.meta.dirname, '../../docs/kubernetes.md'), 'utf8');

/** A different value of a field's value, for the kinds of values this test knows how to change. */
function changed(value: unknown): unknown {
  if (typeof value === 'number') return value * 2 + 1;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')) {
    return { ...value, CHANGED: 'yes' };
  }
  return undefined;
}

describe.each(EXPORT_FORMATS)('export as %s', (format) => {
  const options = { format, imagePrefix: 'glambdar' } as const;

  it('maps every field of FunctionSpec, or lists it as not carried over with a reason, or leaves it to the image', () => {
    const { fieldsRead } = exportFunction(source({ ...FULL_SPEC, ...COMING_FIELDS }), options);
    const unaccounted = SPEC_FIELDS.filter((field) => !fieldsRead.has(field) && !Object.hasOwn(NOT_CARRIED_OVER[format], field) && !Object.hasOwn(CARRIED_BY_IMAGE, field));
    expect(unaccounted, 'spec fields the export drops silently: map them, or add them to NOT_CARRIED_OVER with a reason').toEqual([]);
  });

  it('maps the fields of features still to come, or lists them, so that their arrival does not break it', () => {
    const { fieldsRead } = exportFunction(source({ ...FULL_SPEC, ...COMING_FIELDS }), options);
    const unaccounted = Object.keys(COMING_FIELDS).filter((field) => !fieldsRead.has(field) && !Object.hasOwn(NOT_CARRIED_OVER[format], field) && !Object.hasOwn(CARRIED_BY_IMAGE, field));
    expect(unaccounted).toEqual([]);
  });

  it('changes its output when a mapped field changes: a field read is a field used', () => {
    // With every field set: some only show with others (a schedule's fields with a schedule).
    const everything: Record<string, unknown> = { ...FULL_SPEC, ...COMING_FIELDS };
    const base = renderExport([source(everything)], options);
    const { fieldsRead } = exportFunction(source(everything), options);
    const unused = SPEC_FIELDS.filter((field) => {
      const other = changed(everything[field]);
      if (!fieldsRead.has(field) || other === undefined) return false;
      return renderExport([source({ ...everything, [field]: other })], options) === base;
    });
    expect(unused).toEqual([]);
  });

  it('reads no field it lists as not carried over, except to stay safe without it', () => {
    const { fieldsRead } = exportFunction(source({ ...FULL_SPEC, ...COMING_FIELDS }), options);
    // `auth` is read only to keep a private function off the public network (knative.ts).
    const both = Object.keys(NOT_CARRIED_OVER[format]).filter((field) => fieldsRead.has(field) && field !== 'auth');
    expect(both).toEqual([]);
  });
});

describe('docs/kubernetes.md', () => {
  it('names every field that does not carry over, and every field the image carries', () => {
    const fields = [...EXPORT_FORMATS.flatMap((format) => Object.keys(NOT_CARRIED_OVER[format])), ...Object.keys(CARRIED_BY_IMAGE)];
    expect(fields.filter((field) => !DOCS.includes(`\`${field}\``))).toEqual([]);
  });
});
