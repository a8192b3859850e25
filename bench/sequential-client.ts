/**
 * Sequential keep-alive requests from a process of its own, so the latency measured is the
 * server's and not that of the bench process (which holds autocannon and its own state).
 * Usage: node sequential-client.js <port> <path> <warmup> <count>; prints the times as JSON.
 */
import { Agent, request } from 'node:http';

const [port, path, warmup, count] = [Number(process.argv[2]), process.argv[3] ?? '/', Number(process.argv[4]), Number(process.argv[5])];
const agent = new Agent({ keepAlive: true });

function call(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

for (let i = 0; i < warmup; i++) await call();
const times: number[] = [];
for (let i = 0; i < count; i++) {
  const t0 = performance.now();
  await call();
  times.push(performance.now() - t0);
}
agent.destroy();
process.stdout.write(JSON.stringify(times));
