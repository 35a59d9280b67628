/**
 * The Messages API's rules on a conversation, as its 400 answers state them: a client that breaks one gets the same
 * refusal from the fake as from the real thing, instead of a test passing on a request production would reject.
 */

interface Block {
  type: string;
  [key: string]: unknown;
}

interface Message {
  role: 'user' | 'assistant';
  content: string | Block[];
}

const blocksOf = (m: Message | undefined): Block[] => (m === undefined ? [] : typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content);

/** What is wrong with `messages`, in the API's words, or undefined. */
export function checkMessages(messages: readonly Message[]): string | undefined {
  for (const [i, message] of messages.entries()) {
    const blocks = blocksOf(message);
    if (blocks.length === 0) return `messages.${i}: all messages must have non-empty content`;
    for (const block of blocks) {
      if (block.type === 'text' && block['text'] === '') return `messages.${i}: text content blocks must be non-empty`;
    }
    const toolUseIds = blocksOf(messages[i - 1]).flatMap((b) => (b.type === 'tool_use' && messages[i - 1]!.role === 'assistant' ? [String(b['id'])] : []));
    if (message.role === 'user') {
      const firstOther = blocks.findIndex((b) => b.type !== 'tool_result');
      if (firstOther !== -1 && blocks.slice(firstOther).some((b) => b.type === 'tool_result')) {
        return `messages.${i}: tool_result blocks must come first in the user message, before any other content`;
      }
      for (const block of blocks.filter((b) => b.type === 'tool_result')) {
        if (!toolUseIds.includes(String(block['tool_use_id']))) {
          return `messages.${i}.content: unexpected tool_use_id found in tool_result blocks: ${String(block['tool_use_id'])}. Each tool_result block must have a corresponding tool_use block in the previous message.`;
        }
      }
    }
    if (message.role === 'assistant') {
      const ids = blocks.flatMap((b) => (b.type === 'tool_use' ? [String(b['id'])] : []));
      if (ids.some((id) => !/^[a-zA-Z0-9_-]+$/.test(id))) return `messages.${i}: tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
      const next = messages[i + 1];
      if (ids.length > 0 && next !== undefined) {
        const answered = new Set(blocksOf(next).flatMap((b) => (b.type === 'tool_result' ? [String(b['tool_use_id'])] : [])));
        const missing = ids.filter((id) => !answered.has(id));
        if (missing.length > 0) {
          return `messages.${i}: tool_use ids were found without tool_result blocks immediately after: ${missing.join(', ')}. Each tool_use block must have a corresponding tool_result block in the next message.`;
        }
      }
    }
  }
  return undefined;
}
