import { describe, expect, it } from 'vitest';
import { SLOW_CONSUMER_CLOSE_CODE, SocketOutbox, type OutboxSocket } from '../src/server/socket-outbox.js';

/** A socket whose unsent bytes the test sets by hand; `flush()` plays the network writing them out. */
class FakeSocket implements OutboxSocket {
  readonly sent: string[] = [];
  readonly closes: Array<{ code: number; reason: string }> = [];
  buffered = 0;
  /** Whether `send` adds to `buffered`, like a socket whose client does not read. */
  stuck = false;

  send(message: string): void {
    this.sent.push(message);
    if (this.stuck) this.buffered += Buffer.byteLength(message);
  }

  bufferedAmount(): number {
    return this.buffered;
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
  }

  flush(): void {
    this.buffered = 0;
  }

  parsed(): Array<Record<string, unknown>> {
    return this.sent.map((m) => JSON.parse(m) as Record<string, unknown>);
  }
}

const SOFT = 1000;
const HARD = 2000;

function chunk(conversation: string, seq: number, text: string): string {
  return JSON.stringify({ type: 'chunk', conversation_id: conversation, seq, text });
}

function state(conversation: string, seq: number, value: string): string {
  return JSON.stringify({ type: 'state', conversation_id: conversation, seq, state: value });
}

function setup(): { socket: FakeSocket; outbox: SocketOutbox } {
  const socket = new FakeSocket();
  return { socket, outbox: new SocketOutbox(socket, SOFT, HARD) };
}

