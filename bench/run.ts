/**
 * `npm run bench`: what the runtime adds on top of talking to Ollama directly, measured against a baseline run in the
 * same process run, and what an idle authenticated socket costs. Prints a Markdown report for docs/BENCHMARKS.md.
 *
 * Baseline: the official `ollama` client streaming from the fake Ollama (same HTTP, same NDJSON).
 * Runtime: a WebSocket client → uWS → conversation actor → the same client → the same fake, and back.
 * Then what an idle watched IMAP account costs the mail server (`bench/imap-accounts.ts`, against a private Dovecot).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import WebSocket from 'ws';
import { FakeOllama } from '../tests/support/fake-ollama.js';
import { TestRuntime } from '../tests/support/runtime-harness.js';
import { TestClient } from '../tests/support/ws-client.js';
import { IMAP_BENCH_KNOBS, imapAccountCost } from './imap-accounts.js';
import { TRIAGE_BENCH_KNOBS, triageCost } from './triage.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const TOKENS_PER_ANSWER = 20;
const LONG_ANSWER_TOKENS = 20_000;
const IDLE_SOCKETS = Number(process.env.BENCH_SOCKETS ?? 2000);

const tokens = (n: number) => Array.from({ length: n }, (_, i) => ` w${i}`);
const ms = (ns: bigint) => Number(ns) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

async function baselineRound(ollama: Ollama): Promise<{ firstMs: number; totalMs: number }> {
  const start = process.hrtime.bigint();
  let first = 0n;
  const stream = await ollama.chat({ model: 'llama3.1:8b', messages: [{ role: 'user', content: 'hi' }], stream: true });
  for await (const chunk of stream) if (!first && chunk.message.content) first = process.hrtime.bigint();
  const end = process.hrtime.bigint();
  return { firstMs: ms(first - start), totalMs: ms(end - start) };
}

/** A bare client: one JSON.parse per message and nothing else, so that the client's own cost stays small. */
class BenchClient {
  private readonly waiting = new Map<string, () => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const { type } = JSON.parse(String(data)) as { type: string };
      const resolve = this.waiting.get(type);
      if (resolve) {
        this.waiting.delete(type);
        resolve();
      }
    });
  }
  static async connect(url: string, email: string): Promise<BenchClient> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const client = new BenchClient(ws);
    const authed = client.next('auth_success');
    ws.send(JSON.stringify({ type: 'auth', email }));
    await authed;
    return client;
  }
  /** Resolves on the next message of `type`; register before sending what causes it. */
  next(type: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(type, resolve));
  }
  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }
  close(): void {
    this.ws.close();
  }
}

async function runtimeRound(client: BenchClient): Promise<{ firstMs: number; totalMs: number }> {
  const start = process.hrtime.bigint();
  const firstChunk = client.next('chunk');
  const done = client.next('done');
  client.send({ type: 'chat', message: 'hi' });
  await firstChunk;
  const first = process.hrtime.bigint();
  await done;
  const end = process.hrtime.bigint();
  return { firstMs: ms(first - start), totalMs: ms(end - start) };
}

async function latencyAndThroughput(): Promise<string[]> {
  // Thousands of chats from one user and IP: the rate limits would be what is measured.
  const rt = await TestRuntime.start({ mcp: false, config: { rate_limits: { enabled: false } } });
  const direct = new Ollama({ host: rt.ollama.url });
  const client = await BenchClient.connect(rt.wsUrl, 'bench@example.com');
  const lines: string[] = [];
  try {
    rt.ollama.setResponder(() => ({ tokens: tokens(TOKENS_PER_ANSWER) }));
    // Warm-up: JIT, connection pools, the first conversation row.
    for (let i = 0; i < 5; i++) {
      await baselineRound(direct);
      await runtimeRound(client);
    }
    const base: Array<{ firstMs: number; totalMs: number }> = [];
    const run: Array<{ firstMs: number; totalMs: number }> = [];
    // Interleaved, so that drift on the machine hits both sides alike.
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await baselineRound(direct));
      run.push(await runtimeRound(client));
    }
    const row = (name: string, b: number[], r: number[]) =>
      `| ${name} | ${median(b).toFixed(2)} | ${median(r).toFixed(2)} | ${(median(r) / median(b)).toFixed(2)}× | ${p95(b).toFixed(2)} / ${p95(r).toFixed(2)} |`;
    lines.push(
      `### Latency (${ROUNDS} interleaved rounds, ${TOKENS_PER_ANSWER}-token answers)`,
      '',
      '| metric | baseline median ms | runtime median ms | ratio | p95 ms (baseline / runtime) |',
      '|---|---|---|---|---|',
      row('time to first chunk', base.map((x) => x.firstMs), run.map((x) => x.firstMs)),
      row('whole answer', base.map((x) => x.totalMs), run.map((x) => x.totalMs)),
      '',
    );

    rt.ollama.setResponder(() => ({ tokens: tokens(LONG_ANSWER_TOKENS) }));
    const longBase = await baselineRound(direct);
    const longRun = await runtimeRound(client);
    const rate = (t: number) => (LONG_ANSWER_TOKENS / (t / 1000)).toFixed(0);
    lines.push(
      `### Token relay throughput (one ${LONG_ANSWER_TOKENS}-token answer)`,
      '',
      '| path | tokens/s | µs per token |',
      '|---|---|---|',
      `| baseline (ollama client alone) | ${rate(longBase.totalMs)} | ${((longBase.totalMs * 1000) / LONG_ANSWER_TOKENS).toFixed(1)} |`,
      `| runtime (… + actor + uWS + WebSocket client) | ${rate(longRun.totalMs)} | ${((longRun.totalMs * 1000) / LONG_ANSWER_TOKENS).toFixed(1)} |`,
      `| ratio runtime / baseline | ${(longRun.totalMs / longBase.totalMs).toFixed(2)}× | |`,
      '',
    );
  } finally {
    client.close();
    await rt.close();
  }
  return lines;
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

