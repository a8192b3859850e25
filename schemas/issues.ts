import type { z } from 'zod';

/** A parse result that never throws: the value, or readable issues naming each field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: string[] };

/** An issue's own message; a record key that failed its rule says which rule (zod only says "Invalid key"). */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key' && issue.issues.length > 0) return issue.issues.map((inner) => inner.message).join('; ');
  return issue.message;
}

/** Formats zod issues as `field.path: message` lines a user can act on. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const where = path ? ` in ${path}` : '';
      return `unknown field${issue.keys.length > 1 ? 's' : ''}${where}: ${issue.keys.join(', ')}`;
    }
    return path ? `${path}: ${issueMessage(issue)}` : issueMessage(issue);
  });
}

/** Runs `schema.safeParse` and returns a {@link Parsed} with readable issues. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown): Parsed<z.infer<S>> {
  const result = schema.safeParse(input);
  return result.success ? { ok: true, value: result.data } : { ok: false, issues: describeIssues(result.error) };
}