describe('SocketOutbox', () => {
  it('sends straight to the socket, unparsed and unmerged, while it holds less than the soft limit', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT - 1;
    const messages = [chunk('a', 1, 'x'), chunk('a', 2, 'y'), '{"type":"pong"}'];
    for (const message of messages) outbox.send(message);
    expect(socket.sent).toEqual(messages);
    expect(outbox.queuedBytes).toBe(0);
    expect(outbox.coalesced).toBe(0);
  });

  it('holds messages at the soft limit and merges consecutive chunks of one conversation: joined text, last seq', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT;
    outbox.send(chunk('a', 1, 'Hel'));
    outbox.send(chunk('a', 2, 'lo "w'));
    outbox.send(chunk('a', 3, 'orld"\n'));
    expect(socket.sent).toEqual([]);
    expect(outbox.coalesced).toBe(2);
    expect(outbox.queuedBytes).toBe(Buffer.byteLength(chunk('a', 3, 'Hello "world"\n')));

    socket.flush();
    outbox.drain();
    expect(socket.parsed()).toEqual([{ type: 'chunk', conversation_id: 'a', seq: 3, text: 'Hello "world"\n' }]);
    expect(outbox.queuedBytes).toBe(0);
  });

  it('does not merge chunks of different conversations, nor across another message, and keeps the order', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT;
    outbox.send(chunk('a', 1, 'a1'));
    outbox.send(chunk('b', 1, 'b1'));
    outbox.send(chunk('b', 2, 'b2'));
    outbox.send(chunk('a', 2, 'a2'));
    outbox.send(state('a', 3, 'done'));
    outbox.send(chunk('a', 4, 'a4'));
    outbox.send(chunk('a', 5, 'a5'));
    outbox.send('{"type":"pong"}');

    socket.flush();
    outbox.drain();
    expect(socket.parsed()).toEqual([
      { type: 'chunk', conversation_id: 'a', seq: 1, text: 'a1' },
      { type: 'chunk', conversation_id: 'b', seq: 2, text: 'b1b2' },
      { type: 'chunk', conversation_id: 'a', seq: 2, text: 'a2' },
      { type: 'state', conversation_id: 'a', seq: 3, state: 'done' },
      { type: 'chunk', conversation_id: 'a', seq: 5, text: 'a4a5' },
      { type: 'pong' },
    ]);
    expect(outbox.coalesced).toBe(2);
  });

  it('queues behind waiting messages even when the socket has room, so nothing overtakes', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT;
    outbox.send(state('a', 1, 'thinking'));
    socket.flush();
    // No drain yet: the socket has room, but an older message still waits here.
    outbox.send(state('a', 2, 'streaming'));
    expect(socket.sent).toEqual([]);
    outbox.drain();
    expect(socket.parsed().map((m) => m.seq)).toEqual([1, 2]);
    // Empty again: straight to the socket.
    outbox.send(state('a', 3, 'done'));
    expect(socket.parsed().map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('drain hands the socket only what fits under the soft limit, and the rest on later drains', () => {
    const socket = new FakeSocket();
    const outbox = new SocketOutbox(socket, SOFT, 10 * HARD);
    socket.stuck = true;
    socket.buffered = SOFT;
    const big = (seq: number) => state('a', seq, 'x'.repeat(400));
    for (let seq = 1; seq <= 4; seq++) outbox.send(big(seq));
    socket.flush();
    outbox.drain();
    // Each is ~450 bytes: the socket takes them until it holds the soft limit, then the outbox waits for the next drain.
    expect(socket.sent).toHaveLength(3);
    socket.flush();
    outbox.drain();
    expect(socket.parsed().map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(outbox.queuedBytes).toBe(0);
  });

  it('closes the socket with 4008, once, when socket plus outbox pass the hard limit, and drops the rest', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT;
    // Merged chunks still count: the text alone passes the limit.
    let seq = 0;
    while (socket.closes.length === 0 && seq < 1000) outbox.send(chunk('a', ++seq, 'x'.repeat(50)));
    expect(socket.closes).toEqual([{ code: SLOW_CONSUMER_CLOSE_CODE, reason: expect.stringContaining('resume') as string }]);
    expect(SLOW_CONSUMER_CLOSE_CODE).toBe(4008);
    // Just past the limit, not long after it.
    expect(seq * 50).toBeGreaterThan(HARD - SOFT - 100);
    expect(seq * 50).toBeLessThan(HARD - SOFT + 100);
    expect(outbox.isClosed).toBe(true);
    expect(outbox.queuedBytes).toBe(0);

    outbox.send(chunk('a', ++seq, 'late'));
    outbox.send(state('a', ++seq, 'done'));
    socket.flush();
    outbox.drain();
    expect(socket.closes).toHaveLength(1);
    expect(socket.sent).toEqual([]);
  });

  it('counts what the socket holds toward the hard limit, up to the soft limit', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT;
    const nearlyFull = state('a', 1, 'x'.repeat(HARD - SOFT - 100));
    outbox.send(nearlyFull);
    expect(Buffer.byteLength(nearlyFull)).toBeLessThan(HARD - SOFT);
    expect(socket.closes).toEqual([]);
    outbox.send(state('a', 2, 'x'.repeat(100)));
    expect(socket.closes.map((c) => c.code)).toEqual([SLOW_CONSUMER_CLOSE_CODE]);
  });

  it('a single large message the socket still holds (a long history) does not get a client that reads closed', () => {
    const { socket, outbox } = setup();
    socket.stuck = true;
    outbox.send(JSON.stringify({ type: 'history', text: 'h'.repeat(10 * HARD) }));
    // The client reads on; events arrive while the history is still on its way.
    for (let seq = 1; seq <= 10; seq++) outbox.send(chunk('a', seq, 'x'));
    outbox.send(state('a', 11, 'done'));
    expect(socket.closes).toEqual([]);
    socket.flush();
    outbox.drain();
    expect(socket.parsed().slice(1)).toEqual([
      { type: 'chunk', conversation_id: 'a', seq: 10, text: 'x'.repeat(10) },
      { type: 'state', conversation_id: 'a', seq: 11, state: 'done' },
    ]);
  });

  it('sends nothing after discard (the socket closed on its own)', () => {
    const { socket, outbox } = setup();
    socket.buffered = SOFT;
    outbox.send(chunk('a', 1, 'x'));
    outbox.discard();
    socket.flush();
    outbox.drain();
    outbox.send(chunk('a', 2, 'y'));
    expect(socket.sent).toEqual([]);
    expect(socket.closes).toEqual([]);
  });

  it('merges a long backlog in linear time (the text is joined once, at send)', () => {
    const socket = new FakeSocket();
    const outbox = new SocketOutbox(socket, SOFT, 64 * 1024 * 1024);
    socket.buffered = SOFT;
    const tokens = 40_000;
    const started = performance.now();
    for (let seq = 1; seq <= tokens; seq++) outbox.send(chunk('a', seq, 'word '));
    socket.flush();
    outbox.drain();
    // Re-parsing the merged chunk at every token took ~9 s here (quadratic); the linear merge takes ~50 ms.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(socket.sent).toHaveLength(1);
    const merged = socket.parsed()[0]!;
    expect(merged.seq).toBe(tokens);
    expect((merged.text as string).length).toBe(tokens * 5);
  });
});
