import { ImapFlow } from 'imapflow';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { TestMailServer } from './support/mail-harness.js';

const ANN = 'ann@local.test';
const PASSWORD = 'ann-imap-password';

describe('the local Maildir over IMAP (Dovecot)', () => {
  let mail: TestMailServer | undefined;
  let dovecot: TestDovecot | undefined;
  let imap: ImapFlow | undefined;
  afterEach(async () => {
    await imap?.logout().catch(() => undefined);
    await dovecot?.close();
    await mail?.close();
  });

  it('a message delivered by the SMTP intake is listed and read by any mail client through Dovecot', async () => {
    mail = await TestMailServer.start({ mail: { local_domains: ['local.test'] } });
    await mail.sendSmtp({ from: 'bob@out.example', to: ANN, subject: 'Réunion de lundi', text: 'On se voit à 10 h.' });
    dovecot = await TestDovecot.start({ users: { [ANN]: PASSWORD }, mailRoot: mail.root });
    imap = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ANN, pass: PASSWORD }, logger: false });
    await imap.connect();
    const lock = await imap.getMailboxLock('INBOX').catch((error: unknown) => {
      throw new Error(`${String(error)}\n${dovecot!.log()}`);
    });
    try {
      const messages = [];
      for await (const message of imap.fetch('1:*', { envelope: true, source: true })) messages.push(message);
      expect(messages).toHaveLength(1);
      expect(messages[0]!.envelope?.subject).toBe('Réunion de lundi');
      expect(messages[0]!.envelope?.from?.[0]?.address).toBe('bob@out.example');
      expect(String(messages[0]!.source)).toContain('On se voit');
    } finally {
      lock.release();
    }
  });
});
