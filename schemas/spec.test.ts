import { describe, expect, it } from 'vitest';
import { parseWith } from './issues.js';
import { FunctionName, FunctionSpec, SpecPatch, specPatchFromForm } from './spec.js';

describe('FunctionSpec', () => {
  it('fills every default of an empty spec', () => {
    expect(FunctionSpec.parse({})).toEqual({
      rateLimit: 0,
      maxConcurrency: 10,
      minWarm: 0,
      maxReplicas: 10,
      timeoutMs: 30_000,
      memoryMb: 128,
      cpus: 0.5,
      env: {},
      scaleDownDelayMs: 60_000,
      idleTimeoutMs: 600_000,
      auth: 'none',
      secrets: [],
      retry: { attempts: 3, backoffMs: 1000, maxBackoffMs: 60_000 },
      asyncConcurrency: 10,
      schedule: null,
      timezone: 'UTC',
      concurrencyPolicy: 'Allow',
      schedulePayload: {},
      startingDeadlineSeconds: 300,
    });
  });

  it('refuses async and schedule fields that cannot work, naming the field and why', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ retry: { attempts: 0 } }, 'retry.attempts: Too small: expected number to be >=1'],
      [{ retry: { attempts: 2, tries: 3 } }, 'unknown field in retry: tries'],
      [{ retry: { backoffMs: 5000, maxBackoffMs: 1000 } }, 'retry.backoffMs: backoffMs must not exceed maxBackoffMs'],
      [{ asyncConcurrency: 0 }, 'asyncConcurrency: Too small: expected number to be >=1'],
      [{ timezone: 'Mars/Olympus' }, 'timezone: must be an IANA time zone name, e.g. "Europe/Paris" or "UTC"'],
      [{ schedule: 'every minute' }, 'schedule: must be a cron expression of 5 fields, or 6 with seconds first'],
      [{ concurrencyPolicy: 'Replace' }, 'concurrencyPolicy: Invalid option: expected one of "Allow"|"Forbid"'],
      [{ startingDeadlineSeconds: -1 }, 'startingDeadlineSeconds: Too small: expected number to be >=0'],
    ];
    for (const [input, issue] of cases) {
      const parsed = parseWith(FunctionSpec, input);
      expect(parsed.ok, JSON.stringify(input)).toBe(false);
      if (!parsed.ok) expect(parsed.issues).toEqual([issue]);
    }
  });

  it('takes a schedule of 5 or 6 fields, an IANA zone and any JSON payload', () => {
    expect(FunctionSpec.parse({ schedule: '*/2 * * * * *', timezone: 'Europe/Paris', schedulePayload: [1, { a: null }] })).toMatchObject({
      schedule: '*/2 * * * * *',
      timezone: 'Europe/Paris',
      schedulePayload: [1, { a: null }],
    });
    expect(FunctionSpec.parse({ schedule: '0 9 * * 1-5' }).schedule).toBe('0 9 * * 1-5');
  });

  it('keeps given fields and fills the rest', () => {
    expect(FunctionSpec.parse({ rateLimit: 5, env: { GREETING: 'hi' } })).toMatchObject({
      rateLimit: 5,
      maxConcurrency: 10,
      env: { GREETING: 'hi' },
    });
  });

  it('refuses minWarm above maxReplicas, naming minWarm', () => {
    const parsed = parseWith(FunctionSpec, { minWarm: 5, maxReplicas: 2 });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toEqual(['minWarm: minWarm must not exceed maxReplicas']);
    expect(parseWith(FunctionSpec, { minWarm: 2, maxReplicas: 2 }).ok).toBe(true);
  });

  it('refuses out-of-range and non-integer numbers, naming the field', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ rateLimit: -1 }, 'rateLimit'],
      [{ maxConcurrency: 0 }, 'maxConcurrency'],
      [{ maxReplicas: 0 }, 'maxReplicas'],
      [{ timeoutMs: 1.5 }, 'timeoutMs'],
      [{ memoryMb: 'lots' }, 'memoryMb'],
      [{ cpus: 0 }, 'cpus'],
    ];
    for (const [input, field] of cases) {
      const parsed = parseWith(FunctionSpec, input);
      expect(parsed.ok, JSON.stringify(input)).toBe(false);
      if (!parsed.ok) expect(parsed.issues[0]).toMatch(new RegExp(`^${field}: `));
    }
  });

  it('refuses an env variable name that is not one', () => {
    const parsed = parseWith(FunctionSpec, { env: { '1BAD': 'x' } });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues.join('\n')).toContain('env');
  });
});

