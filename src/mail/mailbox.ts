import type { EmailMessage, EmailSummary, MailFilter } from './maildir/index.js';

/** A message the user asked to send; `from` is always the mailbox's own address. */
export interface MessageToSend {
  to: string[];
  subject: string;
  body: string;
}

export interface SentMessage {
  /** The id of the copy in Sent; absent when the provider files sent mail itself (`save_sent = false`) or filing failed. */
  sentId?: string;
  /** Why there is no id, in words for the user (the mail itself went). */
  sentNote?: string;
  /** Recipients delivered straight into a local Maildir. */
  local: string[];
  /** Recipients handed to an SMTP server. */
  relayed: string[];
}

/**
 * One user's mail, whatever holds it: the seven tools are written against this, so the local Maildir and an IMAP
 * account give the LLM the same names, ids and result shapes. Every operation acts on the inbox.
 */
export interface Mailbox {
  /** The signed-in address it belongs to, lower-case. */
  readonly address: string;
  /** Newest first; only what passes `filter`. */
  list(limit: number, filter?: MailFilter): Promise<EmailSummary[]>;
  read(id: string): Promise<EmailMessage>;
  /** Sender, recipients, subject and body, case-insensitive; newest first; only what passes `filter`. */
  search(query: string, filter?: MailFilter): Promise<EmailSummary[]>;
  markSeen(id: string): Promise<EmailSummary>;
  /** Moves it to Trash; never expunges. */
  delete(id: string): Promise<void>;
  unreadCount(): Promise<number>;
  send(message: MessageToSend): Promise<SentMessage>;
}

/** Picks the backend of an address: its IMAP account when it has one, else the local Maildir. */
export interface Mailboxes {
  open(address: string): Mailbox;
}
