import type { ToolDescriptor } from './tool-descriptor.js';

/** Arguments of mail tools that name a mailbox: `email` for every tool, `from` for `send_email`. */
const MAILBOX_ARGUMENTS = ['email', 'from'] as const;

function declares(tool: ToolDescriptor, name: string): boolean {
  const properties = tool.inputSchema.properties;
  return typeof properties === 'object' && properties !== null && Object.hasOwn(properties, name);
}

/**
 * The LLM never chooses whose mailbox a call touches: for tools of a mail server (`pinsMailbox`), every mailbox argument is
 * overwritten with the signed-in user's address, whatever the model (or an edited approval) put there. Applied when a
 * call is planned (so the user is shown the call as made) and again just before it leaves.
 */
export function pinMailboxArguments(tool: ToolDescriptor | undefined, args: Record<string, unknown>, userEmail: string): Record<string, unknown> {
  if (!tool?.pinsMailbox) return args;
  const pinned = { ...args };
  for (const name of MAILBOX_ARGUMENTS) if (declares(tool, name)) pinned[name] = userEmail;
  return pinned;
}
