import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../src/protocol/protocol.js';
import { SLOW_CONSUMER_CLOSE_CODE } from '../src/server/socket-outbox.js';
import { TestRuntime } from './support/runtime-harness.js';
import { TestClient, textOf } from './support/ws-client.js';

/**
 * A long answer: 8000 tokens of 2000 characters, 16 MB of text (~16.6 MB of `chunk` frames). On loopback the kernel
 * absorbs about 4 MB for a client that stops reading (the server's send buffer, tcp_wmem max, plus the client's
 * receive window); the answer must be well past that for the server's own buffering to matter.
 */
const TOKEN_COUNT = 8000;
const TOKEN_CHARS = 2000;
const TOKENS = tokens(TOKEN_COUNT, TOKEN_CHARS);
const ANSWER = TOKENS.join('');

/**
 * The same 16 MB in 800 tokens of 20,000 characters, one per millisecond (~16 MB/s, far above any model), for a test
 * whose reader must keep up. Its reader runs in this process, on the server's event loop: unpaced, the fake Ollama
 * hands the runtime megabytes per loop turn, while the reader drains only its receive window (~100 KB) per turn, so it
 * fell 4 MB behind (seen in /proc/net/tcp at its close: 3.9 MB unsent) and was rightly closed with 4008. Paced, each
 * turn brings about one token, which the reader takes in the same turn.
 */
const PACED_TOKENS = tokens(800, 20_000);
const PACED_ANSWER = PACED_TOKENS.join('');
const PACED_TOKEN_DELAY_MS = 1;
/** 16 MB through the server, the watcher and the final history is CPU work: ~5 s here, 7–20 s at load average 12 on two cores. */
const PACED_TEST_TIMEOUT_MS = 60_000;

function tokens(count: number, chars: number): string[] {
  return Array.from({ length: count }, (_, i) => `${String(i).padStart(6, '0')}${'x'.repeat(chars - 6)}`);
}

function chunksOf(messages: readonly ServerMessage[]): Array<Extract<ServerMessage, { type: 'chunk' }>> {
  return messages.filter((m): m is Extract<ServerMessage, { type: 'chunk' }> => m.type === 'chunk');
}

function expectStrictlyIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i]! <= seqs[i - 1]!) throw new Error(`seq ${seqs[i]} after ${seqs[i - 1]} at chunk ${i}`);
  }
}

/** Bytes of every frame the client has read so far. */
function countBytes(client: TestClient): { bytes: number } {
  const counter = { bytes: 0 };
  client.socket.on('message', (data: Buffer) => {
    counter.bytes += data.length;
  });
  return counter;
}

async function answerFinished(rt: TestRuntime): Promise<void> {
  await rt.ollama.waitForRequests(1);
  while (rt.runtime.hub.busyCount > 0) await sleep(10);
}

describe('backpressure', () => {
  let rt: TestRuntime;
  afterEach(() => rt.close());

  it('a client that stops reading is closed with 4008, the server keeps little of what it missed, and the answer goes on for everyone else', async () => {
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_backpressure_bytes: 64 * 1024 } } });
    // The answer starts once the slow client has stopped reading and the watcher has subscribed, not after a guessed
    // delay: on a loaded machine the watcher's sign-in took longer than 300 ms, and it resumed mid-answer (a replay of
    // hundreds of chunks, or a multi-megabyte history) instead of following it.
    let startAnswer!: () => void;
    const answerGate = new Promise<void>((resolve) => (startAnswer = resolve));
    rt.ollama.enqueue({ tokens: PACED_TOKENS, delayMs: PACED_TOKEN_DELAY_MS, startWhen: answerGate });
    const slow = await rt.client('slow@example.com');
    const read = countBytes(slow);
    slow.send({ type: 'chat', message: 'Tell me everything' });
    const history = await slow.next('history');
    slow.pauseReading();

    // Another socket of the user follows the same conversation at full speed.
    const watcher = await rt.client('slow@example.com');
    watcher.send({ type: 'resume', conversation_id: history.conversation_id, last_seq: history.seq });
    await watcher.next('resumed');
    startAnswer();
    await watcher.next('done', () => true, 30_000);
    expect(watcher.messages.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
    expect(textOf(watcher.messages)).toBe(PACED_ANSWER);
    expectStrictlyIncreasing(chunksOf(watcher.messages).map((m) => m.seq));

    await answerFinished(rt);
    slow.resumeReading();
    const { code } = await slow.closed;
    expect(code).toBe(SLOW_CONSUMER_CLOSE_CODE);
    // What the slow client got is the start of the answer, in order and without a gap (coalesced, never dropped)…
    const got = chunksOf(slow.messages);
    expect(got.length).toBeGreaterThan(0);
    expectStrictlyIncreasing(got.map((m) => m.seq));
    expect(PACED_ANSWER.startsWith(textOf(got))).toBe(true);
    expect(slow.messages.some((m) => m.type === 'done')).toBe(false);
    // …and only what the kernel had absorbed plus the server's 64 KiB: the server did not hold the other ~12 MB for it.
    expect(read.bytes).toBeLessThan(PACED_ANSWER.length / 2);

    // The conversation was not harmed: a new socket resumes it and finds the whole answer.
    const again = await rt.client('slow@example.com');
    // (No last_seq: it asks for the whole conversation, which comes as a history.)
    again.send({ type: 'resume', conversation_id: history.conversation_id });
    const caughtUp = await again.next('history');
    expect(caughtUp.state).toBe('idle');
    expect(caughtUp.messages.at(-1)).toEqual({ role: 'assistant', content: PACED_ANSWER });
    await Promise.all([again.close(), watcher.close()]);
  }, PACED_TEST_TIMEOUT_MS);

  it('a client that pauses and then catches up gets fewer, longer chunks with the whole text, and stays connected', async () => {
    // Half of this (8 MiB) is where coalescing starts; the queue never reaches the close limit for this answer.
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_backpressure_bytes: 16 * 1024 * 1024 } } });
    rt.ollama.enqueue({ tokens: TOKENS, headersDelayMs: 300 });
    const client = await rt.client('pausing@example.com');
    client.send({ type: 'chat', message: 'Tell me everything' });
    await client.next('history');
    client.pauseReading();
    // No wall-clock bound here (a loaded machine makes it flaky); the cost of merging is the benchmark's to measure.
    await answerFinished(rt);
    client.resumeReading();

    await client.next('done', () => true, 30_000);
    expect(client.messages.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
    const chunks = chunksOf(client.messages);
    expect(chunks.length).toBeLessThan(TOKEN_COUNT);
    expect(textOf(chunks)).toBe(ANSWER);
    expectStrictlyIncreasing(chunks.map((m) => m.seq));
    // The last chunk carries the seq of the last token: seq stays "the last event I have".
    const done = client.messages.at(-1) as { seq: number };
    expect(chunks.at(-1)!.seq).toBeLessThan(done.seq);

    client.send({ type: 'ping' });
    await client.next('pong');
    await client.close();
  });
});
