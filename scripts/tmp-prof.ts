import WebSocket from 'ws';
import { FakeOllama } from '../tests/support/fake-ollama.js';
import { TestRuntime } from '../tests/support/runtime-harness.js';

const TURNS = Number(process.env.TURNS ?? 300);
const ollama = await FakeOllama.start();
const lots = { points: 1_000_000, duration_s: 60 };
const rt = await TestRuntime.start({ mcp: false, ollama, config: { rate_limits: { chat_per_user: lots, chat_per_ip: lots } } });
const ws = new WebSocket(rt.wsUrl);
await new Promise((r) => ws.once('open', r));
let waiter: ((t: string) => void) | undefined;
const seen: Record<string, number> = {};
ws.on('message', (d) => { const m = JSON.parse(String(d)) as { type: string; code?: string }; seen[m.type] = (seen[m.type] ?? 0) + 1; if (m.type === 'error') console.log(m); if (m.type === 'auth_success' || m.type === 'done') waiter?.(m.type); });
const next = () => new Promise<string>((r) => (waiter = r));
let p = next(); ws.send(JSON.stringify({ type: 'auth', email: 'a@example.com' })); await p;
ollama.setResponder(() => ({ tokens: ['Hello', ' there'] }));
const firsts: number[] = [];
for (let round = 0; round < TURNS; round++) {
  p = next();
  const t = process.hrtime.bigint();
  ws.send(JSON.stringify({ type: 'chat', message: `hi ${round}` }));
  await p;
  firsts.push(Number(process.hrtime.bigint() - t) / 1e6);
}
firsts.sort((a, b) => a - b);
console.log('turn ms median', firsts[Math.floor(firsts.length / 2)], 'p95', firsts[Math.floor(firsts.length * 0.95)], seen);
ws.close();
await rt.close();
await ollama.close();
process.exit(0);
