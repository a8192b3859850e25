import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LABELS } from '../../controller/sandbox/sandbox.js';
import { control, deploy, docker, eventually, info, instanceContainers, integrationEnabled, invoke, join, makeZip, useRuntimes, type TestRuntime } from './harness.js';

// Each test is an attack from inside a deployed handler, as the isolation issue found them.

/** Tries to make the runtime write where the function says: links and files in every mounted folder. */
const PLANTER = (target: string) => `const fs = require('fs');
const attempt = (f) => { try { f(); return 'done'; } catch (e) { return e.code; } };
exports.handler = async () => {
  const out = {};
  for (const dir of ['/run/glambdar', '/fn', '/worker']) {
    out[dir + ' link'] = attempt(() => fs.symlinkSync(${JSON.stringify(target)}, dir + '/binding.json'));
    out[dir + ' file'] = attempt(() => fs.writeFileSync(dir + '/planted', 'x'));
  }
  out['/run/glambdar entries'] = attempt(() => { if (fs.readdirSync('/run/glambdar').length > 0) throw Object.assign(new Error(), { code: 'NOT_EMPTY' }); });
  return out;
};
`;

/** The docker ps answer: ids of running containers labelled with the function. */
async function labelled(rt: TestRuntime, name: string): Promise<string[]> {
  const found = await docker.listContainers({ filters: { label: [`${LABELS.instance}=${rt.instanceId}`, `${LABELS.function}=${name}`] } });
  return found.map((c) => c.Id);
}

/** Waits until at least `count` stem cells are ready. */
async function stemCellsReady(rt: TestRuntime, count: number): Promise<void> {
  await eventually(async () => {
    const text = await (await control(rt, `/metrics`)).text();
    return Number(/^glambdar_stem_cells_ready (\d+)$/m.exec(text)?.[1] ?? 0) >= count ? true : undefined;
  }, 30_000, `${count} stem cells`);
}

