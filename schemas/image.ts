import { z } from 'zod';

/**
 * Where a function's image is named: `glambdar image` builds it under this name and
 * `glambdar export` references it, so both read the rule from here.
 */
export const DEFAULT_IMAGE_PREFIX = 'glambdar';

/** Characters of the code digest an image tag carries: enough to tell versions apart, short enough to read. */
const TAG_DIGEST_CHARS = 12;

/**
 * An image prefix as Docker's reference grammar has it: an optional registry host (with a
 * port), then lower-case path components separated by `/` (`glambdar`, `ghcr.io/acme/fns`,
 * `registry.local:5000/team`). The function's name is appended as the last component.
 */
const IMAGE_PREFIX_PATTERN =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** An image prefix (`--image-prefix`, `?imagePrefix=`). */
export const ImagePrefix = z
  .string()
  .max(180, 'must be at most 180 characters')
  .regex(IMAGE_PREFIX_PATTERN, 'must be an image repository prefix such as "glambdar", "ghcr.io/acme" or "registry.local:5000/team"');

/**
 * The tag of a revision's image: `r<revision>-<first 12 characters of the code digest>`. A new
 * revision gives a new tag; the same revision always names the same code.
 */
export function imageTag(revision: number, codeDigest: string): string {
  return `r${revision}-${codeDigest.slice(0, TAG_DIGEST_CHARS)}`;
}

/** The full image reference of a function's revision: `<prefix>/<function>:<tag>`. */
export function imageReference(prefix: string, functionName: string, revision: number, codeDigest: string): string {
  return `${prefix}/${functionName}:${imageTag(revision, codeDigest)}`;
}
