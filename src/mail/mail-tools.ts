import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { MAILBOX_CAPABILITY } from '../mcp/tool-descriptor.js';
import { LISTING_FILTERS, filterWords, listMail, listResult, type TriageLookup } from './mail-listing.js';
import type { Mailboxes } from './mailbox.js';
import { MailError, type EmailMessage } from './maildir/index.js';
import { SendRefusedError, parseRecipients } from './outgoing-mail.js';
import { capMessage } from './result-limits.js';

export interface MailToolsDeps {
  /** Each address's mailbox: its IMAP account, or the local Maildir. */
  mailboxes: Mailboxes;
  /**
   * The triage stored with each summary (the runtime's database). Without it, list and search refuse category and
   * priority filters and their items carry no triage.
   */
  triage?: TriageLookup;
  /** Where unexpected failures are reported in full; the LLM only gets a short message without paths. */
  logger?: Logger;
}

/** The body a tool hands the LLM is cut here: a long newsletter would otherwise fill the whole context window. */
const MAX_BODY_CHARS_FOR_LLM = 8_000;
const MAX_LIST_LIMIT = 100;

const email = z.string().describe('The mailbox address (the signed-in user; the runtime fills it in)');
const emailId = z.string().describe('The email id, as returned by list_emails or search_emails');

/**
 * The seed's 7 tools, with their names and parameters. Annotations drive the runtime's approval gate: reads are
 * `readOnlyHint`, and sending or deleting is `destructiveHint`, so the user is asked first.
 */
