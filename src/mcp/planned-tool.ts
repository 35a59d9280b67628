import type { ToolResult } from '../conversations/chat-message.js';
import type { ToolDescriptor } from './tool-descriptor.js';

/** A tool by its server and its own name there: what a call was planned (and approved) for. */
export interface ToolRef {
  server: string;
  tool: string;
}

/**
 * Calls are sent by the name the LLM used, and exposed names follow the catalog: a server that reconnected, left or
 * joined between the approval and the send can put another server's tool under that name. The answer when the name no
 * longer leads to the tool that was approved; `undefined` when it does (or when the call was planned for a tool the
 * catalog did not know, which asked the user first).
 */
export function movedToolResult(name: string, current: ToolDescriptor | undefined, planned: ToolRef | undefined): ToolResult | undefined {
  if (!planned || (current?.server === planned.server && current.remoteName === planned.tool)) return undefined;
  const now = current ? `now leads to "${current.remoteName}" on server "${current.server}"` : 'is no longer offered';
  return { text: `Not run: "${name}" was approved for "${planned.tool}" on server "${planned.server}", but ${now}. Ask again.`, isError: true };
}
