import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { OUTBOX_DIR } from '../../src/mail/outbox/announcement-outbox.js';

/** Generous: the machine may be loaded; every wait ends as soon as its condition holds. */
export const DEADLINE_MS = 15_000;

export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, deadlineMs = DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The outbox entries on disk, whoever wrote them. */
export function outboxEntries(root: string): string[] {
  try {
    return readdirSync(join(root, OUTBOX_DIR)).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
}

/** The email id out of `250 2.0.0 Ok: queued as <id>[,<id>…]`. */
function queuedIds(response: string): string[] {
  const match = /queued as (\S+)/.exec(response);
  if (!match) throw new Error(`no ids in ${response}`);
  return match[1]!.split(',');
}

export async function sendMail(port: number, to: string | string[], subject: string): Promise<string[]> {
  const transport = createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await transport.sendMail({ from: 'bob@out.example', to, subject, text: `About ${subject}.` });
    return queuedIds(info.response);
  } finally {
    transport.close();
  }
}
