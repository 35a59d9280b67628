import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createTransport } from 'nodemailer';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { startMailService, type AnnounceTiming, type MailService, type StartMailServiceOptions } from '../../src/mail/mail-service.js';

export interface TestMailOptions {
  mail?: Partial<NonNullable<ConfigInput['mail']>>;
  webhooks?: Partial<NonNullable<ConfigInput['webhooks']>>;
  /** Retry pacing of the announcer (shortened so a test need not wait out the real backoff). */
  announce?: AnnounceTiming;
  /** Reconnect backoff, safety poll and IDLE restart (the NOOP poll without IDLE) of the IMAP watchers. */
  watch?: StartMailServiceOptions['watch'];
  /** Where `password_env` is looked up. */
  env?: NodeJS.ProcessEnv;
  /** Where the mail server logs; by default a logger at `[log] level`, silent in tests. */
  logger?: Logger;
  /** An existing Maildir root (a restart over the same state); removed with the server only when created here. */
  root?: string;
  /**
   * The runtime's database, where the mail server reads the triage from: a SQLite file (`db_path`) or a Postgres URL
   * (`database_url`) that the test writes summaries into. By default a SQLite file of its own, removed with it.
   */
  database?: { db_path?: string; database_url?: string };
}

/** The bundled mail service on free ports, over a temp Maildir root. */
export class TestMailServer {
  private constructor(
    readonly service: MailService,
    readonly root: string,
    /** The SQLite file it reads the triage from (unused when a `database_url` was given). */
    readonly dbPath: string,
    private readonly dirs: string[],
  ) {}

  static async start(options: TestMailOptions = {}): Promise<TestMailServer> {
    const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-mail-'));
    // Apart from the Maildir's: a test checks that nothing appears beside the Maildir root.
    const dbDir = mkdtempSync(join(tmpdir(), 'ai-runtime-mail-db-'));
    const dirs = [dir, dbDir];
    const root = options.root ?? join(dir, 'maildir');
    const dbPath = options.database?.db_path ?? join(dbDir, 'runtime.db');
    const config = parseConfig({
      mail: { maildir_root: root, mcp_listen_addr: '127.0.0.1:0', smtp_listen_addr: '127.0.0.1:0', runtime_webhook_url: '', ...options.mail },
      webhooks: options.webhooks ?? {},
      summarization: { db_path: dbPath },
      storage: { database_url: options.database?.database_url ?? '' },
      log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    });
    try {
      const service = await startMailService({
        config,
        logger: options.logger ?? createLogger(config.log.level, 'test-mail'),
        ...(options.announce ? { announce: options.announce } : {}),
        ...(options.watch ? { watch: options.watch } : {}),
        ...(options.env ? { env: options.env } : {}),
      });
      return new TestMailServer(service, config.mail.maildir_root, dbPath, dirs);
    } catch (error) {
      for (const each of dirs) rmSync(each, { recursive: true, force: true });
      throw error;
    }
  }

  get mcpUrl(): string {
    return `http://127.0.0.1:${this.service.mcpPort}/mcp`;
  }

  /** An MCP client over Streamable HTTP, as the runtime uses it. */
  async client(token?: string): Promise<Client> {
    const client = new Client({ name: 'test', version: '1.0.0' });
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    await client.connect(new StreamableHTTPClientTransport(new URL(this.mcpUrl), { requestInit: { headers } }));
    return client;
  }

  /** A real SMTP client session against the intake; pass `transport` to send several messages over one connection. */
  async sendSmtp(
    message: { from: string; to: string | string[]; subject?: string; text?: string; raw?: Buffer | string },
    shared?: ReturnType<typeof createTransport>,
  ): Promise<void> {
    const transport = shared ?? this.smtpTransport();
    try {
      const to = Array.isArray(message.to) ? message.to : [message.to];
      if (message.raw !== undefined) await transport.sendMail({ envelope: { from: message.from, to }, raw: message.raw });
      else await transport.sendMail({ from: message.from, to, subject: message.subject ?? '', text: message.text ?? '' });
    } finally {
      if (!shared) transport.close();
    }
  }

  smtpTransport(options: { pool?: boolean } = {}): ReturnType<typeof createTransport> {
    return createTransport({ host: '127.0.0.1', port: this.service.smtpPort, secure: false, ignoreTLS: true, ...(options.pool ? { pool: true, maxConnections: 1, maxMessages: Infinity } : {}) });
  }

  async close(): Promise<void> {
    await this.service.close();
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

type ToolResult = Awaited<ReturnType<Client['callTool']>>;

export function toolText(result: ToolResult): string {
  const content = result.content as Array<{ type: string; text?: string }>;
  return content.map((c) => c.text ?? '').join('\n');
}
