import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EmailNotFoundError,
  InvalidAddressError,
  InvalidEmailIdError,
  MailError,
  MailFolder,
  MaildirStore,
  PathEscapeError,
  UnknownUserError,
  type EmailSummary,
} from '../src/mail/maildir/index.js';
import { parseMessage } from '../src/mail/maildir/message-parser.js';

const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/emails/', import.meta.url));

function rawEmail(fields: { from?: string; to?: string; cc?: string; subject?: string; date?: string; body?: string; headers?: string[] }): Buffer {
  const lines = [
    ...(fields.from !== undefined ? [`From: ${fields.from}`] : []),
    ...(fields.to !== undefined ? [`To: ${fields.to}`] : []),
    ...(fields.cc !== undefined ? [`Cc: ${fields.cc}`] : []),
    ...(fields.subject !== undefined ? [`Subject: ${fields.subject}`] : []),
    ...(fields.date !== undefined ? [`Date: ${fields.date}`] : []),
    ...(fields.headers ?? []),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    fields.body ?? '',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** Every file under `dir` with its size, mtime and content hash, to prove nothing there was written. */
function snapshot(dir: string, skip: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (current: string): void => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (path === skip) continue;
      const stats = lstatSync(path);
      if (stats.isDirectory()) walk(path);
      else result[relative(dir, path)] = `${stats.size}:${stats.mtimeMs}:${stats.isFile() ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'link'}`;
    }
  };
  walk(dir);
  return result;
}

const OLD_ATIME = 1_000_000;

/** Whether this file system records reads in atime (relatime does, for an atime older than a day; noatime does not). */
function atimeIsRecorded(dir: string): boolean {
  const probe = join(dir, 'atime-probe');
  writeFileSync(probe, 'probe');
  utimesSync(probe, OLD_ATIME, statSync(probe).mtime);
  readFileSync(probe);
  const recorded = statSync(probe).atimeMs !== OLD_ATIME * 1000;
  rmSync(probe);
  return recorded;
}

function python(script: string, ...args: string[]): string {
  return execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
}

function findFixtures(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findFixtures(path);
    return entry.isFile() && entry.name.endsWith('.eml') ? [path] : [];
  });
}

