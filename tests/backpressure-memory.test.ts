import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SLOW_CONSUMER_CLOSE_CODE } from '../src/server/socket-outbox.js';
import { FakeOllama } from './support/fake-ollama.js';
import { InspectedRuntime, writeBareConfig, type MemorySample } from './support/inspected-runtime.js';

/**
 * What a long answer costs the runtime's process, measured as its RSS (from /proc, the runtime in its own process)
 * after a full garbage collection forced through its inspector, at its highest while the answer streams and once it is
 * saved. Forcing the collection is what makes the reading robust on a loaded machine: without it, a reading also
 * counts the garbage made since V8 last collected (up to ~45 MiB here, depending on when that was), not only what the
 * runtime holds.
 *
 * Each reading is compared with a baseline from the same run: the same text in large pieces, to a client that reads.
 * What the baseline costs (the answer kept in the conversation and saved, the replay buffer, pages V8 and malloc keep)
 * is the answer's cost; beyond it, model-sized tokens may cost nothing and a client that stops reading at most
 * `max_backpressure_bytes` (its socket's buffer and its queue), each plus `SLACK_BYTES`.
 *
 * Measured on the 2-core machine (growth over the reading before the answer): baseline +31 MiB. Before the fix the
 * answer in 4-character tokens cost +69 MiB to a reader and +73 MiB to one that stopped reading (each token left a
 * 32-byte rope node in the LLM actor's text and another in the channel's draft: 75 MB for 1.2 M tokens); after it,
 * +16 to +32 MiB for either. docs/RELIABILITY.md has the whole account.
 */

const MiB = 1024 * 1024;
/** The default, and the setting of the run in the issue. */
const MAX_BACKPRESSURE_BYTES = 4 * MiB;
/** The answer: 4.7 MB. */
const ANSWER_CHARS = 4_700_000;
/** About what a model's token is. */
const MODEL_TOKEN_CHARS = 4;
/** Distinct tokens, as a model's vocabulary: V8 shares equal short strings, so ten distinct ones would flatter. */
const VOCABULARY = 50_000;
/** The baseline's pieces: 235 of them, so that per-token costs vanish from it. */
const LARGE_TOKEN_CHARS = 20_000;
/**
 * Room for what a reading cannot pin down: how far the answer had come at a sample, allocator and V8 pages not yet
 * returned. Three times the spread seen between runs (±5 MiB). Before the fix the answers went 22 MiB past their
 * bounds; after it, they stay 15 MiB or more below.
 */
const SLACK_BYTES = 16 * MiB;
/** Between samples (each also waits for the RSS to settle): a forced full GC pauses the runtime for tens of ms. */
const SAMPLE_EVERY_MS = 500;
/** 1.2 M tokens through the runtime: ~12 s on an idle 2-core machine, several times that under load. */
const TEST_TIMEOUT_MS = 300_000;

function answer(tokenChars: number): string[] {
  const count = Math.ceil(ANSWER_CHARS / tokenChars);
  return Array.from({ length: count }, (_, i) => `${(i % VOCABULARY).toString(36)}${'_'.repeat(tokenChars)}`.slice(0, tokenChars));
}

/**
 * A chat client that keeps nothing of what it reads (it only waits for a type): 1.2 M parsed messages would cost this process hundreds of MB and
 * seconds of CPU that the runtime, on the same two cores, would feel.
 */
class CountingClient {
  private readonly waiters = new Map<string, () => void>();
  readonly closed: Promise<number>;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      for (const [type, resolve] of this.waiters) {
        if (data.includes(`"type":"${type}"`)) {
          this.waiters.delete(type);
          resolve();
        }
      }
    });
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  }

  static async signedIn(url: string, email: string): Promise<CountingClient> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const client = new CountingClient(ws);
    const signedIn = client.next('auth_success');
    ws.send(JSON.stringify({ type: 'auth', email }));
    await signedIn;
    return client;
  }

  /** The next frame of `type`; ask before sending what causes it. */
  next(type: string): Promise<void> {
    return new Promise((resolve) => this.waiters.set(type, resolve));
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  close(): void {
    this.ws.terminate();
  }
}

