/** The admin token, kept for this tab only (sessionStorage) and sent as a Bearer header. */
const TOKEN_KEY = 'glambdar.adminToken';

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The runtime refused the token (401). */
export class Unauthorized extends Error {}

/** Any other answer than 2xx: the runtime's `{error, code}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

function headers(token: string | null): HeadersInit {
  return token === null ? {} : { authorization: `Bearer ${token}` };
}

async function failure(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => null)) as { error?: string; code?: string } | null;
  if (res.status === 401) return new Unauthorized(body?.error ?? 'the runtime refused the admin token');
  return new ApiError(res.status, body?.error ?? `${res.status} ${res.statusText}`, body?.code);
}

/** GET a data route as JSON with the saved token (or `token`). */
export async function getJson<T>(path: string, options: { signal?: AbortSignal; token?: string } = {}): Promise<T> {
  const res = await fetch(path, { headers: headers(options.token ?? savedToken()), signal: options.signal, cache: 'no-store' });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/**
 * Reads a newline-delimited JSON stream (`GET /logs/:name?follow=1`), one call per record,
 * until it ends or `signal` aborts.
 */
export async function followLines(path: string, signal: AbortSignal, onRecord: (record: unknown) => void): Promise<void> {
  const res = await fetch(path, { headers: headers(savedToken()), signal, cache: 'no-store' });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    rest += value;
    let nl = rest.indexOf('\n');
    while (nl >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line !== '') onRecord(JSON.parse(line));
      nl = rest.indexOf('\n');
    }
  }
}

/** True for the error an aborted fetch throws (leaving a page): nothing to report. */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}
