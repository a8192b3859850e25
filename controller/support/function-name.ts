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

/** Returns `raw` when it is a valid secret name (the function-name rule: it becomes a file name), else InvalidName. */
export function checkSecretName(raw: string): string {
  if (FUNCTION_NAME_PATTERN.test(raw)) return raw;
  const short = raw.length > 100 ? `${raw.slice(0, 100)}...` : raw;
  throw new InvalidName(`${JSON.stringify(short)} is not a valid secret name: it ${FUNCTION_NAME_RULE}`);
}
