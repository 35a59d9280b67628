import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { MailAccountClient, mailAccountsUrl } from '../src/mail-account/account-client.js';
import { AccountEndpointStandIn } from './support/account-endpoint-stand-in.js';
import { captureLogs } from './support/log-capture.js';

/** The runtime's client for the mail server's `/accounts` endpoints, on its own: where it goes, and how it gives up. */

const TOKEN = 'mail-server-token-for-client-tests';
const ALICE = 'alice@example.com';

describe('mail account client', () => {
  let standIn: AccountEndpointStandIn;
  const clients: MailAccountClient[] = [];
  const logs = captureLogs('debug');
  const client = (options: { timeoutMs?: number; authToken?: string } = {}) => {
    const made = new MailAccountClient({ accountsUrl: mailAccountsUrl(parseConfig({ mcp: { mail_server_url: standIn.url } })), authToken: TOKEN, logger: logs.logger, ...options });
    clients.push(made);
    return made;
  };
  beforeAll(async () => {
    standIn = await AccountEndpointStandIn.start({ token: TOKEN, password: 'secret' });
  });
  afterAll(async () => {
    try {
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await standIn?.close();
    }
  });

  it('finds /accounts/ beside the mail server\'s MCP endpoint, the bundled one by default', () => {
    const at = (mcp: { mail_server_url?: string }, mail: { mcp_listen_addr?: string } = {}) => mailAccountsUrl(parseConfig({ mcp, mail }));
    expect(at({})).toBe('http://127.0.0.1:8090/accounts/');
    expect(at({}, { mcp_listen_addr: '127.0.0.1:9001' })).toBe('http://127.0.0.1:9001/accounts/');
    expect(at({ mail_server_url: 'http://mail.internal:8090/mcp' })).toBe('http://mail.internal:8090/accounts/');
    expect(at({ mail_server_url: 'http://mail.internal:8090' })).toBe('http://mail.internal:8090/accounts/');
    expect(at({ mail_server_url: 'https://gateway.example/mail/mcp/' })).toBe('https://gateway.example/mail/accounts/');
    expect(at({ mail_server_url: '' })).toBeUndefined();
  });

  it('answers 501 without a mail server, and percent-encodes the address into the path', async () => {
    const none = new MailAccountClient({ accountsUrl: undefined, logger: logs.logger });
    clients.push(none);
    expect(await none.get(ALICE)).toMatchObject({ status: 501, body: { error: { code: 'not_supported' } } });
    const odd = 'o/dd+name@example.com';
    expect((await client().get(odd)).status).toBe(404);
    expect(standIn.requestsFor(odd).map((r) => r.path)).toEqual(['/accounts/o%2Fdd%2Bname%40example.com']);
  });

  it('answers 504 when the mail server takes longer than the timeout', async () => {
    standIn.answerNextWith('hang');
    const answer = await client({ timeoutMs: 200 }).get(ALICE);
    expect(answer).toMatchObject({ status: 504, body: { error: { code: 'mail_server_unreachable' } } });
    expect(answer.body).toHaveProperty('message', 'The mail server did not answer within 1 s; try again later.');
  });

  it('close() answers requests in flight with 503 at once, is safe to call twice, and refuses new ones', async () => {
    const closing = client();
    standIn.answerNextWith('hang');
    const before = standIn.received.length;
    const pending = closing.get(ALICE);
    // Closed only once the request is at the mail server, so that it is a request in flight that gets cut.
    await expect.poll(() => standIn.received.length).toBe(before + 1);
    await Promise.all([closing.close(), closing.close()]);
    expect(await pending).toMatchObject({ status: 503, body: { error: { code: 'mail_server_unreachable' } } });
    expect(await closing.get(ALICE)).toMatchObject({ status: 503 });
    expect(standIn.received.length).toBe(before + 1);
  });

  it('a token the mail server refuses is the operator\'s problem: 502, and an error in the log', async () => {
    expect(await client({ authToken: 'refused-token-7f3a' }).get(ALICE)).toMatchObject({ status: 502, body: { error: { code: 'mail_server' } } });
    expect(logs.lines.some((l) => l.level === 50 && l.msg.includes('[mail] auth_token'))).toBe(true);
    expect(logs.text()).not.toContain('refused-token-7f3a');
  });
});
