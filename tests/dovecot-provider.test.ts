import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDovecot } from './support/dovecot.js';
import { SmtpSink } from './support/smtp-sink.js';

const ALICE = 'alice@provider.test';
const PASSWORD = 'alice-submission-password';

function rfc822(subject: string, from = 'bob@elsewhere.test', to = ALICE): string {
  return [`From: ${from}`, `To: ${to}`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '-')}@elsewhere.test>`, '', `Body of ${subject}.`, ''].join('\r\n');
}

function imapClient(dovecot: TestDovecot): ImapFlow {
  const client = new ImapFlow({ host: '127.0.0.1', port: dovecot.port, secure: false, auth: { user: ALICE, pass: PASSWORD }, logger: false });
  // A refused connection also comes as an 'error' event: the test asserts on connect()'s rejection instead.
  client.on('error', () => undefined);
  return client;
}

async function inboxSubjects(dovecot: TestDovecot): Promise<string[]> {
  const client = imapClient(dovecot);
  await client.connect();
  try {
    const lock = await client.getMailboxLock('INBOX');
    try {
      const subjects: string[] = [];
      for await (const message of client.fetch('1:*', { envelope: true })) subjects.push(message.envelope?.subject ?? '');
      return subjects;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

function submission(dovecot: TestDovecot, pass: string): ReturnType<typeof createTransport> {
  return createTransport({ host: '127.0.0.1', port: dovecot.submissionPort, secure: false, ignoreTLS: true, auth: { user: ALICE, pass } });
}

describe('a private Dovecot as a whole mail provider (LMTP in, IMAP, submission out)', () => {
  let dovecot: TestDovecot | undefined;
  const provider = (): TestDovecot => dovecot ?? expect.fail('Dovecot did not start');
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD } });
  });
  afterAll(async () => {
    await dovecot?.close();
  });

  it('delivers over LMTP into the INBOX that IMAP reads', async () => {
    await provider().deliver(ALICE, rfc822('First over LMTP'));
    await provider().deliver(ALICE, Buffer.from(rfc822('Second over LMTP')));
    expect(await inboxSubjects(provider())).toEqual(expect.arrayContaining(['First over LMTP', 'Second over LMTP']));
  });

  it('refuses to deliver to a user it does not know', async () => {
    await expect(provider().deliver('nobody-here@provider.test', rfc822('Lost'))).rejects.toMatchObject({ responseCode: 550 });
  });

  it('relays an authenticated submission with its envelope', async () => {
    const transport = submission(provider(), PASSWORD);
    try {
      await transport.sendMail({ envelope: { from: ALICE, to: ['carol@far.test', 'dan@far.test'] }, raw: rfc822('Submitted', ALICE, 'carol@far.test') });
    } finally {
      transport.close();
    }
    const [relayed] = await provider().waitForRelayed(1, 5_000);
    expect(relayed?.from).toBe(ALICE);
    expect(relayed?.to).toEqual(['carol@far.test', 'dan@far.test']);
    expect(String(relayed?.raw)).toContain('Subject: Submitted');
  });

  it('refuses a submission with a wrong password (535)', async () => {
    const transport = submission(provider(), 'not-the-password');
    try {
      await expect(transport.sendMail({ envelope: { from: ALICE, to: ['carol@far.test'] }, raw: rfc822('Never sent') })).rejects.toMatchObject({ responseCode: 535 });
    } finally {
      transport.close();
    }
    expect(provider().relayed().map((message) => String(message.raw))).not.toContainEqual(expect.stringContaining('Never sent'));
  });

  it('goes away on stop() and comes back on restart() on the same port with its mail', async () => {
    await provider().deliver(ALICE, rfc822('Before the restart'));
    const port = provider().port;
    await provider().stop();
    await expect(imapClient(provider()).connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await provider().restart();
    expect(provider().port).toBe(port);
    expect(await inboxSubjects(provider())).toContain('Before the restart');
  });
});

describe('a private Dovecot relaying submissions to a relay the test names', () => {
  it('relays there, and has no sink of its own', async () => {
    const relay = await SmtpSink.start();
    const dovecot = await TestDovecot.start({ users: { [ALICE]: PASSWORD }, relayTo: { host: '127.0.0.1', port: relay.port } }).catch(async (error: unknown) => {
      await relay.close();
      throw error;
    });
    const transport = submission(dovecot, PASSWORD);
    try {
      await transport.sendMail({ envelope: { from: ALICE, to: ['erin@far.test'] }, raw: rfc822('To the named relay', ALICE, 'erin@far.test') });
      const [relayed] = await relay.waitFor(1, 5_000);
      expect(relayed?.to).toEqual(['erin@far.test']);
      expect(() => dovecot.relayed()).toThrow(/relayTo/);
    } finally {
      transport.close();
      await dovecot.close();
      await relay.close();
    }
  });
});
