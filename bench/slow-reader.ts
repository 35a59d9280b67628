/**
 * `npx tsx bench/slow-reader.ts`: what one chat client that stops reading costs the runtime while a long answer
 * streams, next to one that reads it. Each scenario gets a fresh runtime (`src/main.ts` in its own process, so its
 * RSS is its own); the fake Ollama and the client run here. Readings marked "after a full GC" force one through the
 * runtime's inspector first: what the runtime holds, not the garbage it has not collected yet.
 *
 * Environment: SLOW_READER_TOKEN_CHARS (default 4: model-sized tokens), SLOW_READER_VOCABULARY (distinct tokens,
 * default 50,000), SLOW_READER_ANSWER_BYTES (default 4.7 MB), SLOW_READER_MAX_BACKPRESSURE (default 4 MiB),
 * SLOW_READER_SCENARIOS (default "reads,stalls"), SLOW_READER_HEAP_SNAPSHOT=<file> (a heap snapshot of the stalled
 * runtime when 80% of the answer has passed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FakeOllama } from '../tests/support/fake-ollama.js';
import { InspectedRuntime, writeBareConfig, type MemorySample } from '../tests/support/inspected-runtime.js';
import { TestClient } from '../tests/support/ws-client.js';

const TOKEN_CHARS = Number(process.env.SLOW_READER_TOKEN_CHARS ?? 4);
const VOCABULARY = Number(process.env.SLOW_READER_VOCABULARY ?? 50_000);
const ANSWER_BYTES = Number(process.env.SLOW_READER_ANSWER_BYTES ?? 4_700_000);
const MAX_BACKPRESSURE = Number(process.env.SLOW_READER_MAX_BACKPRESSURE ?? 4 * 1024 * 1024);
const SAMPLE_MS = 100;
/** Every n-th sample forces a full GC first (a collection pauses the runtime for tens of ms). */
const GC_EVERY = 5;

const MiB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const row = (name: string, s: MemorySample) =>
  `| ${name} | ${mib(s.rss)} | ${mib(s.heapTotal)} | ${mib(s.heapUsed)} | ${mib(s.external)} | ${mib(s.arrayBuffers)} |`;

/** A model's vocabulary of distinct words: V8 shares equal short strings JSON.parse makes, so ten words would flatter. */
function answerTokens(): string[] {
  const count = Math.ceil(ANSWER_BYTES / TOKEN_CHARS);
  return Array.from({ length: count }, (_, i) => `${(i % VOCABULARY).toString(36)}${'_'.repeat(TOKEN_CHARS)}`.slice(0, TOKEN_CHARS));
}

async function scenario(stall: boolean, ollama: FakeOllama, dir: string): Promise<string[]> {
  const runtime = await InspectedRuntime.start(writeBareConfig(dir, ollama.url, [`max_backpressure_bytes = ${MAX_BACKPRESSURE}`]));
  try {
    // Warm-up: first-use allocations (JIT, the first conversation row) are not the answer's.
    const warm = await TestClient.connect(runtime.wsUrl);
    await warm.auth('warm@example.com');
    await warm.chat('warm up');
    await warm.close();

    const tokens = answerTokens();
    ollama.enqueue({ tokens });
    const client = await TestClient.connect(runtime.wsUrl);
    await client.auth('reader@example.com');
    const relayedBefore = await runtime.tokensRelayed();
    const before = await runtime.memory({ gc: true });
    let peak = before;
    let peakLive = before;
    let sampling = true;
    const sampler = (async () => {
      for (let round = 1; sampling; round++) {
        const gc = round % GC_EVERY === 0;
        const s = await runtime.memory({ gc });
        if (gc && s.rss > peakLive.rss) peakLive = s;
        if (s.rss > peak.rss) peak = s;
        await sleep(SAMPLE_MS);
      }
    })();
    const started = Date.now();
    client.send({ type: 'chat', message: 'Tell me everything' });
    await client.next('history');
    if (stall) client.pauseReading();
    let snapshot = stall ? process.env.SLOW_READER_HEAP_SNAPSHOT : undefined;
    // Done when the runtime has relayed every token (the fake Ollama writes the whole stream long before that).
    for (let relayed = 0; relayed < tokens.length; relayed = (await runtime.tokensRelayed()) - relayedBefore) {
      if (snapshot && relayed > tokens.length * 0.8) {
        await runtime.heapSnapshot(snapshot);
        snapshot = undefined;
      }
      await sleep(200);
    }
    const seconds = (Date.now() - started) / 1000;
    sampling = false;
    await sampler;
    await sleep(500);
    const atEnd = await runtime.memory({ gc: true });
    // A client that does not read does not see its close frame either: the runtime's log says whether it closed it.
    const socket = runtime.output.includes('closing a socket that reads too slowly') ? 'closed with 4008 by the runtime' : 'open';
    if (stall) client.resumeReading();
    await client.close().catch(() => undefined);
    await sleep(1000);
    const after = await runtime.memory({ gc: true });
    return [
      `#### A client that ${stall ? 'stops reading' : 'reads'} (its socket at the end: ${socket}; ${seconds} s)`,
      '',
      '| when | RSS MiB | heap total MiB | heap used MiB | external MiB | array buffers MiB |',
      '|---|---|---|---|---|---|',
      row('before (after a full GC)', before),
      row('peak RSS while streaming', peak),
      row('peak RSS while streaming, after a full GC', peakLive),
      row('answer relayed (after a full GC)', atEnd),
      row('1 s after the socket closed (after a full GC)', after),
      '',
    ];
  } finally {
    await runtime.close();
  }
}

async function main(): Promise<void> {
  const ollama = await FakeOllama.start();
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-slow-reader-'));
  try {
    const lines = [`### ${mib(ANSWER_BYTES)} MiB answer in ${TOKEN_CHARS}-character tokens, max_backpressure_bytes ${mib(MAX_BACKPRESSURE)} MiB`, ''];
    for (const which of (process.env.SLOW_READER_SCENARIOS ?? 'reads,stalls').split(',')) {
      lines.push(...(await scenario(which.startsWith('stall'), ollama, dir)));
    }
    console.log(lines.join('\n'));
  } finally {
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