describe('MaildirStore', () => {
  let dir: string;
  let root: string;
  let store: MaildirStore;
  const alice = 'alice@example.com';
  const inbox = (): string => join(root, alice);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'maildir-store-'));
    root = join(dir, 'mail');
    store = new MaildirStore({ root, localDomains: ['example.com'] });
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('round trip', () => {
    it('delivers into new/, lists newest first within the limit, and reads every field back', async () => {
      const first = await store.deliver(
        alice,
        rawEmail({ from: 'Bob Builder <bob@builders.test>', to: 'Alice <alice@example.com>', cc: 'carol@example.com', subject: 'First', date: 'Mon, 6 Jun 2005 20:21:22 +0000', body: 'Can we fix it?\r\nYes   we can.' }),
      );
      const second = await store.deliver(alice, rawEmail({ from: 'dave@dave.test', to: alice, subject: 'Second', body: 'second body' }));
      const third = await store.deliver(alice, rawEmail({ from: 'eve@eve.test', to: alice, subject: 'Third', body: 'third body' }));

      expect(readdirSync(join(inbox(), 'new')).sort()).toEqual([first, second, third].sort());
      expect(readdirSync(join(inbox(), 'tmp'))).toEqual([]);
      for (const sub of ['tmp', 'new', 'cur']) {
        expect(statSync(join(inbox(), '.Sent', sub)).isDirectory()).toBe(true);
        expect(statSync(join(inbox(), '.Trash', sub)).isDirectory()).toBe(true);
      }
      expect(first).toMatch(/^\d+\.M\d+P\d+Q\d+\.[A-Za-z0-9._-]+$/);

      const all = await store.list(alice);
      expect(all.map((m) => m.id)).toEqual([third, second, first]);
      expect((await store.list(alice, { limit: 2 })).map((m) => m.id)).toEqual([third, second]);

      const message = await store.read(alice, first);
      expect(message).toMatchObject({
        id: first,
        folder: MailFolder.Inbox,
        from: 'Bob Builder <bob@builders.test>',
        to: 'Alice <alice@example.com>',
        cc: 'carol@example.com',
        subject: 'First',
        date: '2005-06-06T20:21:22.000Z',
        snippet: 'Can we fix it? Yes we can.',
        seen: false,
        hasAttachments: false,
        attachments: [],
      });
      expect(message.text).toContain('Can we fix it?');
      expect(message.parseError).toBeUndefined();
      expect(Date.parse(message.receivedAt)).not.toBeNaN();
      expect(await store.unreadCount(alice)).toBe(3);
    });

    it('orders by delivery time (file mtime), not by name', async () => {
      const older = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'older name' }));
      const newer = await store.deliver(alice, rawEmail({ from: 'b@b.test', subject: 'newer name' }));
      utimesSync(join(inbox(), 'new', older), new Date(), new Date(Date.now() + 60_000));
      expect((await store.list(alice)).map((m) => m.id)).toEqual([older, newer]);
    });

    it('clamps the limit to 1..200', async () => {
      for (let i = 0; i < 3; i++) await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: `m${i}` }));
      expect(await store.list(alice, { limit: 0 })).toHaveLength(1);
      expect(await store.list(alice, { limit: 10_000 })).toHaveLength(3);
    });

    it('searches from, to, subject and body case-insensitively, newest first', async () => {
      const fromHit = await store.deliver(alice, rawEmail({ from: 'Zebra Person <zebra@zoo.test>', to: alice, subject: 'one', body: 'plain' }));
      const toHit = await store.deliver(alice, rawEmail({ from: 'x@x.test', to: 'Giraffe <giraffe@zoo.test>', subject: 'two', body: 'plain' }));
      const subjectHit = await store.deliver(alice, rawEmail({ from: 'x@x.test', to: alice, subject: 'Quarterly NUMBERS', body: 'plain' }));
      const bodyHit = await store.deliver(alice, rawEmail({ from: 'x@x.test', to: alice, subject: 'four', body: 'The secret word is Xylophone.' }));

      expect((await store.search(alice, 'ZEBRA')).map((m) => m.id)).toEqual([fromHit]);
      expect((await store.search(alice, 'giraffe@ZOO')).map((m) => m.id)).toEqual([toHit]);
      expect((await store.search(alice, 'quarterly numbers')).map((m) => m.id)).toEqual([subjectHit]);
      expect((await store.search(alice, 'xylophone')).map((m) => m.id)).toEqual([bodyHit]);
      expect((await store.search(alice, 'zoo.test')).map((m) => m.id)).toEqual([toHit, fromHit]);
      expect((await store.search(alice, 'zoo.test', { limit: 1 })).map((m) => m.id)).toEqual([toHit]);
      expect(await store.search(alice, 'nothing like this')).toEqual([]);
    });

    it('markSeen moves new/ to cur/ with :2,S, is idempotent, and keeps other flags in ASCII order', async () => {
      const id = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'read me' }));
      const other = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'flagged elsewhere' }));
      expect(await store.unreadCount(alice)).toBe(2);

      const summary = await store.markSeen(alice, id);
      expect(summary).toMatchObject({ id, seen: true, subject: 'read me' });
      expect(readdirSync(join(inbox(), 'new'))).toEqual([other]);
      expect(readdirSync(join(inbox(), 'cur'))).toEqual([`${id}:2,S`]);
      expect(await store.unreadCount(alice)).toBe(1);

      await store.markSeen(alice, id);
      expect(readdirSync(join(inbox(), 'cur'))).toEqual([`${id}:2,S`]);
      expect((await store.read(alice, id)).seen).toBe(true);

      // Another client flagged and replied to it, writing flags out of order.
      renameSync(join(inbox(), 'new', other), join(inbox(), 'cur', `${other}:2,RF`));
      expect((await store.read(alice, other)).seen).toBe(false);
      await store.markSeen(alice, other);
      expect(readdirSync(join(inbox(), 'cur')).sort()).toEqual([`${id}:2,S`, `${other}:2,FRS`].sort());
      expect(await store.unreadCount(alice)).toBe(0);
    });

    it('delete moves the message into .Trash/cur with T added, never unlinking it', async () => {
      const keep = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'keep' }));
      const doomed = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'doomed', body: 'bye' }));
      await store.markSeen(alice, doomed);

      await store.delete(alice, doomed);
      expect(readdirSync(join(inbox(), '.Trash', 'cur'))).toEqual([`${doomed}:2,ST`]);
      expect(readFileSync(join(inbox(), '.Trash', 'cur', `${doomed}:2,ST`), 'utf8')).toContain('Subject: doomed');
      expect((await store.list(alice)).map((m) => m.id)).toEqual([keep]);
      await expect(store.read(alice, doomed)).rejects.toBeInstanceOf(EmailNotFoundError);
      await expect(store.delete(alice, doomed)).rejects.toBeInstanceOf(EmailNotFoundError);

      const trashed = await store.list(alice, { folder: MailFolder.Trash });
      expect(trashed.map((m) => [m.id, m.folder, m.subject])).toEqual([[doomed, MailFolder.Trash, 'doomed']]);
      expect((await store.read(alice, doomed, MailFolder.Trash)).text).toContain('bye');
      expect(await store.unreadCount(alice)).toBe(1);
    });

    it('files Sent copies as seen, and lower-cases the address it files them under', async () => {
      const id = await store.deliver('Alice@Example.COM', rawEmail({ from: alice, to: 'bob@elsewhere.test', subject: 'sent one' }), MailFolder.Sent);
      expect(readdirSync(join(inbox(), '.Sent', 'cur'))).toEqual([`${id}:2,S`]);
      expect(existsSync(join(inbox(), '.Sent', 'maildirfolder'))).toBe(true);
      expect(readdirSync(root)).toEqual([alice]);
      const [sent] = await store.list(alice, { folder: MailFolder.Sent });
      expect(sent).toMatchObject({ id, seen: true, folder: MailFolder.Sent, to: 'bob@elsewhere.test' });
      expect(await store.list(alice)).toEqual([]);
      expect(await store.unreadCount(alice)).toBe(0);
    });

    it('fills in missing headers with readable fallbacks, and never reports an unparseable Date as a date', async () => {
      const id = await store.deliver(alice, rawEmail({ date: 'not a date at all', body: 'anonymous' }));
      expect(await store.read(alice, id)).toMatchObject({ from: '(unknown sender)', to: '', cc: '', subject: '(no subject)', date: null, snippet: 'anonymous' });
    });

    it('sees a message rewritten in place (new mtime and size) instead of serving the cached parse', async () => {
      const id = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'before' }));
      expect((await store.list(alice))[0]!.subject).toBe('before');
      writeFileSync(join(inbox(), 'new', id), rawEmail({ from: 'a@a.test', subject: 'after the rewrite' }));
      utimesSync(join(inbox(), 'new', id), new Date(), new Date(Date.now() + 5_000));
      expect((await store.list(alice))[0]!.subject).toBe('after the rewrite');
    });
  });

  describe('messages written by other software', () => {
    it('lists any regular file in new/ and cur/, with flags in any order, and ignores dotfiles, directories and symlinks', async () => {
      await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'ours' }));
      const md = inbox();
      writeFileSync(join(md, 'new', '1700000000.abc123.otherhost'), rawEmail({ from: 'x@x.test', subject: 'no info part' }));
      writeFileSync(join(md, 'cur', '1700000001.M1P2.host,S=1234,W=1300:2,RS'), rawEmail({ from: 'x@x.test', subject: 'dovecot style' }));
      writeFileSync(join(md, 'cur', '1700000002_1.mutt:2,F'), rawEmail({ from: 'x@x.test', subject: 'flagged not seen' }));
      writeFileSync(join(md, 'cur', '.hidden-index'), 'not mail');
      mkdirSync(join(md, 'cur', 'a-directory'));
      symlinkSync(join(md, 'cur', '1700000002_1.mutt:2,F'), join(md, 'new', 'a-symlink'));
      writeFileSync(join(md, 'dovecot-uidlist'), '3 V1 N1');

      const listed = await store.list(alice);
      expect(listed.map((m) => m.subject).sort()).toEqual(['dovecot style', 'flagged not seen', 'no info part', 'ours']);
      const bySubject = (s: string): EmailSummary => listed.find((m) => m.subject === s)!;
      expect(bySubject('dovecot style')).toMatchObject({ id: '1700000001.M1P2.host,S=1234,W=1300', seen: true });
      expect(bySubject('flagged not seen')).toMatchObject({ id: '1700000002_1.mutt', seen: false });
      expect(bySubject('no info part').seen).toBe(false);
      expect(await store.unreadCount(alice)).toBe(3);
      expect((await store.read(alice, '1700000001.M1P2.host,S=1234,W=1300')).subject).toBe('dovecot style');
      await expect(store.read(alice, 'a-symlink')).rejects.toBeInstanceOf(EmailNotFoundError);
      await expect(store.read(alice, 'a-directory')).rejects.toBeInstanceOf(EmailNotFoundError);
    });

    it('lists a message mailparser rejects, with fallbacks, and reads it back as its raw source', async () => {
      // A 2 MB header block is over mailparser's limit for one MIME node: simpleParser rejects it.
      const raw = Buffer.from(`From: big@header.test\r\nSubject: huge\r\nX-Junk: ${'a'.repeat(2_000_000)}\r\n\r\nrecognisable body words\r\n`);
      const id = await store.deliver(alice, raw);
      const fine = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'fine' }));

      const listed = await store.list(alice);
      expect(listed.map((m) => m.id)).toEqual([fine, id]);
      expect(listed[1]).toMatchObject({ subject: '(unparseable message)', from: '(unknown sender)', date: null, snippet: 'recognisable body words' });
      const message = await store.read(alice, id);
      expect(message.parseError).toMatch(/header size/i);
      expect(message.text).toBe(raw.toString('utf8'));
      expect((await store.search(alice, 'RECOGNISABLE')).map((m) => m.id)).toEqual([id]);
    });
  });

  it('gives up on a parse that takes too long and shows the message raw', async () => {
    const attachment = Buffer.alloc(6_000_000, 7).toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = Buffer.from(
      [
        'From: slow@slow.test',
        'Subject: slow',
        'Content-Type: multipart/mixed; boundary=B',
        '',
        '--B',
        'Content-Type: text/plain',
        '',
        'short text',
        '--B',
        'Content-Type: application/octet-stream; name=big.bin',
        'Content-Transfer-Encoding: base64',
        '',
        attachment,
        '--B--',
        '',
      ].join('\r\n'),
    );
    const parsed = await parseMessage(raw, { timeoutMs: 1 });
    expect(parsed).toMatchObject({ subject: '(unparseable message)', from: '(unknown sender)', parseError: 'parsing took longer than 1 ms' });
    expect(parsed.text).toBe(raw.toString('utf8'));
    expect((await parseMessage(raw)).attachments).toEqual([{ filename: 'big.bin', contentType: 'application/octet-stream', size: 6_000_000 }]);
  });

  describe('refusing bad input and staying inside the root', () => {
    const badIds = ['../../etc/passwd', 'a/b', '..', '', 'x\u0000y', '.hidden', `${'a'.repeat(256)}`, 'a:2,S', 'a\\b'];

    it('refuses malformed ids with InvalidEmailIdError and touches nothing outside the root', async () => {
      const id = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'mine' }));
      const sentinel = join(dir, 'sentinel.eml');
      writeFileSync(sentinel, rawEmail({ from: 'secret@outside.test', subject: 'SENTINEL' }));
      mkdirSync(join(dir, 'etc'));
      writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0');
      // Whole seconds, so setting the atime again below leaves the mtime exactly as snapshotted.
      utimesSync(sentinel, OLD_ATIME, 1_700_000_000);
      const before = snapshot(dir, root);
      // After the snapshot, which reads it: from here on any read would move the atime.
      utimesSync(sentinel, OLD_ATIME, 1_700_000_000);

      for (const bad of [...badIds, '../../../sentinel.eml', `../../sentinel.eml`]) {
        for (const attempt of [
          () => store.read(alice, bad),
          () => store.read(alice, bad, MailFolder.Trash),
          () => store.markSeen(alice, bad),
          () => store.delete(alice, bad),
        ]) {
          const error = await attempt().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, JSON.stringify(bad)).toBeInstanceOf(InvalidEmailIdError);
          expect((error as MailError).code).toBe('invalid_email_id');
        }
      }
      if (atimeIsRecorded(dir)) expect(statSync(sentinel).atimeMs).toBe(OLD_ATIME * 1000);
      expect(snapshot(dir, root)).toEqual(before);
      expect((await store.list(alice)).map((m) => m.id)).toEqual([id]);
    });

    it("treats another user's id as not found in this mailbox", async () => {
      const aliceId = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'for alice only' }));
      await store.deliver('bob@example.com', rawEmail({ from: 'a@a.test', subject: 'for bob' }));
      const error = await store.read('bob@example.com', aliceId).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmailNotFoundError);
      expect((error as Error).message).toBe(`No email with id "${aliceId}" in bob@example.com's INBOX`);
      await expect(store.markSeen('bob@example.com', aliceId)).rejects.toBeInstanceOf(EmailNotFoundError);
      await expect(store.delete('bob@example.com', aliceId)).rejects.toBeInstanceOf(EmailNotFoundError);
      expect(readdirSync(join(inbox(), 'new'))).toEqual([aliceId]);
    });

    it('refuses invalid addresses before they reach a path', async () => {
      const before = snapshot(dir, '');
      for (const bad of ['../evil@x.com', 'not-an-email', '../../etc/passwd', 'a/b@example.com', 'alice@example.com/../../x', '', 'x\u0000@example.com']) {
        for (const attempt of [
          () => store.deliver(bad, rawEmail({ subject: 'x' })),
          () => store.list(bad),
          () => store.read(bad, 'abc'),
          () => store.search(bad, 'x'),
          () => store.markSeen(bad, 'abc'),
          () => store.delete(bad, 'abc'),
          () => store.unreadCount(bad),
        ]) {
          const error = await attempt().catch((e: unknown) => e);
          expect(error, JSON.stringify(bad)).toBeInstanceOf(InvalidAddressError);
          expect((error as MailError).code).toBe('invalid_address');
        }
        expect(store.isLocal(bad)).toBe(false);
      }
      expect(snapshot(dir, '')).toEqual(before);
      expect(existsSync(root)).toBe(false);
    });

    it('refuses an unknown user outside the local domains, and shows an empty mailbox for a local one', async () => {
      const stranger = 'stranger@elsewhere.org';
      expect(store.isLocal(stranger)).toBe(false);
      for (const attempt of [() => store.list(stranger), () => store.deliver(stranger, rawEmail({ subject: 'x' })), () => store.unreadCount(stranger), () => store.read(stranger, 'abc')]) {
        const error = await attempt().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(UnknownUserError);
        expect((error as MailError).code).toBe('unknown_user');
      }

      const newcomer = 'newcomer@example.com';
      expect(store.isLocal('NewComer@Example.com')).toBe(true);
      expect(await store.list(newcomer)).toEqual([]);
      expect(await store.search(newcomer, 'anything')).toEqual([]);
      expect(await store.unreadCount(newcomer)).toBe(0);
      await expect(store.read(newcomer, 'abc')).rejects.toBeInstanceOf(EmailNotFoundError);
      await expect(store.delete(newcomer, 'abc')).rejects.toBeInstanceOf(EmailNotFoundError);
      expect(existsSync(root)).toBe(false);

      // A Maildir that exists makes an address known even outside the local domains.
      mkdirSync(join(root, stranger, 'new'), { recursive: true });
      expect(store.isLocal(stranger)).toBe(true);
      expect(await store.list(stranger)).toEqual([]);
    });

    it('does not follow symlinks out of the root', async () => {
      await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'mine' }));
      const outside = join(dir, 'outside');
      mkdirSync(join(outside, 'new'), { recursive: true });
      mkdirSync(join(outside, 'cur'), { recursive: true });
      const secret = join(outside, 'new', '1700000000.secret.host');
      writeFileSync(secret, rawEmail({ from: 'secret@outside.test', subject: 'SECRET' }));
      utimesSync(secret, OLD_ATIME, 1_700_000_000);

      // A message symlink inside the Maildir is not a message.
      symlinkSync(secret, join(inbox(), 'new', '1700000000.secret.host'));
      expect((await store.list(alice)).map((m) => m.subject)).toEqual(['mine']);
      await expect(store.read(alice, '1700000000.secret.host')).rejects.toBeInstanceOf(EmailNotFoundError);
      expect(await store.search(alice, 'secret')).toEqual([]);

      // A mailbox that is a symlink is not a mailbox.
      symlinkSync(outside, join(root, 'mallory@elsewhere.org'));
      await expect(store.list('mallory@elsewhere.org')).rejects.toBeInstanceOf(UnknownUserError);

      // A folder whose new/ points outside is refused outright.
      rmSync(join(inbox(), '.Sent', 'new'), { recursive: true });
      symlinkSync(join(outside, 'new'), join(inbox(), '.Sent', 'new'));
      await expect(store.list(alice, { folder: MailFolder.Sent })).rejects.toBeInstanceOf(PathEscapeError);
      await expect(store.read(alice, '1700000000.secret.host', MailFolder.Sent)).rejects.toBeInstanceOf(PathEscapeError);
      await expect(store.deliver(alice, rawEmail({ subject: 'x' }), MailFolder.Sent)).rejects.toBeInstanceOf(PathEscapeError);
      expect(readdirSync(join(outside, 'new'))).toEqual(['1700000000.secret.host']);

      if (atimeIsRecorded(dir)) expect(statSync(secret).atimeMs).toBe(OLD_ATIME * 1000);
    });

    it('does not create folders through a symlink that points out of the root', async () => {
      const outside = join(dir, 'outside');
      mkdirSync(outside);
      mkdirSync(root);
      // A local-domain mailbox that does not exist yet, except as a symlink planted where it would be created.
      symlinkSync(outside, join(root, 'victim@example.com'));
      await expect(store.deliver('victim@example.com', rawEmail({ subject: 'x' }))).rejects.toBeInstanceOf(PathEscapeError);
      expect(readdirSync(outside)).toEqual([]);

      // A Trash folder that points outside: delete refuses and the message stays in the INBOX.
      const id = await store.deliver(alice, rawEmail({ from: 'a@a.test', subject: 'stay' }));
      rmSync(join(inbox(), '.Trash'), { recursive: true });
      symlinkSync(outside, join(inbox(), '.Trash'));
      await expect(store.delete(alice, id)).rejects.toBeInstanceOf(PathEscapeError);
      expect(readdirSync(outside)).toEqual([]);
      expect(readdirSync(join(inbox(), 'new'))).toEqual([id]);
    });
  });

  describe('Python mailbox interoperability', () => {
    it("lists and reads messages written by Python's mailbox.Maildir, with their seen flag", async () => {
      mkdirSync(root);
      const keys = JSON.parse(
        python(
          `
import json, mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=True)
unseen = mailbox.MaildirMessage()
unseen['From'] = 'Py Thon <py@python.test>'
unseen['To'] = 'alice@example.com'
unseen['Subject'] = 'Hello from Python'
unseen['Date'] = 'Tue, 01 Jul 2025 10:00:00 +0000'
unseen.set_payload('unseen body from python')
seen = mailbox.MaildirMessage()
seen['From'] = 'monty@python.test'
seen['Subject'] = 'Already read in Python'
seen.set_payload('seen body from python')
seen.set_flags('S')
seen.set_subdir('cur')
print(json.dumps({'unseen': md.add(unseen), 'seen': md.add(seen)}))
`,
          inbox(),
        ),
      ) as { unseen: string; seen: string };

      expect(readdirSync(join(inbox(), 'cur'))).toEqual([`${keys.seen}:2,S`]);
      const listed = await store.list(alice);
      expect(listed.map((m) => m.id).sort()).toEqual([keys.unseen, keys.seen].sort());
      expect(listed.find((m) => m.id === keys.unseen)).toMatchObject({ subject: 'Hello from Python', from: 'Py Thon <py@python.test>', seen: false, date: '2025-07-01T10:00:00.000Z' });
      expect(listed.find((m) => m.id === keys.seen)).toMatchObject({ subject: 'Already read in Python', from: 'monty@python.test', seen: true });
      expect((await store.read(alice, keys.unseen)).text).toContain('unseen body from python');
      expect(await store.unreadCount(alice)).toBe(1);
    });

    it("writes messages Python's mailbox.Maildir reads back, with flags and folders", async () => {
      const id = await store.deliver(alice, rawEmail({ from: 'Node Sender <node@node.test>', to: alice, subject: 'Hello from Node', body: 'node body' }));
      await store.markSeen(alice, id);
      const unseenId = await store.deliver(alice, rawEmail({ from: 'other@node.test', subject: 'Still unread' }));
      const trashedId = await store.deliver(alice, rawEmail({ from: 'other@node.test', subject: 'Trashed' }));
      await store.delete(alice, trashedId);

      const seenByPython = JSON.parse(
        python(
          `
import json, mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
def describe(box):
    return {key: {'subject': msg['Subject'], 'from': msg['From'], 'flags': msg.get_flags(), 'subdir': msg.get_subdir(), 'body': msg.get_payload()} for key, msg in box.items()}
print(json.dumps({'inbox': describe(md), 'folders': sorted(md.list_folders()), 'trash': describe(md.get_folder('Trash'))}))
`,
          inbox(),
        ),
      ) as { inbox: Record<string, { subject: string; from: string; flags: string; subdir: string; body: string }>; folders: string[]; trash: Record<string, { subject: string; flags: string }> };

      expect(Object.keys(seenByPython.inbox).sort()).toEqual([id, unseenId].sort());
      expect(seenByPython.inbox[id]).toMatchObject({ subject: 'Hello from Node', from: 'Node Sender <node@node.test>', subdir: 'cur' });
      expect(seenByPython.inbox[id]!.flags).toContain('S');
      expect(seenByPython.inbox[id]!.body).toContain('node body');
      expect(seenByPython.inbox[unseenId]).toMatchObject({ subject: 'Still unread', flags: '', subdir: 'new' });
      expect(seenByPython.folders).toEqual(['Sent', 'Trash']);
      expect(seenByPython.trash[trashedId]).toMatchObject({ subject: 'Trashed', flags: 'T' });
    });
  });

  describe('real-world fixtures', () => {
    const fixtures = findFixtures(FIXTURES_DIR);

    it('finds the fixture set', () => {
      expect(fixtures.length).toBeGreaterThan(50);
      expect(fixtures.length).toBeLessThanOrEqual(200);
    });

    it('delivers, lists, reads and searches every fixture without losing or garbling one', async () => {
      const user = 'fixtures@example.com';
      const byId = new Map<string, string>();
      for (const fixture of fixtures) byId.set(await store.deliver(user, readFileSync(fixture)), relative(FIXTURES_DIR, fixture));

      const listed = await store.list(user, { limit: 200 });
      expect(listed).toHaveLength(fixtures.length);
      expect(new Set(listed.map((m) => m.id))).toEqual(new Set(byId.keys()));
      expect(await store.unreadCount(user)).toBe(fixtures.length);

      const read = new Map<string, Awaited<ReturnType<MaildirStore['read']>>>();
      for (const summary of listed) {
        const name = byId.get(summary.id)!;
        const message = await store.read(user, summary.id);
        read.set(name, message);
        expect(message.subject.trim(), name).not.toBe('');
        expect(message.from.trim(), name).not.toBe('');
        expect(message.subject, name).not.toMatch(/=\?[^?]+\?[BbQq]\?/);
        if (message.date !== null) expect(new Date(message.date).toISOString(), name).toBe(message.date);
        expect(new Date(message.receivedAt).toISOString()).toBe(message.receivedAt);
        expect(Array.from(message.snippet).length, name).toBeLessThanOrEqual(160);
        expect(message.snippet, name).not.toMatch(/\s{2}|[\r\n\t]/);
        expect(message.hasAttachments).toBe(message.attachments.length > 0);
        expect(summary).toMatchObject({ subject: message.subject, from: message.from, date: message.date, seen: false });
      }

      const byName = (name: string): Awaited<ReturnType<MaildirStore['read']>> => {
        const message = read.get(name);
        if (!message) throw new Error(`fixture ${name} missing`);
        return message;
      };
      const japanese = byName('multi_charset/japanese_iso_2022.eml');
      expect(japanese.subject).toMatch(/[\u3040-\u30ff]/);
      expect(japanese.subject).toBe('まみむめも');
      expect(japanese.text).toContain('すみません');

      const withAttachment = byName('attachment_emails/attachment_content_disposition.eml');
      expect(withAttachment.hasAttachments).toBe(true);
      expect(withAttachment.attachments.map((a) => a.filename)).toContain('api.rb');
      expect(byName('multi_charset/japanese_attachment.eml').attachments.map((a) => a.filename)).toContain('てすと.txt');

      // mailparser alone would date these "now"; the header is unreadable, so there is no date.
      expect(byName('error_emails/bad_date_header.eml').date).toBeNull();
      expect(byName('error_emails/bad_date_header2.eml').date).toBeNull();
      expect(byName('plain_emails/raw_email_with_bad_date.eml').date).toBeNull();
      // RFC 5322's obsolete date syntax, comments and all.
      expect(byName('rfc2822/example13.eml').date).toBe('1997-11-21T15:55:06.000Z');
      expect(byName('rfc2822/example01.eml')).toMatchObject({ from: 'John Doe <jdoe@machine.example>', subject: 'Saying Hello', date: '1997-11-21T15:55:06.000Z' });

      const fallbacks = [...read.entries()].filter(([, m]) => m.parseError !== undefined).map(([name]) => name);
      for (const name of fallbacks) expect(byName(name).subject).toBe('(unparseable message)');

      // Search by each message's own subject (or a word of it) finds that message.
      for (const [name, message] of read) {
        if (message.parseError !== undefined || message.subject === '(no subject)') continue;
        const hits = await store.search(user, message.subject.slice(0, 40), { limit: 200 });
        expect(hits.map((m) => m.id), name).toContain(message.id);
      }
      expect((await store.search(user, 'まみむめも', { limit: 200 })).map((m) => byId.get(m.id)).sort()).toEqual(
        ['multi_charset/japanese.eml', 'multi_charset/japanese_attachment_long_name.eml', 'multi_charset/japanese_iso_2022.eml'].sort(),
      );
      expect((await store.search(user, 'SAYING HELLO', { limit: 200 })).length).toBeGreaterThanOrEqual(5);
      expect((await store.search(user, '', { limit: 200 })).length).toBe(fixtures.length);
    });
  });
});
