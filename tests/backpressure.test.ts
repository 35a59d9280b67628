import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../src/server/protocol.js';
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
const TOKENS = Array.from({ length: TOKEN_COUNT }, (_, i) => `${String(i).padStart(6, '0')}${'x'.repeat(TOKEN_CHARS - 6)}`);
const ANSWER = TOKENS.join('');

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
    // The headers delay lets the slow client stop reading, and the watcher subscribe, before the first token.
    rt.ollama.enqueue({ tokens: TOKENS, headersDelayMs: 300 });
    const slow = await rt.client('slow@example.com');
    const read = countBytes(slow);
    slow.send({ type: 'chat', message: 'Tell me everything' });
    const history = await slow.next('history');
    slow.pauseReading();

    // Another socket of the user follows the same conversation at full speed.
    const watcher = await rt.client('slow@example.com');
    watcher.send({ type: 'resume', conversation_id: history.conversation_id, last_seq: history.seq });
    await watcher.next('resumed');
    await watcher.next('done', () => true, 30_000);
    expect(watcher.messages.at(-1)).toMatchObject({ type: 'done', reason: 'complete' });
    expect(textOf(watcher.messages)).toBe(ANSWER);
    expectStrictlyIncreasing(chunksOf(watcher.messages).map((m) => m.seq));

    await answerFinished(rt);
    slow.resumeReading();
    const { code } = await slow.closed;
    expect(code).toBe(SLOW_CONSUMER_CLOSE_CODE);
    // What the slow client got is the start of the answer, in order and without a gap (coalesced, never dropped)…
    const got = chunksOf(slow.messages);
    expect(got.length).toBeGreaterThan(0);
    expectStrictlyIncreasing(got.map((m) => m.seq));
    expect(ANSWER.startsWith(textOf(got))).toBe(true);
    expect(slow.messages.some((m) => m.type === 'done')).toBe(false);
    // …and only what the kernel had absorbed plus the server's 64 KiB: the server did not hold the other ~12 MB for it.
    expect(read.bytes).toBeLessThan(ANSWER.length / 2);

    // The conversation was not harmed: a new socket resumes it and finds the whole answer.
    const again = await rt.client('slow@example.com');
    // (Its last seq is thousands of events back, past the replay buffer: the answer comes as a history either way.)
    again.send({ type: 'resume', conversation_id: history.conversation_id });
    const caughtUp = await again.next('history');
    expect(caughtUp.state).toBe('idle');
    expect(caughtUp.messages.at(-1)).toEqual({ role: 'assistant', content: ANSWER });
    await Promise.all([again.close(), watcher.close()]);
  });

  it('a client that pauses and then catches up gets fewer, longer chunks with the whole text, and stays connected', async () => {
    // Half of this (8 MiB) is where coalescing starts; the queue never reaches the close limit for this answer.
    rt = await TestRuntime.start({ mcp: false, config: { server: { max_backpressure_bytes: 16 * 1024 * 1024 } } });
    rt.ollama.enqueue({ tokens: TOKENS, headersDelayMs: 300 });
    const client = await rt.client('pausing@example.com');
    client.send({ type: 'chat', message: 'Tell me everything' });
    await client.next('history');
    client.pauseReading();
    const started = Date.now();
    await answerFinished(rt);
    // ~0.5 s here. Merging must stay cheap: re-serializing the growing merged chunk per token took 14 s.
    expect(Date.now() - started).toBeLessThan(8_000);
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
