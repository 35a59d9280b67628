import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeEmbeddedConfig } from './support/embedded-config.js';
import { FakeOllama } from './support/fake-ollama.js';
import { TestClient, textOf } from './support/ws-client.js';
import { summaryAnswer } from './support/triage-answers.js';

describe('npm start: runtime + Redis + bundled mail server + SMTP intake', () => {
  let dir: string;
  let ollama: FakeOllama;
  let child: ChildProcess;
  let output = '';
  let runtimePort = 0;
  let smtpPort = 0;

  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${output.slice(-3000)}`)), timeoutMs);
      const check = () => {
        const match = pattern.exec(output);
        if (!match) return;
        clearTimeout(deadline);
        child.stdout!.off('data', check);
        resolve(match);
      };
      child.stdout!.on('data', check);
      check();
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-embedded-'));
    ollama = await FakeOllama.start();
    const written = await writeEmbeddedConfig(dir, ollama.url, ['[mcp]', 'reconnect_initial_ms = 200']);
    smtpPort = written.smtpPort;
    const config = written.path;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += String(d)));
    child.stderr!.on('data', (d: Buffer) => (output += String(d)));
    runtimePort = Number((await waitFor(/HTTP server listening on [^:]+:(\d+)/))[1]);
    await waitFor(/SMTP intake listening on/);
    await waitFor(/Discovered 7 tools: send_email/);
  }, 40_000);

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a mail sent with a real SMTP client pops up summarized on the user\'s open socket, and shows up in list_emails', async () => {
    expect(output).toMatch(/Redis \(redis.conf\) listening on 127.0.0.1:\d+/);
    const client = await TestClient.connect(`ws://127.0.0.1:${runtimePort}/ws`);
    await client.auth('alice@example.com');
    ollama.enqueue(summaryAnswer('Le budget est décalé à 16h.'));
    const smtp = createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
    await smtp.sendMail({ from: 'boss@example.com', to: 'alice@example.com', subject: 'Budget meeting moved', text: 'Now at 4pm.' });
    smtp.close();
    const notification = await client.next('email_notification', () => true, 10_000);
    expect(notification).toMatchObject({ from: 'boss@example.com', subject: 'Budget meeting moved', summary: 'Le budget est décalé à 16h.' });

    ollama.enqueue({ toolCalls: [{ name: 'list_emails', arguments: {} }] }, { tokens: ['Un', ' email'] });
    const turn = await client.chat('Liste mes emails', {}, 10_000);
    const result = turn.find((m) => m.type === 'tool_result');
    expect(result).toMatchObject({ tool: 'list_emails', args: { email: 'alice@example.com' }, is_error: false });
    expect(result && 'result' in result ? result.result : '').toContain('Budget meeting moved');
    await client.close();
  });

  it('on SIGTERM, lets the answer in flight finish, closes its socket with 1001, and stops the mail server with the runtime', async () => {
    const client = await TestClient.connect(`ws://127.0.0.1:${runtimePort}/ws`);
    await client.auth('bob@example.com');
    // Ten tokens 100 ms apart: about a second, well within the default grace period.
    ollama.enqueue({ tokens: ['Un', ' deux', ' trois', ' quatre', ' cinq', ' six', ' sept', ' huit', ' neuf', ' dix'], delayMs: 100 });
    client.send({ type: 'chat', message: 'Compte jusqu’à dix' });
    await client.next('chunk');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const done = await client.next('done', () => true, 10_000);
    expect(done).toMatchObject({ reason: 'complete', cancelled: false });
    expect(textOf(client.messages)).toBe('Un deux trois quatre cinq six sept huit neuf dix');
    expect((await client.closed).code).toBe(1001);
    expect(output).toMatch(/waiting up to \d+ s for 1 answer\(s\) in flight/);
    expect(await exited).toBe(0);
    // The SMTP port is free again: the child went away with its parent.
    await new Promise<void>((resolve, reject) => {
      const probe = createServer().once('error', reject);
      probe.listen(smtpPort, '127.0.0.1', () => probe.close(() => resolve()));
    });
  });
});
