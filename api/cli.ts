#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { specPatchFromForm } from '../schemas/index.js';
import type { ContainerOutputEntry, FunctionInfo, LogRecord } from '../controller/index.js';
import { infoTable } from './info-table.js';
import { down, gc, serve } from './cli/local.js';
import { containerOutputLines, describeFunction, logRecordLines, machine, outputFormat, wideTable } from './cli/output.js';
import { USAGE } from './cli/usage.js';
import { VERSION } from './version.js';
import { findToken, runtimeUrl, unauthorizedHint } from './cli-token.js';

function fieldsOf(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`expected key=value, got "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

const found = findToken();
/** Set by `invoke --key`: the request carries a function key instead of the admin token. */
let usedKey = false;

async function print(res: Response): Promise<void> {
  const text = await res.text();
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  if (!res.ok) process.exitCode = 1;
  if (res.status === 401) process.stderr.write(`glambdar: ${unauthorizedHint(found, usedKey)}\n`);
}

/** `--name value` taken out of `args`, or undefined. */
function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const value = args[at + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  args.splice(at, 2);
  return value;
}

async function stdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `secret ls` as a table. */
function secretTable(list: { secrets: Array<{ name: string; size: number; updatedAt: string; usedBy: string[] }> }): string {
  const rows = [['NAME', 'SIZE', 'UPDATED', 'USED BY'], ...list.secrets.map((s) => [s.name, String(s.size), s.updatedAt, s.usedBy.join(',') || '-'])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n') + '\n';
}

/** The fields of a job `glambdar jobs` prints. */
interface JobRow {
  requestId: string;
  funcName: string;
  status: string;
  attempts: number;
  statusCode: number | null;
  createdAt: string;
  error: string | null;
}

/** `glambdar jobs`: one aligned line per job, newest first. */
function jobsTable(jobs: JobRow[]): string {
  const rows = [['REQUEST-ID', 'FUNCTION', 'STATUS', 'ATTEMPTS', 'CODE', 'CREATED', 'ERROR']];
  for (const j of jobs) rows.push([j.requestId, j.funcName, j.status, String(j.attempts), j.statusCode === null ? '-' : String(j.statusCode), j.createdAt, j.error ?? '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** `export`'s arguments: a name or `--all`, `--format F`, `--image-prefix R` (also as `--flag=value`). */
function exportArgs(args: string[]): { path: string; query: URLSearchParams } {
  const query = new URLSearchParams();
  const flags: Record<string, string> = { '--format': 'format', '--image-prefix': 'imagePrefix' };
  let name: string | undefined;
  let all = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '--all') all = true;
    else if (flags[flag] !== undefined) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      query.set(flags[flag], value);
    } else if (arg.startsWith('-') || name !== undefined) throw new Error(`export: unexpected argument "${arg}"`);
    else name = arg;
  }
  if (all === (name !== undefined)) throw new Error('export needs a function name or --all (not both)');
  return { path: name === undefined ? '/export' : `/export/${encodeURIComponent(name)}`, query };
}

/** `image`'s arguments: a name, `--tag T`, `--image-prefix R` (also as `--flag=value`), as POST /images/:name's body. */
function imageArgs(args: string[]): { name: string; body: Record<string, string> } {
  const flags: Record<string, string> = { '--tag': 'tag', '--image-prefix': 'imagePrefix' };
  const body: Record<string, string> = {};
  let name: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flags[flag] !== undefined) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      body[flags[flag]] = value;
    } else if (arg.startsWith('-') || name !== undefined) throw new Error(`image: unexpected argument "${arg}"`);
    else name = arg;
  }
  if (name === undefined) throw new Error('image needs a function name');
  return { name, body };
}

async function client(command: string, args: string[]): Promise<void> {
  const base = runtimeUrl();
  const fetch = (url: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization') && found.token !== undefined) headers.set('authorization', `Bearer ${found.token}`);
    return globalThis.fetch(url, { ...init, headers }).catch((err: unknown) => {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new Error(`cannot reach the runtime at ${base} (${why}); is it running? Set GLAMBDAR_URL to another address`);
    });
  };
  switch (command) {
    case 'deploy': {
      const wait = args.includes('--wait');
      const [file, ...rest] = args.filter((a) => a !== '--wait');
      if (!file) throw new Error('deploy needs a .zip file');
      const form = new FormData();
      form.set('file', new Blob([await readFile(file)]), basename(file));
      for (const [k, v] of Object.entries(fieldsOf(rest))) form.set(k, v);
      return print(await fetch(`${base}/deploy${wait ? '?wait=ready' : ''}`, { method: 'POST', body: form }));
    }
    case 'invoke': {
      const key = option(args, '--key');
      const async = args.includes('--async');
      const [name, body] = args.filter((a) => a !== '--async');
      if (!name) throw new Error('invoke needs a function name');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (key !== undefined) {
        headers['authorization'] = `Bearer ${key}`;
        usedKey = true;
      }
      return print(await fetch(`${base}/${async ? 'async' : 'invoke'}/${name}`, { method: 'POST', headers, body: body ?? '{}' }));
    }
    case 'jobs': {
      const at = args.indexOf('--status');
      const status = at >= 0 ? args[at + 1] : undefined;
      if (at >= 0 && !status) throw new Error('--status needs one of queued, running, succeeded, dead');
      const [name] = args.filter((_, i) => at < 0 || (i !== at && i !== at + 1));
      const query = new URLSearchParams();
      if (name) query.set('function', name);
      if (status) query.set('status', status);
      const res = await fetch(`${base}/invocations?${query}`);
      if (!res.ok) return print(res);
      process.stdout.write(jobsTable((await res.json()) as JobRow[]));
      return;
    }
    case 'job':
      if (!args[0]) throw new Error('job needs a request id');
      return print(await fetch(`${base}/invocations/${encodeURIComponent(args[0])}`));
    case 'retry':
      if (!args[0]) throw new Error('retry needs a request id');
      return print(await fetch(`${base}/invocations/${encodeURIComponent(args[0])}/retry`, { method: 'POST' }));
    case 'info': {
      const { format, rest } = outputFormat(args);
      const [name] = rest;
      const res = await fetch(name ? `${base}/info/${name}` : `${base}/info`);
      if (!res.ok) return print(res);
      const body = (await res.json()) as FunctionInfo | { functions: FunctionInfo[] };
      const functions = 'functions' in body ? body.functions : [body];
      if (format === 'json' || format === 'yaml') process.stdout.write(machine('functions' in body ? functions : body, format));
      else if (format === 'wide') process.stdout.write(wideTable(functions, Date.now()));
      else process.stdout.write(name ? describeFunction(functions[0]!, Date.now()) : infoTable(functions, Date.now()));
      return;
    }
    case 'logs': {
      const { format, rest } = outputFormat(args);
      const follow = rest.some((a) => a === '-f' || a === '--follow');
      const container = rest.includes('--container');
      const [name, limit = '20'] = rest.filter((a) => a !== '-f' && a !== '--follow' && a !== '--container');
      if (!name) throw new Error('logs needs a function name');
      if (container && follow) throw new Error('logs: --container shows what is kept; it does not follow (-f)');
      const res = await fetch(`${base}/logs/${name}?limit=${limit}${follow ? '&follow=1' : ''}${container ? '&container=1' : ''}`);
      if (!res.ok) return print(res);
      if (format === 'wide') throw new Error('logs: -o takes json or yaml');
      if (format === 'json') {
        // As the server sends it: a JSON array, or one record per line when following.
        if (follow && res.body) for await (const chunk of res.body) process.stdout.write(chunk);
        else await print(res);
        return;
      }
      if (format === 'yaml') {
        if (follow) throw new Error('logs: -f prints records as they come; use -o json for one JSON line each');
        process.stdout.write(machine(await res.json(), 'yaml'));
        return;
      }
      if (container) {
        for (const entry of (await res.json()) as ContainerOutputEntry[]) process.stdout.write(containerOutputLines(entry));
        return;
      }
      if (!follow || !res.body) {
        // Oldest first, as a log reads; the API gives the newest first.
        for (const record of ((await res.json()) as LogRecord[]).reverse()) process.stdout.write(logRecordLines(record));
        return;
      }
      // The server streams one JSON record per line and ends when the function is deleted.
      let pending = '';
      for await (const chunk of res.body) {
        pending += Buffer.from(chunk).toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.trim() !== '') process.stdout.write(logRecordLines(JSON.parse(line) as LogRecord));
        }
      }
      return;
    }
    case 'config': {
      const [name, ...rest] = args;
      if (!name) throw new Error('config needs a function name');
      // The same reading as deploy's form fields: numbers where the spec has them, env as JSON.
      const patch = specPatchFromForm(fieldsOf(rest));
      return print(
        await fetch(`${base}/config/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) }),
      );
    }
    case 'revisions':
      if (!args[0]) throw new Error('revisions needs a function name');
      return print(await fetch(`${base}/revisions/${args[0]}?format=table`));
    case 'rollback': {
      const [name, to] = args;
      if (!name) throw new Error('rollback needs a function name');
      // A number is a revision; anything else is a tag of the traffic.
      const body = to === undefined ? {} : /^\d+$/.test(to) ? { revision: Number(to) } : { tag: to };
      return print(
        await fetch(`${base}/rollback/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      );
    }
    case 'export': {
      const { path, query } = exportArgs(args);
      const res = await fetch(`${base}${path}?${query}`);
      // YAML goes to stdout for `| kubectl apply -f -`; an error goes to stderr, so nothing half-made is applied.
      if (res.ok) return print(res);
      process.stderr.write(`${await res.text()}\n`);
      process.exitCode = 1;
      return;
    }
    case 'image': {
      const { name, body } = imageArgs(args);
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
      return print(await fetch(`${base}/images/${encodeURIComponent(name)}`, init));
    }
    case 'ui':
      return dashboard(base, fetch);
    case 'del':
      if (!args[0]) throw new Error('del needs a function name');
      return print(await fetch(`${base}/del/${args[0]}`, { method: 'DELETE' }));
    case 'secret':
      return secret(args, base, fetch);
    case 'keys':
      return keys(args, base, fetch);
    default:
      throw new UnknownCommand(command);
  }
}

/** A command this CLI does not have: exit 2, as a usage error. */
class UnknownCommand extends Error {
  constructor(command: string) {
    super(`unknown command "${command}"; run glambdar help for the commands`);
  }
}

type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * `glambdar ui`: the dashboard's address on stdout (for `xdg-open "$(glambdar ui)"`), and on
 * stderr whether the runtime answers and takes the token, and where the token is. It opens no
 * browser and never prints the token.
 */
async function dashboard(base: string, fetch: Fetch): Promise<void> {
  process.stdout.write(`${base.replace(/\/+$/, '')}/ui\n`);
  const res = await fetch(`${base}/stats?seconds=1`);
  const where = found.from === 'GLAMBDAR_TOKEN' ? 'the value of GLAMBDAR_TOKEN' : `the content of ${found.from}`;
  if (res.status === 401) {
    process.stderr.write(`glambdar: ${unauthorizedHint(found, false)}\n`);
    process.exitCode = 1;
  } else if (!res.ok) {
    process.stderr.write(`glambdar: the runtime answered ${res.status}: ${await res.text()}\n`);
    process.exitCode = 1;
  } else process.stderr.write(`Sign in with the admin token: ${where} (kept in that browser tab only).\n`);
}

async function secret(args: string[], base: string, fetch: Fetch): Promise<void> {
  const [verb, ...rest] = args;
  const url = (name: string | undefined) => {
    if (!name) throw new Error(`secret ${verb} needs a secret name`);
    return `${base}/secrets/${encodeURIComponent(name)}`;
  };
  switch (verb) {
    case 'set': {
      const file = option(rest, '--from-file');
      const [name, value] = rest;
      if (file === undefined && value === undefined) throw new Error('secret set needs a value: --from-file F, the value, or - to read stdin');
      const body = file !== undefined ? await readFile(file) : value === '-' ? await stdin() : Buffer.from(value!);
      return print(await fetch(url(name), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(body) }));
    }
    case 'ls': {
      const res = await fetch(`${base}/secrets`);
      if (!res.ok) return print(res);
      process.stdout.write(secretTable((await res.json()) as Parameters<typeof secretTable>[0]));
      return;
    }
    case 'rm':
      return print(await fetch(url(rest[0]), { method: 'DELETE' }));
    default:
      throw new Error('usage: glambdar secret set <name> [--from-file F | value | -] | secret ls | secret rm <name>');
  }
}

async function keys(args: string[], base: string, fetch: Fetch): Promise<void> {
  const [verb, name, id] = args;
  if (!name) throw new Error('usage: glambdar keys create <function> | keys ls <function> | keys rm <function> <id>');
  const url = `${base}/keys/${encodeURIComponent(name)}`;
  switch (verb) {
    case 'create':
      return print(await fetch(url, { method: 'POST' }));
    case 'ls':
      return print(await fetch(url));
    case 'rm':
      if (!id) throw new Error('keys rm needs a key id (keys ls lists them)');
      return print(await fetch(`${url}/${encodeURIComponent(id)}`, { method: 'DELETE' }));
    default:
      throw new Error('usage: glambdar keys create <function> | keys ls <function> | keys rm <function> <id>');
  }
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') process.stdout.write(USAGE + '\n');
  else if (command === 'version' || command === '--version') process.stdout.write(`glambdar ${VERSION}\n`);
  else if (command === 'serve') await serve(args);
  else if (command === 'down') await down(runtimeUrl());
  else if (command === 'gc') await gc();
  else await client(command, args);
} catch (err) {
  process.stderr.write(`glambdar: ${(err as Error).message}\n`);
  process.exit(err instanceof UnknownCommand ? 2 : 1);
}