describe('specPatchFromForm, async and schedule fields', () => {
  it('reads retry and schedulePayload as JSON, numbers as numbers, and an empty schedule as none', () => {
    const patch = specPatchFromForm({ retry: '{"attempts":5}', schedulePayload: '{"a":1}', asyncConcurrency: '4', startingDeadlineSeconds: '60', schedule: '' });
    expect(patch).toEqual({ retry: { attempts: 5 }, schedulePayload: { a: 1 }, asyncConcurrency: 4, startingDeadlineSeconds: 60, schedule: null });
    expect(SpecPatch.parse(patch)).toEqual(patch);
  });
});

describe('FunctionName', () => {
  it.each(['a', '0', 'hello', 'hello-world', 'a1-b2', '9lives', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(FunctionName.safeParse(name).success).toBe(true);
  });

  it.each(['', 'Hello', '-hello', 'hello-', 'hello_world', 'hello.world', 'héllo', 'a b', '../etc', 'a'.repeat(64)])(
    'refuses %j',
    (name) => {
      const parsed = parseWith(FunctionName, name);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.issues[0]).toContain('DNS label');
    },
  );
});

describe('SpecPatch', () => {
  it('accepts a partial spec without filling defaults', () => {
    expect(parseWith(SpecPatch, { rateLimit: 3 })).toEqual({ ok: true, value: { rateLimit: 3 } });
    expect(parseWith(SpecPatch, {})).toEqual({ ok: true, value: {} });
  });

  it('refuses an unknown field with a message naming it', () => {
    const parsed = parseWith(SpecPatch, { rateLimit: 1, ratelimit: 2 });
    expect(parsed).toEqual({ ok: false, issues: ['unknown field: ratelimit'] });
  });

  it('names every unknown field at once', () => {
    const parsed = parseWith(SpecPatch, { colour: 'red', size: 3 });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toEqual(['unknown fields: colour, size']);
  });

  it('names the field of a bad value', () => {
    const parsed = parseWith(SpecPatch, { maxConcurrency: 0 });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]).toMatch(/^maxConcurrency: /);
  });
});

describe('specPatchFromForm', () => {
  it('converts numeric strings and env JSON and skips the name', () => {
    const input = specPatchFromForm({
      name: 'hello',
      rateLimit: '5',
      maxConcurrency: ' 4 ',
      cpus: '0.25',
      env: '{"GREETING":"hi"}',
    });
    expect(input).toEqual({ rateLimit: 5, maxConcurrency: 4, cpus: 0.25, env: { GREETING: 'hi' } });
    expect(parseWith(SpecPatch, input)).toEqual({
      ok: true,
      value: { rateLimit: 5, maxConcurrency: 4, cpus: 0.25, env: { GREETING: 'hi' } },
    });
  });

  it('lets SpecPatch refuse an empty or non-numeric number field, naming it', () => {
    for (const raw of ['', 'five']) {
      const parsed = parseWith(SpecPatch, specPatchFromForm({ rateLimit: raw }));
      expect(parsed.ok, JSON.stringify(raw)).toBe(false);
      if (!parsed.ok) expect(parsed.issues[0]).toBe('rateLimit: Invalid input: expected number, received string');
    }
  });

  it('lets SpecPatch refuse env that is not a JSON object, naming env', () => {
    const parsed = parseWith(SpecPatch, specPatchFromForm({ env: 'GREETING=hi' }));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues[0]).toMatch(/^env: /);
  });

  it('passes unknown form fields through so SpecPatch can name them', () => {
    const parsed = parseWith(SpecPatch, specPatchFromForm({ name: 'x', memory: '256' }));
    expect(parsed).toEqual({ ok: false, issues: ['unknown field: memory'] });
  });
});

describe('FunctionSpec env', () => {
  it('refuses names the runtime and its worker read (GLAMBDAR_*), naming the variable', () => {
    for (const name of ['GLAMBDAR_STEM', 'GLAMBDAR_SOCKET', 'glambdar_fn_dir']) {
      const parsed = parseWith(FunctionSpec, { env: { [name]: '1' } });
      expect(parsed.ok, name).toBe(false);
      if (!parsed.ok) expect(parsed.issues.join('\n')).toMatch(new RegExp(`env.*${name}.*reserved|reserved`));
    }
  });

  it('refuses a value with a NUL byte, naming its key', () => {
    const parsed = parseWith(FunctionSpec, { env: { GOOD: 'x', BAD: 'a\0b' } });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toEqual(['env.BAD: must not contain a NUL character']);
  });
});

