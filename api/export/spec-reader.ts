import { ExportInvalid } from '../../controller/index.js';

/**
 * A function's spec read loosely, by field name: the export maps fields other features add
 * (secrets, schedules, traffic...) when they are present, without waiting for their types.
 * Every read is recorded, so the completeness test can tell a field the mapping reads from
 * one it silently drops.
 */
export class SpecReader {
  readonly #spec: Readonly<Record<string, unknown>>;
  readonly #read = new Set<string>();

  constructor(spec: Readonly<Record<string, unknown>>) {
    this.#spec = spec;
  }

  /** The fields the spec has. */
  get fields(): string[] {
    return Object.keys(this.#spec);
  }

  /** The fields a mapping has read so far. */
  get fieldsRead(): ReadonlySet<string> {
    return this.#read;
  }

  /** A number the spec always has (its schema fills a default). */
  number(field: string): number {
    const value = this.#get(field);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.#wrong(field, 'a number');
    return value;
  }

  /** A number, when set. */
  optionalNumber(field: string): number | undefined {
    const value = this.#get(field);
    if (value === undefined || value === null) return undefined;
    return this.number(field);
  }

  /** A string, when set (null reads as unset). */
  optionalString(field: string): string | undefined {
    const value = this.#get(field);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw this.#wrong(field, 'a string');
    return value;
  }

  /** A list of strings; unset reads as empty. */
  strings(field: string): string[] {
    const value = this.#get(field);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw this.#wrong(field, 'a list of strings');
    return value;
  }

  /** A map of strings (env); unset reads as empty. */
  stringMap(field: string): Record<string, string> {
    const value = this.#get(field);
    if (value === undefined || value === null) return {};
    if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) throw this.#wrong(field, 'a map of strings');
    return value as Record<string, string>;
  }

  /** A list of objects (traffic entries); unset reads as empty. */
  objects(field: string): Array<Readonly<Record<string, unknown>>> {
    const value = this.#get(field);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every(isObject)) throw this.#wrong(field, 'a list of objects');
    return value;
  }

  /** An object (a nested policy), when set. */
  optionalObject(field: string): Readonly<Record<string, unknown>> | undefined {
    const value = this.#get(field);
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) throw this.#wrong(field, 'an object');
    return value;
  }

  /** Any JSON value (a payload), when set. */
  optionalJson(field: string): unknown {
    return this.#get(field) ?? undefined;
  }

  #get(field: string): unknown {
    this.#read.add(field);
    return Object.hasOwn(this.#spec, field) ? this.#spec[field] : undefined;
  }

  #wrong(field: string, expected: string): ExportInvalid {
    return new ExportInvalid(`spec.${field} is not ${expected}`);
  }
}

function isObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
