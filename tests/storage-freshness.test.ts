import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../src/conversations/chat-message.js';
import { isBehindStorage } from '../src/conversations/storage-freshness.js';
import { CallDecision, type BatchCall, type StoredToolCall } from '../src/conversations/tool-batch.js';

/** Storage as another node (or this node's own late writes) left it. */
const storage = (messageCount: number, calls: StoredToolCall[] = []) => ({
  messageCount: () => Promise.resolve(messageCount),
  toolCalls: () => Promise.resolve(calls),
});

const messages = (n: number): ChatMessage[] => Array.from({ length: n }, (_, i) => ({ role: 'user' as const, content: `m${i}` }));
const pending: BatchCall = { id: 'call_a', name: 'send_email', arguments: { to: 'bob@example.com' }, decision: CallDecision.Pending };

describe('a live actor on shared storage reloads only when storage is ahead of it', () => {
  it('this node\'s own step write still in flight (storage one message behind) is not a reason to reload mid-approval', async () => {
    expect(await isBehindStorage(storage(2), 'c', { messages: messages(3), batch: [pending] })).toBe(false);
  });

  it('another node added messages: reload', async () => {
    expect(await isBehindStorage(storage(4), 'c', { messages: messages(3), batch: [] })).toBe(true);
  });

  it('another node decided or started the call this actor still waits on: reload', async () => {
    const decided = { ...pending, decision: CallDecision.Approved, started: false };
    expect(await isBehindStorage(storage(3, [decided]), 'c', { messages: messages(3), batch: [pending] })).toBe(true);
    expect(await isBehindStorage(storage(3, [{ ...pending, started: false }]), 'c', { messages: messages(3), batch: [pending] })).toBe(false);
  });
});
