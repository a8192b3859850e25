import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../controller/index.js';
import { sendError } from './http-errors.js';

/** Status line and body of one request to a server whose handler is `handle`. */
async function fetchRaw(handle: Parameters<typeof createServer>[1]): Promise<{ statusLine: string; body: string }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise((resolve, reject) => {
      request({ host: '127.0.0.1', port }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ statusLine: `${res.statusCode} ${res.statusMessage}`, body }));
      })
        .on('error', reject)
        .end();
    });
  } finally {
    server.close();
  }
}

describe('sendError', () => {
  it('sends its own reason phrase after a writeHead that threw on a bad header', async () => {
    const { statusLine, body } = await fetchRaw((_req, res) => {
      try {
        res.writeHead(200, { 'x-bad': 'a\nb' });
      } catch (err) {
        sendError(res, err, silentLogger);
      }
    });
    expect(statusLine).toBe('500 Internal Server Error');
    expect(JSON.parse(body)).toMatchObject({ code: 'INTERNAL' });
  });
});
