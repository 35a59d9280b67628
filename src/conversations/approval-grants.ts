import { z } from 'zod';
import { NAMESPACE_SEPARATOR } from '../mcp/tool-descriptor.js';

/**
 * What the user's "always allow" answers cover in one conversation. Stored with the conversation, so they outlive the
 * actor (idle eviction, restart).
 *
 * Sending mail is the one tool whose "always" is narrower than the tool: an instruction hidden in an email the model
 * read could otherwise mail the inbox to a new address unseen. For `send_email` "always" covers the recipients the
 * user approved; a call to anyone else asks again.
 */
export const ApprovalGrantsSchema = z.object({
  /** Tools whose every call runs without asking. */
  tools: z.array(z.string()),
  /** Per mail-sending tool (exposed name), the lower-cased recipients the user approved with "always". */
  recipients: z.record(z.string(), z.array(z.string())),
});
export type ApprovalGrants = z.infer<typeof ApprovalGrantsSchema>;

export const NO_GRANTS: ApprovalGrants = { tools: [], recipients: {} };

/** The mail server's tool, by its name on its own server (`send_email`, or `<server>__send_email` when namespaced). */
const SEND_EMAIL_REMOTE_NAME = 'send_email';
/** Arguments that name who receives the mail; `cc`/`bcc` are counted too should a mail server offer them. */
const RECIPIENT_KEYS = ['to', 'cc', 'bcc'] as const;
/** The separators the mail server accepts between addresses. */
const ADDRESS_SEPARATORS = /[,;]/;

export function isSendEmail(tool: string): boolean {
  return tool === SEND_EMAIL_REMOTE_NAME || tool.endsWith(`${NAMESPACE_SEPARATOR}${SEND_EMAIL_REMOTE_NAME}`);
}

/** `Name <a@b>` → `a@b`, lower-cased. */
function normalizeRecipient(entry: string): string {
  const bracketed = /<([^<>]*)>\s*$/.exec(entry);
  return (bracketed ? bracketed[1]! : entry).trim().toLowerCase();
}

/**
 * Every recipient of a send_email call, or undefined when a recipient field has a shape we cannot read: a call whose
 * recipients are unknown is never covered by a grant.
 */
export function recipientsOf(args: Record<string, unknown>): string[] | undefined {
  const found: string[] = [];
  for (const key of RECIPIENT_KEYS) {
    const value = args[key];
    if (value === undefined || value === null) continue;
    const entries = typeof value === 'string' ? [value] : Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
    if (!entries) return undefined;
    found.push(...entries.flatMap((e) => e.split(ADDRESS_SEPARATORS)).map(normalizeRecipient).filter(Boolean));
  }
  return found.length > 0 ? [...new Set(found)] : undefined;
}

/** Whether an earlier "always allow" already covers this call. */
export function isGranted(grants: ApprovalGrants, call: { name: string; arguments: Record<string, unknown> }): boolean {
  if (!isSendEmail(call.name)) return grants.tools.includes(call.name);
  const approved = grants.recipients[call.name] ?? [];
  const recipients = recipientsOf(call.arguments);
  return recipients !== undefined && recipients.every((r) => approved.includes(r));
}

/** The grants after the user answered "always" to this call (with the arguments it runs with). */
export function withGrant(grants: ApprovalGrants, call: { name: string; arguments: Record<string, unknown> }): ApprovalGrants {
  if (!isSendEmail(call.name)) return grants.tools.includes(call.name) ? grants : { ...grants, tools: [...grants.tools, call.name] };
  const recipients = recipientsOf(call.arguments) ?? [];
  const approved = grants.recipients[call.name] ?? [];
  return { ...grants, recipients: { ...grants.recipients, [call.name]: [...new Set([...approved, ...recipients])] } };
}
