/**
 * `npm run bench:intake-crash`: the 500-mail experiment of docs/RELIABILITY.md. `npm start` (its own Redis and mail
 * server, a fake Ollama) takes MAILS mails over SMTP; at a third of them Redis is killed with `kill -9`, at two thirds
 * the runtime itself; `npm start` runs again, and the sender retries what was not accepted, as a real MTA would. At
 * the end every accepted mail must have exactly one summary: the script prints accepted, summarized and lost.
 *
 * Environment: INTAKE_MAILS (default 500), INTAKE_WAIT_S (how long to wait for the summaries at the end, default 180).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { writeEmbeddedConfig } from '../tests/support/embedded-config.js';
import { FakeOllama } from '../tests/support/fake-ollama.js';

const MAILS = Number(process.env.INTAKE_MAILS ?? 500);
const WAIT_S = Number(process.env.INTAKE_WAIT_S ?? 180);
const SENDERS = 8;
const USER = 'alice@localhost';
/** A real MTA waits minutes; the experiment only needs the retry to come after the restart. */
const RETRY_PAUSE_MS = 300;

interface Started {
  child: ChildProcess;
  exited: Promise<void>;
}

async function startRuntime(configPath: string): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += String(data);
      if (output.includes('SMTP intake listening') && /HTTP server listening on/.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(() => reject(new Error(`npm start exited:\n${output.slice(-2000)}`)));
  });
  return { child, exited };
}

function summarized(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('select count(*) as n, count(distinct email_id) as d from summaries where user_email = ?').get(USER) as { n: number; d: number };
    if (row.n !== row.d) throw new Error(`duplicate summaries: ${row.n} rows for ${row.d} mails`);
    return row.n;
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-intake-crash-'));
  const ollama = await FakeOllama.start();
  ollama.setResponder(() => ({ tokens: ['Résumé.'] }));
  const { path: configPath, smtpPort } = await writeEmbeddedConfig(dir, ollama.url);
  let runtime = await startRuntime(configPath);
  const transport = () => nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true, pool: false });
  const pending = Array.from({ length: MAILS }, (_, i) => i);
  let accepted = 0;
  let refused = 0;
  const started = Date.now();

  const send = async (i: number): Promise<boolean> => {
    try {
      await transport().sendMail({ from: 'bob@example.com', to: USER, subject: `Mail ${i}`, text: `Bonjour, ceci est le mail ${i}.`, messageId: `<mail-${i}@intake-crash>` });
      return true;
    } catch {
      return false;
    }
  };

  // The faults strike while mails are in flight: the senders go on, and retry what fails after a short pause.
  const chaos = (async () => {
    while (accepted < MAILS / 3) await sleep(20);
    const redisPid = Number(readFileSync(join(dir, 'redis', 'redis.pid'), 'utf8').trim());
    process.kill(redisPid, 'SIGKILL');
    console.log(`kill -9 of Redis (pid ${redisPid}) after ${accepted} accepted mails`);
    while (accepted < (2 * MAILS) / 3) await sleep(20);
    runtime.child.kill('SIGKILL');
    console.log(`kill -9 of npm start after ${accepted} accepted mails; starting it again`);
    await runtime.exited;
    runtime = await startRuntime(configPath);
  })();
  const sender = async (): Promise<void> => {
    for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
      if (await send(i)) accepted += 1;
      else {
        refused += 1;
        pending.push(i);
        await sleep(RETRY_PAUSE_MS);
      }
    }
  };
  await Promise.all(Array.from({ length: SENDERS }, sender));
  await chaos;
  console.log(`sent: ${MAILS} mails, ${accepted} accepted (250), ${refused} refusals retried by the sender, in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const dbPath = join(dir, 'runtime.db');
  const deadline = Date.now() + WAIT_S * 1000;
  let done = summarized(dbPath);
  while (done < accepted && Date.now() < deadline) {
    await sleep(1000);
    done = summarized(dbPath);
  }
  console.log(`summarized: ${done} of ${accepted} accepted; lost: ${accepted - done}; LLM calls: ${ollama.requests.length}`);
  runtime.child.kill('SIGTERM');
  await runtime.exited;
  await ollama.close();
  rmSync(dir, { recursive: true, force: true });
  if (done !== accepted) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