describe('spec.traffic', () => {
  it('accepts a split in Knative shape, percent defaulting to 0 for a tag alone', () => {
    const parsed = parseWith(FunctionSpec, {
      traffic: [{ revision: 7, percent: 90 }, { latestRevision: true, percent: 10, tag: 'canary' }, { revision: 6, tag: 'old' }],
    });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.value.traffic?.[2]).toEqual({ revision: 6, tag: 'old', percent: 0 });
  });

  it('stores no split for null or an empty list, so a merge patch can remove it', () => {
    expect(FunctionSpec.parse({ traffic: null }).traffic).toBeUndefined();
    expect(FunctionSpec.parse({ traffic: [] }).traffic).toBeUndefined();
    expect(parseWith(SpecPatch, { traffic: null })).toEqual({ ok: true, value: { traffic: null } });
  });

  it.each([
    [[{ revision: 1, percent: 50 }], 'traffic: percentages must sum to 100; these sum to 50'],
    [[{ revision: 1, percent: 100.5 }], 'traffic.0.percent: must be a whole number'],
    [[{ revision: 1, percent: 101 }], 'traffic.0.percent: Too big: expected number to be <=100'],
    [[{ percent: 100 }], 'traffic.0.revision: an entry needs a revision number or latestRevision: true'],
    [[{ revision: 1, latestRevision: true, percent: 100 }], 'traffic.0.revision: an entry names either a revision or latestRevision: true, not both'],
    [[{ revision: 1, percent: 50, tag: 'x' }, { revision: 2, percent: 50, tag: 'x' }], 'traffic.1.tag: tag "x" is used by more than one entry'],
    [[{ revision: 1, percent: 100, tag: 'Bad@Tag' }], 'traffic.0.tag: must be a DNS label: lower-case letters, digits and "-", 1-63 characters'],
    [[{ revision: 1, percent: 100, weight: 1 }], 'unknown field in traffic.0: weight'],
  ])('refuses %j naming the field', (traffic, issue) => {
    const parsed = parseWith(FunctionSpec, { traffic });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toContain(issue);
  });

  it('reads a form field of traffic as JSON', () => {
    expect(specPatchFromForm({ traffic: '[{"latestRevision":true,"percent":100}]' })).toEqual({ traffic: [{ latestRevision: true, percent: 100 }] });
  });
});

describe('spec.interface and spec.handler', () => {
  it('takes the five interfaces and handler paths as Lambda writes them; absent means detect and index', () => {
    for (const name of ['glambdar', 'lambda', 'openfaas', 'knative', 'fetch']) expect(FunctionSpec.parse({ interface: name }).interface).toBe(name);
    expect(FunctionSpec.parse({ handler: 'src/app.handler' }).handler).toBe('src/app.handler');
    expect(FunctionSpec.parse({ handler: 'handler' }).handler).toBe('handler');
    expect(FunctionSpec.parse({ handler: 'dist/@scope/fn-v2.main_$' }).handler).toBe('dist/@scope/fn-v2.main_$');
    expect(FunctionSpec.parse({})).not.toHaveProperty('interface');
    expect(FunctionSpec.parse({ interface: null, handler: null }).interface).toBeUndefined();
  });

  it.each([
    [{ interface: 'azure' }, 'interface: Invalid option: expected one of "glambdar"|"lambda"|"openfaas"|"knative"|"fetch"'],
    [{ handler: '/abs/app.handler' }, 'handler: must be a relative path to the file without its extension, then the export: e.g. "index.handler" or "src/app.handler" (no leading "/", no "." or ".." segments)'],
    [{ handler: '../up.handler' }, 'handler: must be a relative path to the file without its extension, then the export: e.g. "index.handler" or "src/app.handler" (no leading "/", no "." or ".." segments)'],
    [{ handler: 'src/.hidden.handler' }, 'handler: must be a relative path to the file without its extension, then the export: e.g. "index.handler" or "src/app.handler" (no leading "/", no "." or ".." segments)'],
    [{ handler: 'src/app.1x' }, 'handler: the part after the last "." must be the name of an export (a JavaScript identifier)'],
  ])('refuses %j naming the field', (input, issue) => {
    const parsed = parseWith(FunctionSpec, input);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues).toContain(issue);
  });

  it('lets a patch reset either with null, and a form field with an empty string', () => {
    expect(SpecPatch.parse({ interface: null, handler: null })).toEqual({ interface: null, handler: null });
    expect(specPatchFromForm({ interface: '', handler: '', name: 'x' })).toEqual({ interface: null, handler: null });
    expect(specPatchFromForm({ interface: 'lambda', handler: 'src/app.handler' })).toEqual({ interface: 'lambda', handler: 'src/app.handler' });
  });
});