async function openSockets(url: string, n: number, email?: (i: number) => string): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  const BATCH = 200;
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, (_, j) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(url);
          ws.once('error', reject);
          ws.once('open', () => {
            if (!email) return resolve(ws);
            ws.send(JSON.stringify({ type: 'auth', email: email(i + j) }));
            ws.once('message', () => resolve(ws));
          });
        }),
      ),
    );
    sockets.push(...batch);
  }
  return sockets;
}

async function idleSocketCost(): Promise<string[]> {
  const ollama = await FakeOllama.start();
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-bench-'));
  const configPath = join(dir, 'bench.toml');
  writeFileSync(
    configPath,
    `[llm]\nbase_url = "${ollama.url}"\n[mcp]\nmail_server_url = ""\n[server]\nlisten_addr = "127.0.0.1:0"\n[mail]\nembedded = false\n[summarization]\nenabled = false\ndb_path = "${join(dir, 'bench.db')}"\n[rate_limits]\nenabled = false\n[auth]\ndev_mode = true\n[log]\nlevel = "info"\n`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += String(d);
        const m = /HTTP server listening on [^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`runtime exited with ${code}: ${out}`)));
    });
    const url = `ws://127.0.0.1:${port}/ws`;
    // One chat first, so that the measurement excludes the code paths' first-use allocations.
    const warm = await TestClient.connect(url);
    await warm.auth('warm@example.com');
    await warm.chat('warm up');
    await warm.close();
    // The slope between two socket counts, both after warm-up: start-up garbage (the UI build) being released would
    // otherwise hide the sockets' cost.
    const warmup = await openSockets(url, IDLE_SOCKETS / 2, (i) => `warm${i}@example.com`);
    await new Promise((r) => setTimeout(r, 1000));
    const before = rssKiB(child.pid!);
    const sockets = await openSockets(url, IDLE_SOCKETS, (i) => `user${i}@example.com`);
    await new Promise((r) => setTimeout(r, 1000));
    const after = rssKiB(child.pid!);
    for (const ws of [...warmup, ...sockets]) ws.terminate();
    const perSocket = (after - before) / IDLE_SOCKETS;
    return [
      `### Idle authenticated sockets (runtime in its own process)`,
      '',
      `RSS slope between ${IDLE_SOCKETS / 2} and ${IDLE_SOCKETS * 1.5} open, signed-in, idle sockets.`,
      '',
      '| sockets added | RSS before (MiB) | RSS after (MiB) | per socket (KiB) |',
      '|---|---|---|---|',
      `| ${IDLE_SOCKETS} | ${(before / 1024).toFixed(1)} | ${(after / 1024).toFixed(1)} | ${perSocket.toFixed(2)} |`,
      '',
    ];
  } finally {
    child.kill('SIGTERM');
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = new Date().toISOString();
const report = [
  `## Run of ${started}`,
  '',
  `Command: \`npm run bench\` (BENCH_ROUNDS=${ROUNDS}, BENCH_SOCKETS=${IDLE_SOCKETS}, ${IMAP_BENCH_KNOBS}, ${TRIAGE_BENCH_KNOBS}) on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}.`,
  '',
  ...(await latencyAndThroughput()),
  ...(await idleSocketCost()),
  ...(await imapAccountCost()),
  ...(await triageCost()),
];
process.stdout.write(`${report.join('\n')}\n`);
