import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../src/conversations/chat-message.js';
import { estimateMessagesTokens, fitToContext } from '../src/llm/context-window.js';

const words = (n: number) => 'word '.repeat(n);
const turn = (i: number, size: number): ChatMessage[] => [
  { role: 'user', content: `question ${i} ${words(size)}` },
  { role: 'assistant', content: '', toolCalls: [{ id: `c${i}`, name: 'list_emails', arguments: {} }] },
  { role: 'tool', callId: `c${i}`, toolName: 'list_emails', arguments: {}, result: { text: words(size), isError: false } },
  { role: 'assistant', content: `answer ${i}` },
];

describe('context window', () => {
  it('keeps everything that fits', () => {
    const history = [...turn(1, 10), ...turn(2, 10)];
    expect(fitToContext(history, 10_000)).toBe(history);
  });

  it('drops the oldest whole turns, never splitting a tool call from its result', () => {
    const history = [...turn(1, 400), ...turn(2, 400), ...turn(3, 400)];
    const kept = fitToContext(history, 2_500);
    expect(kept[0]).toMatchObject({ role: 'user', content: expect.stringMatching(/^question 2/) });
    expect(kept).toEqual(history.slice(4));
  });

  it('keeps the latest turn when it alone is over budget, its large tool result cut with a marker until it fits', () => {
    const big: ChatMessage[] = [
      { role: 'user', content: 'question 2: read my newsletter' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c2', name: 'read_email', arguments: {} }] },
      { role: 'tool', callId: 'c2', toolName: 'read_email', arguments: {}, result: { text: words(5_000), isError: false } },
      { role: 'assistant', content: 'answer 2' },
    ];
    const history = [...turn(1, 10), ...big];
    const kept = fitToContext(history, 1_000);
    expect(kept.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
    expect(kept[0]).toEqual(history[4]);
    const tool = kept[2]!;
    expect(tool.role === 'tool' && tool.result.text).toMatch(/cut to fit the model's context window: 25000 characters in all/);
    expect(estimateMessagesTokens(kept)).toBeLessThanOrEqual(1_000);
    // What was not over budget is left as it was.
    expect(fitToContext(history.slice(4, 6), 1_000)).toEqual(history.slice(4, 6));
  });
});
