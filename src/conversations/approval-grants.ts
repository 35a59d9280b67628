import { z } from 'zod';
import type { ToolDescriptor } from '../mcp/tool-descriptor.js';

/**
 * What a call reaches, as far as "always allow" is concerned: a tool by its server and its own name there, never by
 * the name the LLM sees. Exposed names follow the catalog (`run` while one server has it, `a__run` once another adds
 * one), so a grant for `run` would otherwise cover an unrelated server's `run` later.
 */
export const GrantTargetSchema = z.object({
  server: z.string(),
  /** The tool's name on its own server. */
  tool: z.string(),
  /** The mail server's send tool: "always" covers the approved recipients only. */
  sendsMail: z.boolean(),
});
export type GrantTarget = z.infer<typeof GrantTargetSchema>;

const ToolRefSchema = GrantTargetSchema.pick({ server: true, tool: true });

/**
 * What the user's "always allow" answers cover in one conversation. Stored with the conversation, so they outlive the
 * actor (idle eviction, restart).
 *
 * Sending mail is the one tool whose "always" is narrower than the tool: an instruction hidden in an email the model
 * read could otherwise mail the inbox to a new address unseen. For the mail server's `send_email` "always" covers the
 * recipients the user approved; a call to anyone else asks again.
 *
 * Grants stored by earlier versions (`tools` and `recipients`, keyed by exposed name) are dropped when read, not
 * mapped: which server a name meant when it was granted is not recorded, so mapping could hand it to another server's
 * tool. The cost is one more question for the user.
 */
export const ApprovalGrantsSchema = z.object({
  /** Tools whose every call runs without asking. */
  allowed: z.array(ToolRefSchema).default([]),
  /** Per mail-sending tool, the lower-cased recipients the user approved with "always". */
  mailTo: z.array(ToolRefSchema.extend({ addresses: z.array(z.string()) })).default([]),
});
export type ApprovalGrants = z.infer<typeof ApprovalGrantsSchema>;

export const NO_GRANTS: ApprovalGrants = { allowed: [], mailTo: [] };

/** The mail server's send tool, by its name on its own server. */
const SEND_EMAIL_REMOTE_NAME = 'send_email';
/** Arguments that name who receives the mail; `cc`/`bcc` are counted too should a mail server offer them. */
const RECIPIENT_KEYS = ['to', 'cc', 'bcc'] as const;
/** The separators the mail server accepts between addresses. */
const ADDRESS_SEPARATORS = /[,;]/;

/**
 * What a grant for this catalog entry covers; undefined for a name no server offers (nothing to grant). Mail is
 * recognised by the server's mailbox capability (`pinsMailbox`), not by a tool that happens to be called send_email.
 */
export function grantTarget(tool: ToolDescriptor | undefined): GrantTarget | undefined {
  if (!tool) return undefined;
  return { server: tool.server, tool: tool.remoteName, sendsMail: tool.pinsMailbox && tool.remoteName === SEND_EMAIL_REMOTE_NAME };
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

const sameTool = (target: GrantTarget) => (ref: { server: string; tool: string }) => ref.server === target.server && ref.tool === target.tool;

/** A grant's call: what it reaches (undefined when no server offered it) and the arguments it runs with. */
export interface GrantedCall {
  target?: GrantTarget | undefined;
  arguments: Record<string, unknown>;
}

/** Whether an earlier "always allow" already covers this call. */
export function isGranted(grants: ApprovalGrants, call: GrantedCall): boolean {
  const { target } = call;
  if (!target) return false;
  if (!target.sendsMail) return grants.allowed.some(sameTool(target));
  const approved = grants.mailTo.find(sameTool(target))?.addresses ?? [];
  const recipients = recipientsOf(call.arguments);
  return recipients !== undefined && recipients.every((r) => approved.includes(r));
}

/** The grants after the user answered "always" to this call (with the arguments it runs with). */
export function withGrant(grants: ApprovalGrants, call: GrantedCall): ApprovalGrants {
  const { target } = call;
  // A tool no server offered when the call was planned: approved this once, nothing to remember it by.
  if (!target) return grants;
  const ref = { server: target.server, tool: target.tool };
  if (!target.sendsMail) return grants.allowed.some(sameTool(target)) ? grants : { ...grants, allowed: [...grants.allowed, ref] };
  const recipients = recipientsOf(call.arguments) ?? [];
  const approved = grants.mailTo.find(sameTool(target))?.addresses ?? [];
  const others = grants.mailTo.filter((entry) => !sameTool(target)(entry));
  return { ...grants, mailTo: [...others, { ...ref, addresses: [...new Set([...approved, ...recipients])] }] };
}
