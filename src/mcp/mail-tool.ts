import type { ToolResult } from '../conversations/chat-message.js';
import { pinMailboxArguments } from './mailbox-isolation.js';
import { MAIL_SERVER_NAME, type McpRegistry } from './registry.js';
import type { ToolDescriptor } from './tool-descriptor.js';

/**
 * A mail server's tool by its name there (`read_email`, `send_email`), whatever the LLM sees it as (`mail__send_email`
 * once another server offers a `send_email`). Only a server whose mailbox arguments are pinned qualifies: the runtime
 * acts on the signed-in user's mailbox through nothing else. With several such servers, the configured mail server wins.
 */
export function findMailTool(tools: readonly ToolDescriptor[], remoteName: string): ToolDescriptor | undefined {
  const offering = tools.filter((tool) => tool.pinsMailbox && tool.remoteName === remoteName);
  return offering.find((tool) => tool.server === MAIL_SERVER_NAME) ?? offering[0];
}

/** `read_email` on the signed-in user's own mailbox (pinned, as any call); an error result when it cannot be read. */
export function readOwnEmail(mcp: Pick<McpRegistry, 'tools' | 'callTool'>, userEmail: string, emailId: string, signal: AbortSignal): Promise<ToolResult> {
  const tool = findMailTool(mcp.tools(), 'read_email');
  if (!tool) return Promise.resolve({ text: 'No mail server offers read_email right now.', isError: true });
  return mcp.callTool(tool.name, pinMailboxArguments(tool, { email: userEmail, email_id: emailId }, userEmail), signal);
}
