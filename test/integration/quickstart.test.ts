import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  control,
  HELLO_HANDLER,
  deploy,
  docker,
  eventually,
  functionContainers,
  integrationEnabled,
  invoke,
  makeZip,
  startRuntime,
  type TestRuntime,
} from './harness.js';

describe.runIf(integrationEnabled)('README quick start on a real Docker engine', () => {
  let rt: TestRuntime;

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.destroy();
  });

  it('deploys myfunc.zip and answers the README invocation', async () => {
    const res = await deploy(rt.url, 'myfunc.zip', await makeZip({ 'index.js': HELLO_HANDLER }));
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ function: 'myfunc', status: 'deployed', generation: 1 });

    const answer = await invoke(rt.url, 'myfunc', { name: 'Glambdar' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/application\/json/);
    expect(await answer.json()).toEqual({ message: 'Hello Glambdar!' });
  });

  it('keeps that invocation\'s console output in its log record', async () => {
    await invoke(rt.url, 'myfunc', { name: 'Logger' });
    const res = await control(rt, `/logs/myfunc?limit=1`);
    expect(res.status).toBe(200);
    const [record] = (await res.json()) as Array<Record<string, unknown>>;
    expect(record).toMatchObject({ funcName: 'myfunc', statusCode: 200, stdout: 'greeting Logger\n', stderr: 'a line on stderr\n' });
    expect(record).toHaveProperty('requestId');
    expect(record).toHaveProperty('durationMs');
    expect(record).toHaveProperty('coldStart', false);
  });

  it('shows the original and the new fields in /info', async () => {
    const res = await control(rt, `/info/myfunc`);
    const info = (await res.json()) as Record<string, unknown> & { status: Record<string, unknown> };
    expect(info).toMatchObject({ name: 'myfunc', invokeCount: 2, rateLimit: 0, maxConcurrency: 10, generation: 1, source: 'api' });
    expect(info['lastInvokedAt']).toEqual(expect.any(String));
    expect(info.status).toMatchObject({ observedGeneration: 1, readyReplicas: 1 });
    const list = (await (await control(rt, `/info`)).json()) as { count: number };
    expect(list.count).toBe(1);
  });

  it('changes the rate limit live through /config', async () => {
    const res = await control(rt, `/config/myfunc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rateLimit: 50 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ function: 'myfunc', status: 'updated', generation: 2, rateLimit: 50 });
    const answer = await invoke(rt.url, 'myfunc', { name: 'again' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('ratelimit-limit')).toBe('50');
  });

  it('runs the function without network, on a read-only root, as an unprivileged user', async () => {
    const probe = `const fs = require('fs');
exports.handler = async () => {
  const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'written'; } catch (e) { return e.code; } };
  return {
    interfaces: Object.keys(require('os').networkInterfaces()),
    uid: process.getuid(),
    rootWrite: tryWrite('/etc/probe'),
    codeWrite: tryWrite('/fn/probe'),
    tmpWrite: tryWrite('/tmp/probe'),
  };
};`;
    expect((await deploy(rt.url, 'probe.zip', await makeZip({ 'index.js': probe }))).status).toBe(201);
    const res = await invoke(rt.url, 'probe');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ interfaces: ['lo'], uid: 65534, rootWrite: 'EROFS', codeWrite: 'EROFS', tmpWrite: 'written' });

    // The container that served may be a stem-born one, replaced meanwhile by a labelled one:
    // inspect whichever serves the function now (each is hardened the same way).
    const inspect = await eventually(async () => {
      for (const c of await functionContainers(rt, 'probe')) {
        const found = await docker.getContainer(c.Id).inspect().catch(() => undefined);
        if (found?.State.Running) return found;
      }
      return undefined;
    }, 10_000, 'a running container of probe');
    expect(inspect.HostConfig.NetworkMode).toBe('none');
    expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
    expect(inspect.HostConfig.CapDrop).toEqual(['ALL']);
    expect(inspect.HostConfig.SecurityOpt).toContain('no-new-privileges');
    expect(inspect.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(inspect.HostConfig.PidsLimit).toBeGreaterThan(0);
    expect(inspect.Config.User).toBe('65534:65534');
  });

  it('answers 500 JSON when the handler throws', async () => {
    const thrower = `exports.handler = async () => { throw new Error('boom from handler'); };`;
    await deploy(rt.url, 'thrower.zip', await makeZip({ 'index.js': thrower }));
    const res = await invoke(rt.url, 'thrower');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'boom from handler', code: 'HANDLER_ERROR' });
    // The failed call's record is found by the request id it was told, as for a success.
    const requestId = res.headers.get('x-glambdar-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-glambdar-revision')).toBe('1');
    const record = await eventually(async () => {
      const logs = (await (await control(rt, `/logs/thrower`)).json()) as Array<{ requestId: string; error: string | null }>;
      return logs.find((l) => l.requestId === requestId);
    });
    expect(record.error).toBe('boom from handler');
  });

  it('answers 404 JSON for an unknown function', async () => {
    const res = await invoke(rt.url, 'nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'function "nope" not found', code: 'FUNCTION_NOT_FOUND' });
  });

  it('refuses a bad upload with 400 and a message, touching nothing', async () => {
    const noIndex = await deploy(rt.url, 'empty.zip', await makeZip({ 'readme.txt': 'hi' }));
    expect(noIndex.status).toBe(400);
    expect(await noIndex.json()).toMatchObject({ code: 'INVALID_ARCHIVE', error: expect.stringMatching(/index\.js/) });
    const badName = await deploy(rt.url, 'Bad_Name.zip', await makeZip({ 'index.js': HELLO_HANDLER }));
    expect(badName.status).toBe(400);
    expect(await badName.json()).toMatchObject({ code: 'INVALID_NAME' });
    const notZip = await deploy(rt.url, 'junk.zip', Buffer.from('this is not a zip'));
    expect(notZip.status).toBe(400);
    const list = (await (await control(rt, `/info`)).json()) as { functions: Array<{ name: string }> };
    expect(list.functions.map((f) => f.name).sort()).toEqual(['myfunc', 'probe', 'thrower']);
  });

  it('deletes a function with its containers, code and logs', async () => {
    const before = (await functionContainers(rt, 'myfunc')).map((c) => c.Id);
    expect(before.length).toBeGreaterThan(0);
    const res = await control(rt, `/del/myfunc`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: 'myfunc' });
    expect(await functionContainers(rt, 'myfunc', before)).toEqual([]);
    expect((await control(rt, `/info/myfunc`)).status).toBe(404);
    expect((await control(rt, `/logs/myfunc`)).status).toBe(404);
    expect((await invoke(rt.url, 'myfunc')).status).toBe(404);
  });
});