interface Cost {
  /** Highest RSS after a full GC while the answer streamed and once it was saved, minus that before it. */
  growth: number;
  before: MemorySample;
  highest: MemorySample;
  /** The stalled client's close code, once it read again. */
  closeCode?: number;
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const describeCost = (name: string, cost: Cost) =>
  `${name}: RSS +${mib(cost.growth)} (${mib(cost.before.rss)} → ${mib(cost.highest.rss)}), heap used ${mib(cost.before.heapUsed)} → ${mib(cost.highest.heapUsed)}`;

describe('what a long answer costs the runtime (in its own process)', () => {
  let ollama: FakeOllama;
  let dir: string;
  let baseline: Cost;

  /** One answer to one client in a fresh runtime: nothing an earlier answer left behind is counted or hidden. */
  async function cost(tokens: string[], reader: 'reads' | 'stops reading'): Promise<Cost> {
    const runtime = await InspectedRuntime.start(writeBareConfig(dir, ollama.url, [`max_backpressure_bytes = ${MAX_BACKPRESSURE_BYTES}`]));
    try {
      // First-use allocations (compiled code, the first conversation row) belong to no answer.
      const warm = await CountingClient.signedIn(runtime.wsUrl, 'warm@example.com');
      const warmDone = warm.next('done');
      warm.send({ type: 'chat', message: 'warm up' });
      await warmDone;
      warm.close();

      ollama.enqueue({ tokens });
      const client = await CountingClient.signedIn(runtime.wsUrl, 'reader@example.com');
      const relayedBefore = await runtime.tokensRelayed();
      const before = await runtime.memory({ gc: true });
      let highest = before;
      const take = async () => {
        const sample = await runtime.memory({ gc: true });
        if (sample.rss > highest.rss) highest = sample;
      };
      const history = client.next('history');
      const done = client.next('done');
      client.send({ type: 'chat', message: 'Tell me everything' });
      await history;
      if (reader === 'stops reading') client.pauseReading();
      // The fake Ollama writes the whole stream long before the runtime has read it: the runtime's count says when.
      while ((await runtime.tokensRelayed()) - relayedBefore < tokens.length) {
        await take();
        await sleep(SAMPLE_EVERY_MS);
      }
      if (reader === 'reads') await done;
      else await sleep(SAMPLE_EVERY_MS);
      await take();
      let closeCode: number | undefined;
      if (reader === 'stops reading') {
        client.resumeReading();
        closeCode = await client.closed;
      }
      client.close();
      return { growth: highest.rss - before.rss, before, highest, ...(closeCode !== undefined ? { closeCode } : {}) };
    } finally {
      await runtime.close();
    }
  }

  beforeAll(async () => {
    ollama = await FakeOllama.start();
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-answer-memory-'));
    baseline = await cost(answer(LARGE_TOKEN_CHARS), 'reads');
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await ollama?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an answer in model-sized tokens costs what its text costs: nothing per token is kept while it streams', async () => {
    const tokens = await cost(answer(MODEL_TOKEN_CHARS), 'reads');
    const report = `${describeCost('baseline (235 large tokens, read)', baseline)}; ${describeCost('1.2 M tokens, read', tokens)}`;
    expect(tokens.growth, report).toBeLessThan(baseline.growth + SLACK_BYTES);
  }, TEST_TIMEOUT_MS);

  it('a client that stops reading costs at most max_backpressure_bytes more than one that reads, and is closed with 4008', async () => {
    const stalled = await cost(answer(MODEL_TOKEN_CHARS), 'stops reading');
    const report = `${describeCost('baseline (235 large tokens, read)', baseline)}; ${describeCost('1.2 M tokens, not read', stalled)}`;
    // The answer is well past what the kernel and the limit absorb: the limit was reached, not merely approached.
    expect(stalled.closeCode, report).toBe(SLOW_CONSUMER_CLOSE_CODE);
    expect(stalled.growth, report).toBeLessThan(baseline.growth + MAX_BACKPRESSURE_BYTES + SLACK_BYTES);
  }, TEST_TIMEOUT_MS);
});
