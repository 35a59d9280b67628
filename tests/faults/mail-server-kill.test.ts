import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ENV_OVERRIDES } from '../../src/config/load.js';
import { TestDovecot } from '../support/dovecot.js';
import { freePort } from '../support/embedded-config.js';
import { outboxEntries, sendMail, waitFor } from '../support/mail-announcements.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'announcement-test-secret';

describe('kill -9 of the mail server between the 250 and the announcement', () => {
  const children: ChildProcess[] = [];
  let dir: string | undefined;
  let receiver: WebhookReceiver | undefined;
  let dovecot: TestDovecot | undefined;

  afterEach(async () => {
    await dovecot?.close();
    dovecot = undefined;
    // Whatever happened above, no mail server of ours outlives the test.
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await receiver?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** `npm run mail-server` on `config`; resolves once its SMTP intake listens. */
  function startMailServer(config: string): Promise<{ child: ChildProcess; output: () => string }> {
    // The test's own environment must not override the config file (MAILDIR_ROOT, WEBHOOK_SECRET, …).
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !ENV_OVERRIDES.some(([variable]) => variable === name)));
    // Watching us, like a child of `npm start`: should this test process die, the mail server goes too.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/mail/main.ts', '--config', config], {
      env: { ...env, AI_RUNTIME_PARENT_PID: String(process.pid) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the mail server did not come up; output:\n${output.slice(-3000)}`)), 30_000);
      const onData = (data: Buffer) => {
        output += String(data);
        if (/SMTP intake listening on/.test(output)) {
          clearTimeout(timer);
          resolve({ child, output: () => output });
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the mail server exited (${code ?? signal}); output:\n${output.slice(-3000)}`));
      });
    });
  }

  it('the mail accepted before the kill is announced when the mail server starts again', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-mail-kill-'));
    const root = join(dir, 'maildir');
    const [smtpPort, mcpPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'config.toml');
    writeFileSync(
      config,
      [
        '[mail]',
        `maildir_root = "${root}"`,
        `mcp_listen_addr = "127.0.0.1:${mcpPort}"`,
        `smtp_listen_addr = "127.0.0.1:${smtpPort}"`,
        `runtime_webhook_url = "http://127.0.0.1:${webhookPort}/api/webhooks/email"`,
        'local_domains = ["local.test"]',
        '[summarization]',
        `db_path = "${join(dir, 'runtime.db')}"`,
        '[webhooks]',
        `secret = "${SECRET}"`,
        '[log]',
        'level = "debug"',
      ].join('\n'),
    );
    receiver = new WebhookReceiver(SECRET);

    // The runtime is down: the mail is stored and acknowledged, its announcement waits.
    const first = await startMailServer(config);
    const [id] = await sendMail(smtpPort, 'ann@local.test', 'Before the crash');
    expect(outboxEntries(root)).toHaveLength(1);
    const killed = new Promise((resolve) => first.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await killed;

    await receiver.listen(webhookPort);
    const second = await startMailServer(config);
    await waitFor('the mail stored before the kill is announced', () => receiver!.accepted.length > 0, 30_000);
    expect(receiver.accepted).toEqual([expect.objectContaining({ user_email: 'ann@local.test', email_id: id, subject: 'Before the crash' })]);
    await waitFor('the outbox is empty', () => outboxEntries(root).length === 0);
    expect(second.output()).toMatch(/Announcing mail stored earlier but not yet accepted by the runtime/);

    const exited = new Promise((resolve) => second.child.once('exit', resolve));
    second.child.kill('SIGTERM');
    await exited;
  }, 60_000);

  it('an IMAP account: mail arriving before, during and after a kill -9 of the watching mail server is all announced', async () => {
    const ALICE = 'alice@example.org';
    dovecot = await TestDovecot.start({ users: { [ALICE]: 'pw' } });
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-imap-kill-'));
    const [smtpPort, mcpPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    const config = join(dir, 'config.toml');
    writeFileSync(
      config,
      [
        '[mail]',
        `maildir_root = "${join(dir, 'maildir')}"`,
        `mcp_listen_addr = "127.0.0.1:${mcpPort}"`,
        `smtp_listen_addr = "127.0.0.1:${smtpPort}"`,
        `runtime_webhook_url = "http://127.0.0.1:${webhookPort}/api/webhooks/email"`,
        '[[mail.accounts]]',
        `user = "${ALICE}"`,
        `imap_url = "imap://127.0.0.1:${dovecot.port}"`,
        `smtp_url = "smtp://127.0.0.1:${dovecot.submissionPort}"`,
        `username = "${ALICE}"`,
        'password = "pw"',
        '[summarization]',
        `db_path = "${join(dir, 'runtime.db')}"`,
        '[webhooks]',
        `secret = "${SECRET}"`,
      ].join('\n'),
    );
    receiver = new WebhookReceiver(SECRET);
    await receiver.listen(webhookPort);
    const mail = (subject: string) => `From: carol@elsewhere.org\r\nTo: ${ALICE}\r\nSubject: ${subject}\r\n\r\nAbout ${subject}.\r\n`;
    const watching = async () => {
      const view = (await (await fetch(`http://127.0.0.1:${mcpPort}/accounts/${encodeURIComponent(ALICE)}`)).json()) as { watch?: { state: string } };
      return view.watch?.state === 'watching';
    };

    await dovecot.deliver(ALICE, mail('Already there'));
    const first = await startMailServer(config);
    await waitFor('the inbox is watched', watching, 30_000);
    const subjects = Array.from({ length: 30 }, (_, i) => `Mail ${i + 1}`);
    for (const [i, subject] of subjects.entries()) {
      await dovecot.deliver(ALICE, mail(subject));
      // Mid-stream, with announcements in flight and the high-water mark being written.
      if (i === 9) first.child.kill('SIGKILL');
    }
    await startMailServer(config);
    await waitFor('every mail is announced', () => new Set(receiver!.accepted.map((a) => a.subject)).size >= subjects.length, 45_000);
    const announced = new Set(receiver.accepted.map((a) => a.subject));
    expect([...announced].sort()).toEqual([...subjects].sort());
    expect(announced.has('Already there')).toBe(false);
  }, 90_000);
});
