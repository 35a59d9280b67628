import { describe, expect, it } from 'vitest';
import { ConversationChannel, conversationTopic } from '../src/conversations/conversation-channel.js';
import { ConversationState } from '../src/machines/conversation-machine.js';

/** What the channel asked of its publisher, in order: a frame published, or the topic's sockets flushed. */
function recordingChannel(): { channel: ConversationChannel; calls: string[] } {
  const calls: string[] = [];
  const publisher = {
    publish: (_topic: string, message: string) => {
      const { type, text } = JSON.parse(message) as { type: string; text?: string };
      calls.push(`publish ${text ?? type}`);
    },
    flush: (topic: string) => calls.push(`flush ${topic}`),
  };
  return { channel: new ConversationChannel('c1', 0, 64, publisher, undefined, 1_000_000), calls };
}

describe('the first chunk of an LLM step', () => {
  it('is written at once, with what was gathered before it; later chunks wait for the end of the loop turn', () => {
    const { channel, calls } = recordingChannel();
    const flush = `flush ${conversationTopic('c1')}`;
    channel.publish({ type: 'state', state: ConversationState.Streaming });
    channel.chunk('Hel');
    channel.chunk('lo');
    channel.chunk('!');
    expect(calls).toEqual(['publish state', 'publish Hel', flush, 'publish lo', 'publish !']);
  });

  it('is the first one again after any other event (the next step of a tool loop)', () => {
    const { channel, calls } = recordingChannel();
    const flush = `flush ${conversationTopic('c1')}`;
    channel.chunk('Looking');
    channel.chunk(' it up');
    channel.publish({ type: 'state', state: ConversationState.CallingTool });
    channel.chunk('Found');
    channel.chunk(' it');
    expect(calls.filter((c) => c === flush)).toHaveLength(2);
    expect(calls.slice(-3)).toEqual(['publish Found', flush, 'publish  it']);
  });

  it('is published as before by a publisher that cannot flush', () => {
    const published: string[] = [];
    const channel = new ConversationChannel('c1', 0, 64, { publish: (_topic, message) => published.push(message) }, undefined, 1_000_000);
    channel.chunk('a');
    channel.chunk('b');
    expect(published.map((m) => (JSON.parse(m) as { text: string }).text)).toEqual(['a', 'b']);
  });
});
