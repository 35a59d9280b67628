import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { loadConfigOrExit } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { stopOnSignals } from '../stop-signals.js';
import { createMailMcpServer } from './mail-tools.js';
import { MaildirStore } from './maildir/index.js';
import { OutgoingMail } from './outgoing-mail.js';
import { SendPolicy } from './send-policy.js';
import { startMailService } from './mail-service.js';

/**
 * `npm run mail-server`: the mail MCP server (HTTP) and SMTP intake, from the same config file as the runtime.
 * `npm run mail-server -- --stdio`: the MCP tools alone over stdio, for MCP clients that spawn their servers.
 */
async function main(): Promise<void> {
  const loaded = loadConfigOrExit('mail-server');
  const { config } = loaded;
  if (process.argv.includes('--stdio')) {
    // stdout is the MCP channel: logs go to stderr.
    const store = new MaildirStore({ root: config.mail.maildir_root, localDomains: config.mail.local_domains });
    const server = createMailMcpServer({ store, outgoing: new OutgoingMail(store, config.mail.relay, SendPolicy.fromConfig(config.mail)) });
    // The client closes stdin to ask us to go; exiting promptly spares it the SIGTERM fallback.
    process.stdin.once('end', () => {
      void server.close().finally(() => process.exit(0));
    });
    await server.connect(new StdioServerTransport());
    return;
  }
  const logger = createLogger(config.log.level, 'mail-server');
  const service = await startMailService({ config, logger });
  stopOnSignals(() => service.close());
}

main().catch((error: unknown) => {
  process.stderr.write(`mail-server failed to start: ${errorMessage(error)}\n`);
  process.exit(1);
});