describe.runIf(integrationEnabled)("isolation against the function's own code, on a real Docker engine", () => {
  const start = useRuntimes();

  it('a link or file planted in a mounted folder is refused, and the runtime writes no host file a function names', async () => {
    const host = await mkdtemp('/tmp/glt-canary-');
    try {
      const victim = join(host, 'victim');
      await writeFile(victim, 'untouched');
      const rt = await start();
      await stemCellsReady(rt, 1);
      // Through a stem cell (whose specialisation wrote binding.json), then through a labelled container.
      for (const [name, target] of [
        ['planter', victim],
        ['creator', join(host, 'created-by-runtime')],
      ] as const) {
        expect((await deploy(rt.url, `${name}.zip`, await makeZip({ 'index.js': PLANTER(target) }))).status).toBe(201);
        const res = await invoke(rt.url, name);
        expect(res.status).toBe(200);
        const body = (await res.json()) as Record<string, string>;
        for (const dir of ['/run/glambdar', '/fn', '/worker']) {
          expect(body[`${dir} link`], dir).toBe('EROFS');
          expect(body[`${dir} file`], dir).toBe('EROFS');
        }
        // The runtime's socket is gone from the folder once the worker connected: nothing there to read or follow.
        expect(body['/run/glambdar entries']).toBe('done');
      }
      // Let the stem-born containers be replaced (the runtime's busiest moment with those folders), then look.
      await eventually(async () => ((await info(rt, 'planter')).status.containers.every((c) => !c.fromStemCell) ? true : undefined), 20_000, 'replacement');
      expect(await readFile(victim, 'utf8')).toBe('untouched');
      expect(existsSync(join(host, 'created-by-runtime'))).toBe(false);
      // On the host, no container's socket folder holds anything but, at most, the runtime's own socket.
      // A folder swept between the two reads (its container was just replaced) holds nothing.
      const entriesOf = (folder: string) => readdir(folder).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
      for (const key of await readdir(join(rt.dir, 'sockets'))) {
        for (const entry of await entriesOf(join(rt.dir, 'sockets', key))) expect(entry).toBe('runtime.sock');
      }
    } finally {
      await rm(host, { recursive: true, force: true });
    }
  });

  it("a function cannot take over another function's traffic after a restart", async () => {
    const first = await start();
    await stemCellsReady(first, 2);
    const victim = `exports.handler = async (req) => ({ who: 'victim', saw: req.body });`;
    // The attacker writes a binding naming the victim with the victim's own template (computable
    // from the code digest /info shows), wherever it can.
    const attacker = `const fs = require('fs');
      exports.handler = async () => {
        const forged = JSON.stringify({ functionName: 'victim', template: process.env.VICTIM_TEMPLATE, generation: 1 });
        for (const p of ['/run/glambdar/binding.json', '/tmp/binding.json']) { try { fs.rmSync(p, { force: true }); fs.writeFileSync(p, forged); } catch {} }
        return { who: 'attacker' };
      };`;
    await deploy(first.url, 'victim.zip', await makeZip({ 'index.js': victim }));
    const digest = (await info(first, 'victim')).codeDigest;
    expect(digest).toMatch(/^[0-9a-f]{20}$/);
    const template = createHash('sha256').update(`${digest}|128|0.5|[]`).digest('hex').slice(0, 16);
    await deploy(first.url, 'attacker.zip', await makeZip({ 'index.js': attacker }), { maxReplicas: '3', env: JSON.stringify({ VICTIM_TEMPLATE: template }) });
    expect(await (await invoke(first.url, 'victim')).json()).toMatchObject({ who: 'victim' });
    expect(await (await invoke(first.url, 'attacker')).json()).toEqual({ who: 'attacker' });
    await first.stop();

    const second = await start({ dir: first.dir });
    const bodies = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => (await (await invoke(second.url, 'victim', { secret: i })).json()) as { who: string; saw: string }),
    );
    expect(bodies.filter((b) => b.who !== 'victim')).toEqual([]);
    expect(bodies.map((b) => JSON.parse(b.saw).secret).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // Every container serving the victim carries its label (the burst's stem-born ones within
    // seconds), and none of them is the attacker's.
    const serving = await eventually(async () => {
      const ids = (await info(second, 'victim')).status.containers.filter((c) => c.id !== '').map((c) => c.id);
      const victimLabelled = await labelled(second, 'victim');
      return ids.every((id) => victimLabelled.includes(id)) ? ids : undefined;
    }, 10_000, 'every victim container labelled victim');
    for (const id of await labelled(second, 'attacker')) expect(serving).not.toContain(id);
  });

  it('a function cannot fill the data disk, nor run a program it copied', async () => {
    const disk = await mkdtemp('/tmp/glt-');
    const dir = join(disk, 'd');
    // The data folder on a small disk of its own: any write through a container would show in its usage.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', disk]);
    try {
      const rt = await start({ dir });
      const filler = `const fs = require('fs');
        const fill = (dir) => { let n = 0; try { for (; n < 20000; n++) fs.writeFileSync(dir + '/f' + n, Buffer.alloc(16 * 1024)); } catch (e) { return e.code + ' after ' + n; } return 'wrote ' + n; };
        const run = () => { try { fs.writeFileSync('/tmp/tool', '#!' + process.execPath + '\\n1;\\n', { mode: 0o755 }); require('child_process').execFileSync('/tmp/tool'); return 'ran'; } catch (e) { return e.code; } };
        exports.handler = async () => ({ socketFolder: fill('/run/glambdar'), code: fill('/fn'), worker: fill('/worker'), exec: run() });`;
      const used = async () => Number(execFileSync('df', ['--output=used', '-B1', disk], { encoding: 'utf8' }).trim().split('\n')[1]);
      expect((await deploy(rt.url, 'filler.zip', await makeZip({ 'index.js': filler }))).status).toBe(201);
      const before = await used();
      const res = await invoke(rt.url, 'filler');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ socketFolder: 'EROFS after 0', code: 'EROFS after 0', worker: 'EROFS after 0', exec: 'EACCES' });
      // The runtime's own writes (a record, the database) are all that may grow: far below 1 MiB.
      expect((await used()) - before).toBeLessThan(1024 * 1024);
      // Deploy, config and delete keep working.
      expect((await deploy(rt.url, 'after.zip', await makeZip({ 'index.js': 'exports.handler = async () => "ok";' }))).status).toBe(201);
      const del = await control(rt, `/del/filler`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      await rt.destroy();
    } finally {
      execFileSync('umount', ['-l', disk]);
      await rm(disk, { recursive: true, force: true });
    }
  });

  it('the client sees only well-formed responses, whatever frames the function writes to its own connection', async () => {
    const rt = await start({ env: { stemCells: '0' } });
    // The handler finds the worker's connection to the runtime and rewrites its own result
    // frames, in whichever form they travel (JSON, or the binary form of worker/binary-header.ts).
    const forger = `const net = require('net');
      const conn = () => process._getActiveHandles().find((h) => h instanceof net.Socket && h !== process.stdout && h !== process.stderr && h.writable);
      const encode = (h, body) => {
        const out = Buffer.alloc(8 + h.length + body.length);
        out.writeUInt32BE(4 + h.length + body.length, 0); out.writeUInt32BE(h.length, 4); h.copy(out, 8); body.copy(out, 8 + h.length);
        return out;
      };
      const FORGED = { 'Transfer-Encoding': 'chunked', Connection: 'close', 'X-Glambdar-Request-Id': 'forged', 'Content-Length': '1', 'x-fine': 'yes' };
      const status = { interim: 101, continue: 100 };
      const rewrite = (h, mode) => {
        if (h[0] === 0x7b) {
          const header = JSON.parse(h.toString());
          if (header.t !== 'result') return h;
          if (status[mode]) header.statusCode = status[mode];
          if (mode === 'headers') Object.assign(header.headers, FORGED);
          return Buffer.from(JSON.stringify(header));
        }
        if (h[0] !== 2) return h;
        // A binary result: kind, id, statusCode, durationMs as float64, then the text; its
        // first field is the header record: a count, then each name and value after its length.
        const out = Buffer.from(h);
        if (status[mode]) out.writeDoubleBE(status[mode], 9);
        if (mode !== 'headers') return out;
        const text = h.toString('utf8', 25);
        let added = '';
        for (const [name, value] of Object.entries(FORGED)) added += String.fromCharCode(name.length) + name + String.fromCharCode(value.length) + value;
        const forged = String.fromCharCode(text.charCodeAt(0) + Object.keys(FORGED).length) + added + text.slice(1);
        return Buffer.concat([h.subarray(0, 25), Buffer.from(forged)]);
      };
      exports.handler = async (req) => {
        const mode = req.query.mode;
        const socket = conn();
        const write = socket.write;
        socket.write = function (chunk, ...rest) {
          socket.write = write;
          if (mode === 'junk') return write.call(socket, Buffer.from('\\0\\0\\0\\x10not a frame at all'), ...rest);
          // One write may carry several frames (the results of one turn): rewrite each result.
          const frames = [];
          for (let at = 0; at < chunk.length; ) {
            const length = chunk.readUInt32BE(at);
            const hl = chunk.readUInt32BE(at + 4);
            const header = chunk.subarray(at + 8, at + 8 + hl);
            const body = chunk.subarray(at + 8 + hl, at + 4 + length);
            at += 4 + length;
            frames.push(encode(rewrite(header, mode), body));
          }
          return write.call(socket, Buffer.concat(frames), ...rest);
        };
        return { statusCode: 200, body: 'hello' };
      };`;
    expect((await deploy(rt.url, 'forger.zip', await makeZip({ 'index.js': forger }))).status).toBe(201);

    const forged = await fetch(`${rt.url}/invoke/forger?mode=headers`);
    expect(forged.status).toBe(200);
    expect(await forged.text()).toBe('hello');
    expect(forged.headers.get('x-fine')).toBe('yes');
    expect(forged.headers.get('transfer-encoding')).toBeNull();
    expect(forged.headers.get('content-length')).toBe('5');
    expect(forged.headers.get('x-glambdar-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    // Keep-alive survives a handler's "Connection: close": two pipelined requests get two answers.
    const port = new URL(rt.url).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1');
      let text = '';
      socket.on('data', (c) => {
        text += c.toString();
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length >= 2 && text.trimEnd().endsWith('hello')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      const req = `GET /invoke/forger?mode=headers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
      socket.write(req + req);
      setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 10_000);
    });
    expect((raw.match(/HTTP\/1\.1 200 OK/g) ?? []).length).toBe(2);
    expect(raw.toLowerCase()).not.toContain('transfer-encoding');
    expect(raw.toLowerCase()).not.toContain('connection: close');

    for (const mode of ['interim', 'continue', 'junk']) {
      const res = await fetch(`${rt.url}/invoke/forger?mode=${mode}`);
      expect(res.status, mode).toBe(502);
      expect(await res.json()).toMatchObject({ code: 'CONTAINER_DIED', error: expect.stringMatching(/broke the protocol/) });
    }
    // The broken containers were replaced; the function still answers.
    expect(await (await fetch(`${rt.url}/invoke/forger`)).text()).toBe('hello');
  });

  it('a function that loops at load is removed within the start timeout, says why, and is gone after DELETE', { timeout: 60_000 }, async () => {
    const rt = await start({ env: { startTimeoutMs: '3000' } });
    await stemCellsReady(rt, 1);
    const cells = (await instanceContainers(rt.instanceId)).filter((c) => c.Labels[LABELS.stem] === '1').map((c) => c.Id);
    await deploy(rt.url, 'spinner.zip', await makeZip({ 'index.js': 'for (;;) {}\nexports.handler = async () => "never";\n' }));
    const began = Date.now();
    const res = await invoke(rt.url, 'spinner');
    expect(res.status).toBe(500);
    // The stem cell's load timed out; a labelled start the reconciler began meanwhile (on a
    // busy machine) may be the one the caller hears about: both name the start timeout.
    expect(await res.json()).toEqual({
      code: 'FUNCTION_LOAD_FAILED',
      error: expect.stringMatching(
        /^the function did not finish loading within 3000 ms \(does it block at load, e\.g\. in an endless loop\?\)$|^the function container did not connect within 3000 ms: node did not boot, or the function blocks at load/,
      ),
    });
    // The stem cell it spun in is gone within the start timeout (and a little for the engine).
    await eventually(async () => {
      const alive = (await instanceContainers(rt.instanceId)).map((c) => c.Id);
      return cells.some((id) => !alive.includes(id)) ? true : undefined;
    }, 10_000, 'the stuck cell removed');
    expect(Date.now() - began).toBeLessThan(3000 + 4000);
    // Status converges: the reconcile after the failed start writes it (on a busy machine, a moment later).
    const poolReady = await eventually(async () => {
      const condition = (await info(rt, 'spinner')).status.conditions.find((c) => c.type === 'PoolReady');
      return condition?.reason === 'StartFailed' ? condition : undefined;
    }, 5_000, 'PoolReady StartFailed');
    expect(poolReady).toMatchObject({ status: 'False', reason: 'StartFailed', message: expect.stringMatching(/did not finish loading|did not connect/) });
    // Within the back-off, the next request is told at once.
    const quick = Date.now();
    expect((await invoke(rt.url, 'spinner')).status).toBe(500);
    expect(Date.now() - quick).toBeLessThan(2000);

    expect((await control(rt, `/del/spinner`, { method: 'DELETE' })).status).toBe(200);
    await eventually(async () => ((await instanceContainers(rt.instanceId)).every((c) => c.Labels[LABELS.function] !== 'spinner') ? true : undefined), 10_000, 'no container of the deleted function');
    // None is left spinning either: what is left are idle stem cells.
    const cpu = async (id: string) => (await docker.getContainer(id).stats({ stream: false })).cpu_stats.cpu_usage.total_usage;
    for (const c of await instanceContainers(rt.instanceId)) {
      expect(c.Labels[LABELS.stem]).toBe('1');
      const before = await cpu(c.Id);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect((await cpu(c.Id)) - before).toBeLessThan(50_000_000);
    }
  });

  it('refuses env names the worker reads and values with NUL, naming them, before anything is written', async () => {
    const rt = await start({ env: { stemCells: '0' } });
    const zip = await makeZip({ 'index.js': 'exports.handler = async () => "ok";' });
    const reserved = await deploy(rt.url, 'envy.zip', zip, { env: JSON.stringify({ GLAMBDAR_STEM: '1' }) });
    expect(reserved.status).toBe(400);
    expect(await reserved.json()).toEqual({ code: 'INVALID_INPUT', error: 'invalid spec: env.GLAMBDAR_STEM: names starting with GLAMBDAR_ are reserved for the runtime and its worker' });
    const nul = await deploy(rt.url, 'envy.zip', zip, { env: JSON.stringify({ TOKEN: 'a\u0000b' }) });
    expect(nul.status).toBe(400);
    expect(await nul.json()).toEqual({ code: 'INVALID_INPUT', error: 'invalid spec: env.TOKEN: must not contain a NUL character' });
    expect((await control(rt, `/info/envy`)).status).toBe(404);
    expect(existsSync(join(rt.dir, 'functions', 'envy'))).toBe(false);
  });

  it('every container serving a function carries its label within 5 s of its first request, stem-born ones included', async () => {
    const rt = await start();
    await stemCellsReady(rt, 1);
    await deploy(rt.url, 'tagged.zip', await makeZip({ 'index.js': 'exports.handler = async () => "tagged";' }));
    const first = Date.now();
    expect(await (await invoke(rt.url, 'tagged')).text()).toBe('tagged');
    await eventually(async () => {
      const serving = (await info(rt, 'tagged')).status.containers.filter((c) => c.state !== 'dead').map((c) => c.id);
      const found = await labelled(rt, 'tagged');
      return serving.length > 0 && serving.every((id) => found.includes(id)) ? true : undefined;
    }, 5_000, 'every serving container labelled');
    expect(Date.now() - first).toBeLessThan(5_000);
    expect(await (await invoke(rt.url, 'tagged')).text()).toBe('tagged');
    // And the data folder is the runtime's own.
    expect((await stat(rt.dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(rt.dir, 'glambdar.db'))).mode & 0o777).toBe(0o600);
  });
});
