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

/** A tag `glambdar image --tag` names instead of `r<revision>-<digest>` (Docker's tag grammar). */
export const ImageTag = z
  .string()
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag: letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"');

/** `POST /images/:name`'s JSON body (every field optional; an empty body is fine). */
export const ImageBuildBody = z.strictObject({
  /** The registry path the image is named under (`<prefix>/<name>:<tag>`), as the export's `imagePrefix`. */
  imagePrefix: ImagePrefix.default(DEFAULT_IMAGE_PREFIX),
  /** A tag of the user's; none: `r<revision>-<digest>`, the one the export references. */
  tag: ImageTag.optional(),
});
export type ImageBuildBody = z.infer<typeof ImageBuildBody>;
