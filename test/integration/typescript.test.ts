import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { control, deploy, integrationEnabled, makeZip, startRuntime, type TestRuntime } from './harness.js';

/**
 * A TypeScript function as a user zips it: sources, a type-only import, a dependency in its own
 * node_modules, a handler path. It is compiled at deploy and run in a container; its errors name
 * the .ts line, in the response and in the log.
 */

const HANDLER = `import type { Order } from './types';
import pad from 'tiny-pad';

export const handler = async (req: { path: string; query: Record<string, string> }) => {
  const order: Order = { id: 7, items: [2, 3] };
  if (req.path === '/fail') {
    // Line 8 throws.
    throw new Error(\`order \${order.id} failed\`);
  }
  return { id: pad(order.id, 3), total: order.items.reduce((a, b) => a + b, 0), who: req.query.who ?? null };
};
`;

const FILES = {
  'src/handler.ts': HANDLER,
  'src/types.ts': 'export interface Order {\n  id: number;\n  items: number[];\n}\n',
  'package.json': JSON.stringify({ name: 'typed-orders', version: '1.0.0', type: 'module', dependencies: { 'tiny-pad': '^1.0.0' } }),
  'tsconfig.json': JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', target: 'es2022' } }),
  'node_modules/tiny-pad/package.json': JSON.stringify({ name: 'tiny-pad', version: '1.0.0', main: 'index.js' }),
  'node_modules/tiny-pad/index.js': "module.exports = (text, n) => String(text).padStart(n, '0');\n",
};

describe.runIf(integrationEnabled)('a TypeScript function in a container', () => {
  let rt: TestRuntime;

  beforeAll(async () => {
    rt = await startRuntime();
  });
  afterAll(async () => {
    await rt?.destroy();
  });

  it('is compiled at deploy and answers from its handler path, with its npm dependency', async () => {
    const res = await deploy(rt.url, 'typed.zip', await makeZip(FILES), { handler: 'src/handler.handler' });
    expect(res.status, await res.clone().text()).toBe(201);
    const answer = await fetch(`${rt.url}/invoke/typed?who=ts`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ id: '007', total: 5, who: 'ts' });
  });

  it('names the .ts file and line of an error, in the response and in the log', async () => {
    const res = await fetch(`${rt.url}/invoke/typed/fail`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'order 7 failed (at src/handler.ts:8:11)', code: 'HANDLER_ERROR' });
    const [record] = (await (await control(rt, '/logs/typed?limit=1')).json()) as Array<{ stderr: string; statusCode: number }>;
    expect(record?.statusCode).toBe(500);
    expect(record?.stderr).toMatch(/Error: order 7 failed\n\s+at handler \((?:file:\/\/)?\/fn\/src\/handler\.ts:8:11\)/);
  });

  it('keeps the generation when the same sources are deployed again, and refuses a compile error naming the line', async () => {
    const again = await deploy(rt.url, 'typed.zip', await makeZip(FILES), { handler: 'src/handler.handler' });
    expect(await again.json()).toEqual({ function: 'typed', status: 'updated', generation: 1 });

    const broken = await deploy(rt.url, 'typed.zip', await makeZip({ ...FILES, 'src/handler.ts': HANDLER.replace('const order: Order =', 'const order: Order = =') }), {
      handler: 'src/handler.handler',
    });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toEqual({ error: 'TypeScript compile failed: src/handler.ts:5:24: Unexpected "="', code: 'COMPILE_FAILED' });
    // Nothing was replaced.
    expect(((await (await control(rt, '/info/typed')).json()) as { generation: number }).generation).toBe(1);
    expect((await fetch(`${rt.url}/invoke/typed`)).status).toBe(200);
  });

  it('refuses a zip whose package.json dependencies are not in node_modules', async () => {
    const { ['node_modules/tiny-pad/package.json']: _pkg, ['node_modules/tiny-pad/index.js']: _index, ...withoutModules } = FILES;
    const res = await deploy(rt.url, 'bare.zip', await makeZip(withoutModules), { handler: 'src/handler.handler' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('INVALID_ARCHIVE');
    expect(body.error).toMatch(/^package\.json declares dependencies missing from node_modules: "tiny-pad"\. .*zip node_modules with the code$/);
  });
});
