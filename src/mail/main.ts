import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigOrExit } from '../config/load.js';
import { watchParent } from '../embedded/parent-watch.js';
import { MAIL_SERVER_PIDFILE, removeOwnPidfile, writePidfile } from '../embedded/stale-process.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { stopOnSignals } from '../stop-signals.js';
import { createMailMcpServer } from './mail-tools.js';
import { openMailboxes } from './open-mailboxes.js';
import { startMailService } from './mail-service.js';

/** Once its `npm start` is gone, how long the mail server gets to close cleanly before it just exits. */
const ORPHAN_STOP_MS = 2_000;

/**
 * `npm run mail-server`: the mail MCP server (HTTP) and SMTP intake, from the same config file as the runtime.
 * `npm run mail-server -- --stdio`: the MCP tools alone over stdio, for MCP clients that spawn their servers.
 */
async function main(): Promise<void> {
  const loaded = loadConfigOrExit('mail-server');
  const { config } = loaded;
  if (process.argv.includes('--stdio')) {
    // stdout is the MCP channel: logs go to stderr.
    const logger = createLogger(config.log.level, 'mail-server', process.stderr);
    const opened = await openMailboxes(config, logger);
    const server = createMailMcpServer({ mailboxes: opened.mailboxes, triage: opened.triage, logger });
    // The client closes stdin to ask us to go; exiting promptly spares it the SIGTERM fallback.
    process.stdin.once('end', () => {
      void Promise.allSettled([server.close(), opened.close()]).finally(() => process.exit(0));
    });
    await server.connect(new StdioServerTransport());
    return;
  }
  const logger = createLogger(config.log.level, 'mail-server');
  const service = await startMailService({ config, logger });
  const pidfile = join(config.mail.maildir_root, MAIL_SERVER_PIDFILE);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= service.close().finally(() => removeOwnPidfile(pidfile)));
  stopOnSignals(stop);
  const watched = watchParent(() => {
    logger.warn('the runtime that started this mail server is gone; exiting with it');
    // Bounded, and by SIGKILL rather than process.exit: with the parent gone our stdout/stderr lead nowhere, and an
    // orphan measured stuck in process.exit (Node 20 + tsx's loader thread) kept running after closing its ports.
    const die = (): void => {
      removeOwnPidfile(pidfile);
      process.kill(process.pid, 'SIGKILL');
    };
    setTimeout(die, ORPHAN_STOP_MS).unref();
    stop().then(die, die);
  });
  // Only a child of `npm start` leaves a pidfile: the next start may stop it, and must never stop one run by hand.
  if (watched) {
    mkdirSync(config.mail.maildir_root, { recursive: true });
    writePidfile(pidfile);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`mail-server failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
