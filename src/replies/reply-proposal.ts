import type { ProposedCall } from '../conversations/tool-batch.js';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';

/** A reply the user picked to send (`propose_reply`). */
export interface ReplyToSend {
  to: string;
  subject: string;
  body: string;
}

/**
 * The user's side of the turn, in the history: what they asked for, in words, so that the LLM answering after the send
 * (and the user reading back) know where the call came from. The mail itself is the call's arguments.
 */
export function proposalText(reply: ReplyToSend): string {
  return `Send my reply to ${reply.to}${reply.subject ? ` (subject "${reply.subject}")` : ''}.`;
}

export interface ReplyCallDeps {
  /** The mail server's send tool, as the catalog has it now; undefined while no mail server offers one. */
  sendTool: ToolDescriptor | undefined;
  /** Mailbox pinning, as for every planned call. */
  prepareArguments: (tool: string, args: Record<string, unknown>, userEmail: string) => Record<string, unknown>;
  grantTarget: (tool: string) => ProposedCall['target'];
}

/** The `send_email` call for the reply, from the signed-in user; undefined when no mail server can send. */
export function replyCall(deps: ReplyCallDeps, reply: ReplyToSend, userEmail: string): ProposedCall | undefined {
  const tool = deps.sendTool;
  if (!tool) return undefined;
  const target = deps.grantTarget(tool.name);
  return {
    // As the LLM stream numbers its calls; the global Web Crypto, as there.
    id: `call_${crypto.randomUUID().slice(0, 8)}`,
    name: tool.name,
    arguments: deps.prepareArguments(tool.name, { from: userEmail, to: reply.to, subject: reply.subject, body: reply.body }, userEmail),
    ...(target ? { target } : {}),
  };
}