export const MAIL_TOOLS = {
  send_email: {
    title: 'Send an email',
    description: 'Send an email from the user to one or more recipients (comma-separated). A copy is kept in Sent.',
    inputSchema: { from: email.describe('The sender: the signed-in user'), to: z.string().describe('Recipient address(es), comma-separated'), subject: z.string(), body: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  },
  list_emails: {
    title: 'List emails',
    description:
      'List the newest emails in the inbox: id, sender, subject, date, a snippet, whether they are unread and, for mail already triaged, ' +
      'its category, priority and whether it needs a reply. Filters combine: category, priority, unread, since. ' +
      'For "what is important today?" call it once with {priority: "high", since: "<today\'s date>"}.',
    inputSchema: { email, limit: z.number().int().min(1).max(MAX_LIST_LIMIT).optional().describe('How many, newest first (default 20)'), ...LISTING_FILTERS },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  read_email: {
    title: 'Read an email',
    description: 'Read one email in full: headers, text body and attachment names.',
    inputSchema: { email, email_id: emailId },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  search_emails: {
    title: 'Search emails',
    description:
      'Search the inbox: matches sender, recipients, subject and body (case-insensitive), newest first. The filters of list_emails ' +
      '(category, priority, unread, since) narrow it; each result carries its category, priority and needs_reply where known.',
    inputSchema: { email, query: z.string().min(1).max(500), ...LISTING_FILTERS },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  mark_as_read: {
    title: 'Mark an email as read',
    description: 'Mark one email as read.',
    inputSchema: { email, email_id: emailId },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  },
  delete_email: {
    title: 'Delete an email',
    description: 'Delete one email (it is moved to Trash).',
    inputSchema: { email, email_id: emailId },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  },
  get_email_count: {
    title: 'Count unread emails',
    description: 'How many unread emails are in the inbox.',
    inputSchema: { email },
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
} as const;

export type MailToolName = keyof typeof MAIL_TOOLS;

function messageResult(full: EmailMessage): CallToolResult {
  const message = capMessage(full);
  const cut = message.body_truncated || message.text.length > MAX_BODY_CHARS_FOR_LLM;
  const body = cut ? `${message.text.slice(0, MAX_BODY_CHARS_FOR_LLM)}\n[… truncated: the body is ${message.body_bytes} bytes]` : message.text;
  const more = message.attachments_total > message.attachments.length ? ` and ${message.attachments_total - message.attachments.length} more` : '';
  const attachments = message.attachments.length ? `\nAttachments: ${message.attachments.map((a) => `${a.filename} (${a.contentType}, ${a.size} bytes)`).join(', ')}${more}` : '';
  const text = [
    `From: ${message.from}`,
    `To: ${message.to}`,
    ...(message.cc ? [`Cc: ${message.cc}`] : []),
    `Date: ${message.date ?? message.receivedAt}`,
    `Subject: ${message.subject}`,
    `id: ${message.id}${attachments}`,
    ...(message.parseError ? [`(This message could not be parsed: ${message.parseError}. Raw source follows.)`] : []),
    '',
    body,
  ].join('\n');
  return { content: [{ type: 'text', text }], structuredContent: { email: message } };
}

export function createMailMcpServer({ mailboxes, triage, logger }: MailToolsDeps): McpServer {
  /** Store and send failures become tool errors the LLM can read; anything else is logged and reported without internals. */
  const run = async (work: () => Promise<CallToolResult>): Promise<CallToolResult> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof MailError || error instanceof SendRefusedError) return { isError: true, content: [{ type: 'text', text: errorMessage(error) }] };
      logger?.error({ err: errorMessage(error) }, 'mail tool failed');
      return { isError: true, content: [{ type: 'text', text: 'The mail server could not do this (internal error; see its log).' }] };
    }
  };

  // Tells the runtime "pin my mailbox arguments", whatever name or transport it knows this server under.
  const server = new McpServer({ name: 'ai-runtime-mail', version: '0.1.0' }, { capabilities: { experimental: { [MAILBOX_CAPABILITY]: { arguments: ['email', 'from'] } } } });
  const t = MAIL_TOOLS;

  server.registerTool('send_email', t.send_email, (args) =>
    run(async () => {
      const to = parseRecipients(args.to);
      const sent = await mailboxes.open(args.from).send({ to, subject: args.subject, body: args.body });
      const filed = sent.sentId === undefined ? (sent.sentNote ?? '') : `A copy is in Sent (id ${sent.sentId}).`;
      return {
        content: [{ type: 'text', text: `Email sent to ${to.join(', ')} (subject "${args.subject}"). ${filed}` }],
        structuredContent: { sent: true, id: sent.sentId ?? null, to, subject: args.subject, delivered_locally: sent.local, relayed: sent.relayed },
      };
    }),
  );
  server.registerTool('list_emails', t.list_emails, (args) =>
    run(async () => {
      const mailbox = mailboxes.open(args.email);
      const found = await listMail(mailbox, args, (filter) => mailbox.list(args.limit ?? 20, filter), { triage, logger });
      return listResult(args.email, found, `Emails for ${args.email}${filterWords(args)}, newest first`);
    }),
  );
  server.registerTool('read_email', t.read_email, (args) => run(async () => messageResult(await mailboxes.open(args.email).read(args.email_id))));
  server.registerTool('search_emails', t.search_emails, (args) =>
    run(async () => {
      const mailbox = mailboxes.open(args.email);
      const found = await listMail(mailbox, args, (filter) => mailbox.search(args.query, filter), { triage, logger });
      return listResult(args.email, found, `Emails matching "${args.query}"${filterWords(args)}`);
    }),
  );
  server.registerTool('mark_as_read', t.mark_as_read, (args) =>
    run(async () => {
      const summary = await mailboxes.open(args.email).markSeen(args.email_id);
      return { content: [{ type: 'text', text: `Marked as read: "${summary.subject}" from ${summary.from}.` }], structuredContent: { email: summary } };
    }),
  );
  server.registerTool('delete_email', t.delete_email, (args) =>
    run(async () => {
      await mailboxes.open(args.email).delete(args.email_id);
      return { content: [{ type: 'text', text: `Deleted email ${args.email_id} (moved to Trash).` }], structuredContent: { deleted: true, id: args.email_id } };
    }),
  );
  server.registerTool('get_email_count', t.get_email_count, (args) =>
    run(async () => {
      const unread = await mailboxes.open(args.email).unreadCount();
      return { content: [{ type: 'text', text: `${unread} unread email${unread === 1 ? '' : 's'} for ${args.email}.` }], structuredContent: { unread } };
    }),
  );
  return server;
}

/** The tool list as JSON, for `GET /mcp/tools` (the seed's discovery endpoint). */
export function describeMailTools(): Array<{ name: string; title: string; description: string; annotations: object; inputSchema: object }> {
  return Object.entries(MAIL_TOOLS).map(([name, tool]) => ({
    name,
    title: tool.title,
    description: tool.description,
    annotations: tool.annotations,
    inputSchema: z.toJSONSchema(z.object(tool.inputSchema)),
  }));
}
