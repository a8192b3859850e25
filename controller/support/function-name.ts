import { FUNCTION_NAME_PATTERN, FUNCTION_NAME_RULE } from '../../schemas/index.js';
import { InvalidName } from './errors.js';

/**
 * Returns `raw` when it is a valid function name, else throws InvalidName with the one
 * message every entry point gives (the API, the invoke path, code installs).
 */
export function checkFunctionName(raw: string): string {
  if (FUNCTION_NAME_PATTERN.test(raw)) return raw;
  const short = raw.length > 100 ? `${raw.slice(0, 100)}...` : raw;
  throw new InvalidName(`${JSON.stringify(short)} is not a valid function name: it ${FUNCTION_NAME_RULE}`);
}

/**
 * A valid name close to `raw`, for messages that suggest one: camelCase split by "-",
 * lower-cased, every other character "-", trimmed to 63. Null when nothing valid is left.
 */
export function suggestFunctionName(raw: string): string | null {
  const name = raw
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
  return FUNCTION_NAME_PATTERN.test(name) ? name : null;
}

/** Returns `raw` when it is a valid secret name (the function-name rule: it becomes a file name), else InvalidName. */
export function checkSecretName(raw: string): string {
  if (FUNCTION_NAME_PATTERN.test(raw)) return raw;
  const short = raw.length > 100 ? `${raw.slice(0, 100)}...` : raw;
  throw new InvalidName(`${JSON.stringify(short)} is not a valid secret name: it ${FUNCTION_NAME_RULE}`);
}

/** A function, and the traffic tag of a route `<name>@<tag>` (undefined: split by weight). */
export interface InvokeTarget {
  name: string;
  tag: string | undefined;
}

/**
 * Splits the path segment of `/invoke/<name>[@<tag>]` (and `/async/<name>[@<tag>]`): `@` cannot
 * occur in a function name, so the first one starts the tag. The name is checked here
 * (InvalidName); a tag no entry carries is the Runtime's 404 (`TAG_NOT_FOUND`).
 */
export function splitTaggedName(segment: string): InvokeTarget {
  const at = segment.indexOf('@');
  if (at < 0) return { name: checkFunctionName(segment), tag: undefined };
  return { name: checkFunctionName(segment.slice(0, at)), tag: segment.slice(at + 1) };
}
