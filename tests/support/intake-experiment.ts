import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { writeEmbeddedConfig } from './embedded-config.js';
import { FakeOllama } from './fake-ollama.js';

export interface IntakeExperimentOptions {
  mails: number;
  /** How long to wait for the summaries once every mail is accepted. */
  waitS: number;
  log?: (line: string) => void;
}

export interface IntakeOutcome {
  mails: number;
  /** Mails the SMTP server answered `250` for (all of them: the sender retries the rest, as an MTA would). */
  accepted: number;
  /** Failed sends the sender tried again (connection refused while down, `451`). */
  retried: number;
  /** Distinct mails with a summary stored (the table holds one per mail by its key). */
  summarized: number;
  /** Summary requests the LLM got: more than `summarized` means work was done twice. */
  llmCalls: number;
  sendSeconds: number;
}

const SENDERS = 8;
const USER = 'alice@localhost';
/** A real MTA waits minutes; the experiment only needs the retry to come after the restart. */
const RETRY_PAUSE_MS = 300;

interface Runtime {
  child: ChildProcess;
  exited: Promise<void>;
}

function startRuntime(configPath: string): Promise<Runtime> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (data: Buffer) => {
      output += String(data);
      if (output.includes('SMTP intake listening') && output.includes('HTTP server listening on')) resolve({ child, exited });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => reject(new Error(`npm start exited:\n${output.slice(-2000)}`)));
  });
}

function countSummaries(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('select count(*) as n from summaries where user_email = ?').get(USER) as { n: number }).n;
  } finally {
    db.close();
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * `npm start` (its own Redis and mail server, a fake Ollama) takes `mails` mails over SMTP; at a third of them Redis is
 * killed with `kill -9`, at two thirds `npm start` itself, which then runs again. The faults strike while mails are in
 * flight; the sender retries what fails. Then it waits for the summaries and counts.
 */
export async function runIntakeExperiment({ mails, waitS, log = () => undefined }: IntakeExperimentOptions): Promise<IntakeOutcome> {
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-intake-crash-'));
  const ollama = await FakeOllama.start();
  ollama.setResponder(() => ({ tokens: ['Résumé.'] }));
  const redisPidfile = join(dir, 'redis', 'redis.pid');
  const redisPids = new Set<number>();
  const learnRedisPid = () => redisPids.add(Number(readFileSync(redisPidfile, 'utf8').trim()));
  let runtime: Runtime | undefined;
  try {
    const { path: configPath, smtpPort } = await writeEmbeddedConfig(dir, ollama.url);
    runtime = await startRuntime(configPath);
    learnRedisPid();
    const pending = Array.from({ length: mails }, (_, i) => i);
    let accepted = 0;
    let retried = 0;
    const started = Date.now();

    const send = async (i: number): Promise<boolean> => {
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
      try {
        await transport.sendMail({ from: 'bob@example.com', to: USER, subject: `Mail ${i}`, text: `Bonjour, ceci est le mail ${i}.` });
        return true;
      } catch {
        return false;
      } finally {
        transport.close();
      }
    };
    const chaos = (async () => {
      while (accepted < mails / 3) await sleep(20);
      const redisPid = Number(readFileSync(redisPidfile, 'utf8').trim());
      process.kill(redisPid, 'SIGKILL');
      log(`kill -9 of Redis (pid ${redisPid}) after ${accepted} accepted mails`);
      while (accepted < (2 * mails) / 3) await sleep(20);
      const killed = runtime!;
      killed.child.kill('SIGKILL');
      log(`kill -9 of npm start after ${accepted} accepted mails; starting it again`);
      await killed.exited;
      learnRedisPid();
      runtime = await startRuntime(configPath);
      learnRedisPid();
    })();
    const sender = async (): Promise<void> => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        if (await send(i)) accepted += 1;
        else {
          retried += 1;
          pending.push(i);
          await sleep(RETRY_PAUSE_MS);
        }
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, sender));
    await chaos;
    const sendSeconds = (Date.now() - started) / 1000;
    log(`sent: ${mails} mails, ${accepted} accepted (250), ${retried} failed sends retried by the sender, in ${sendSeconds.toFixed(1)} s`);

    const dbPath = join(dir, 'runtime.db');
    const deadline = Date.now() + waitS * 1000;
    let summarized = countSummaries(dbPath);
    while (summarized < accepted && Date.now() < deadline) {
      await sleep(250);
      summarized = countSummaries(dbPath);
    }
    log(`summarized: ${summarized} of ${accepted} accepted; lost: ${accepted - summarized}; LLM calls: ${ollama.requests.length}`);
    return { mails, accepted, retried, summarized, llmCalls: ollama.requests.length, sendSeconds };
  } finally {
    if (runtime && runtime.child.exitCode === null && runtime.child.signalCode === null) {
      runtime.child.kill('SIGTERM');
      await runtime.exited;
    }
    // A graceful stop takes its Redis and mail server along; after a failure, nothing of ours may outlive the run.
    for (const pid of redisPids) killQuietly(pid);
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
