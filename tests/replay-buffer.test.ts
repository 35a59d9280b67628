import { describe, expect, it } from 'vitest';
import { ConversationChannel } from '../src/conversations/conversation-channel.js';

function recordingChannel(events: number, chars: number): { channel: ConversationChannel; published: string[] } {
  const published: string[] = [];
  const channel = new ConversationChannel('c1', 0, events, { publish: (_topic, message) => published.push(message) }, undefined, chars);
  return { channel, published };
}

describe('the replay buffer of a conversation', () => {
  it('keeps the last events up to its event count', () => {
    const { channel, published } = recordingChannel(16, 1_000_000);
    for (let i = 0; i < 40; i++) channel.chunk(`t${i} `);
    expect(channel.since(40 - 16)).toEqual(published.slice(-16));
    expect(channel.since(40 - 17)).toBeUndefined();
  });

  it('an answer in large pieces keeps no more than its character bound: the oldest go, a resume from there gets a history', () => {
    const piece = 'x'.repeat(3_000);
    const { channel, published } = recordingChannel(2_048, 10_000);
    for (let i = 0; i < 20; i++) channel.chunk(piece);
    // Three events of ~3,050 characters fit in 10,000; a fourth would not.
    expect(channel.since(17)).toEqual(published.slice(-3));
    expect(channel.since(16)).toBeUndefined();
    // What is no longer buffered is still in the draft a `history` carries.
    expect(channel.draft).toBe(piece.repeat(20));
  });

  it('always keeps the newest event, even one larger than the bound', () => {
    const { channel, published } = recordingChannel(64, 4_096);
    channel.chunk('a');
    channel.chunk('y'.repeat(10_000));
    expect(channel.since(1)).toEqual([published[1]]);
    expect(channel.since(0)).toBeUndefined();
  });
});
