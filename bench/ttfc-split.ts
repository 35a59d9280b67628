import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBareConfig } from '../tests/support/inspected-runtime.js';
import { InspectedProcess } from '../tests/support/inspected-process.js';
import { WsRelayClient } from './support/relay-clients.js';
import { startNodeFlags } from '../tests/support/start-flags.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
let reqAt = 0, bodyAt = 0, wroteAt = 0;
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  reqAt = performance.now();
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    bodyAt = performance.now();
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    const line = (content: string, done: boolean) => JSON.stringify({ model: 'llama3.1:8b', created_at: new Date().toISOString(), message: { role: 'assistant', content }, done, ...(done ? { done_reason: 'stop', eval_count: 3, prompt_eval_count: 5 } : {}) }) + '\n';
    wroteAt = performance.now();
    res.write(line('Hello', false));
    setTimeout(() => { res.write(line(' there', false)); res.end(line('', true)); }, 2);
  });
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
const url = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), 'ttfc-split-'));
const tree = process.argv[2] ?? '.';
const runtime = await InspectedProcess.start({ name: 'runtime', nodeFlags: startNodeFlags(tree), args: [join(tree, 'src/main.ts'), '--config', writeBareConfig(dir, url)], ready: /HTTP server listening on [^:]+:(\d+)/ });
const bare = await InspectedProcess.start({ name: 'bare', args: [here('./peers/bare-uws-relay.ts'), url], ready: /relay listening on port (\d+)/ });
const rows: Record<string, number[][]> = { runtime: [], bare: [] };
try {
  const clients = { runtime: await WsRelayClient.connect(`ws://127.0.0.1:${runtime.port}/ws`, 'a@bench.example'), bare: await WsRelayClient.connect(`ws://127.0.0.1:${bare.port}/ws`, 'a@bench.example') };
  for (let i = 0; i < Number(process.env.TURNS ?? 60); i++) {
    for (const k of ['runtime', 'bare'] as const) {
      const t = await clients[k].chat('Hi', undefined, 10_000);
      rows[k]!.push([reqAt - t.sentAt, bodyAt - t.sentAt, wroteAt - t.sentAt, t.firstChunkAt - t.sentAt, t.firstChunkAt - wroteAt]);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log('server | req headers | body end | fake wrote | first chunk | wrote→first chunk (ms, medians)');
  for (const k of ['runtime', 'bare'] as const) {
    const r = rows[k]!.slice(10);
    console.log(k, [0, 1, 2, 3, 4].map((j) => med(r.map((x) => x[j]!)).toFixed(3)).join(' | '));
  }
  clients.runtime.close(); clients.bare.close();
} finally {
  await runtime.close(); await bare.close(); server.close();
}
