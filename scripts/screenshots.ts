/**
 * `npm run screenshots`: the README's pictures of the chat, the priority inbox and the inspector, taken in Debian's Chromium against a
 * runtime on real parts (fake Ollama, bundled mail server, private Redis).
 */
import { launchBrowser } from '../tests/support/browser.js';
import { TestMailServer } from '../tests/support/mail-harness.js';
import { TestRedis } from '../tests/support/redis-launcher.js';
import { TestRuntime } from '../tests/support/runtime-harness.js';
import { SummaryStore } from '../src/storage/summary-store.js';

const OUT = new URL('../docs/screenshots/', import.meta.url).pathname;
const ADMIN_TOKEN = 'screenshot-admin-token-32-chars!!';
const ALICE = 'alice@example.com';

const [redis, mail, browser] = await Promise.all([TestRedis.start(), TestMailServer.start(), launchBrowser()]);
const rt = await TestRuntime.start({ mcp: false, redisUrl: redis.url, config: { mcp: { mail_server_url: mail.mcpUrl }, admin: { token: ADMIN_TOKEN } } });
try {
  await rt.toolsListed();
  await mail.sendSmtp({ from: 'Bob Martin <bob@example.com>', to: ALICE, subject: 'Réunion projet Zephyr demain 15h', text: 'On fait le point sur le planning et le budget.' });
  await mail.sendSmtp({ from: 'Team <team@example.com>', to: ALICE, subject: 'Release notes v2.0', text: 'Nouvelles fonctionnalités et corrections.' });
  await mail.sendSmtp({ from: 'Alice Compta <compta@example.com>', to: ALICE, subject: 'Contrat à signer', text: 'Merci de signer avant vendredi.' });
  rt.ollama.enqueue(
    { toolCalls: [{ name: 'list_emails', arguments: {} }] },
    { tokens: 'Vous avez 3 emails : une réunion demain à 15h, les notes de version 2.0 et un contrat à signer avant vendredi.'.split(/(?= )/), delayMs: 10 },
    { toolCalls: [{ name: 'send_email', arguments: { to: 'bob@example.com', subject: 'Re: Réunion projet Zephyr', body: 'Bonjour Bob,\n\nC’est noté pour demain 15h.\n\nAlice' } }] },
  );

  const chat = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  await chat.goto(rt.httpUrl);
  await chat.getByTestId('email').fill(ALICE);
  await chat.getByTestId('signin').locator('button').first().click();
  await chat.getByTestId('composer').fill('Quels sont mes emails importants aujourd’hui ?');
  await chat.getByTestId('send').click();
  await chat.getByTestId('email-card').first().waitFor();
  await chat.getByTestId('state').filter({ hasText: 'idle' }).waitFor();
  await chat.getByTestId('composer').fill('Réponds à Bob que c’est noté pour demain.');
  await chat.getByTestId('send').click();
  await chat.getByTestId('approval').waitFor();
  await chat.screenshot({ path: `${OUT}chat.png`, fullPage: false });

  // The priority inbox: summaries as the pipeline stores them, with their triage.
  const store = new SummaryStore(rt.runtime.db);
  const triaged = [
    { from: 'Bob Martin <bob@example.com>', subject: 'Réunion projet Zephyr demain 15h', summary: 'Bob propose de faire le point demain à 15h sur le planning et le budget.', category: 'work', priority: 'high', needsReply: true },
    { from: 'Alice Compta <compta@example.com>', subject: 'Facture 2026-113', summary: 'La facture de novembre est à régler avant le 5 décembre.', category: 'finance', priority: 'high', needsReply: false },
    { from: 'Chloé <chloe@friends.example>', subject: 'Photos du week-end', summary: 'Chloé partage les photos de samedi.', category: 'personal', priority: 'normal', needsReply: false },
    { from: 'Team <team@example.com>', subject: 'Release notes v2.0', summary: 'Les nouveautés de la version 2.0.', category: 'newsletter', priority: 'low', needsReply: false },
    { from: 'Prize Center <win@prize.example>', subject: 'Vous avez gagné !', summary: 'Un prétendu gain à réclamer par un lien.', category: 'spam', priority: 'low', needsReply: false },
  ] as const;
  for (const [i, mail] of triaged.entries()) {
    const { category, priority, needsReply, ...fields } = mail;
    await store.insert({ userEmail: ALICE, emailId: `inbox-${i}.eml`, ...fields, model: 'llama3.1:8b', createdAt: new Date(Date.now() - i * 600_000).toISOString(), triage: { category, priority, needsReply, reason: '' } });
  }
  const inbox = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  await inbox.goto(rt.httpUrl);
  await inbox.getByTestId('email').fill(ALICE);
  await inbox.getByTestId('signin').locator('button').first().click();
  await inbox.getByTestId('inbox-item').first().waitFor();
  while ((await inbox.getByTestId('toast').count()) > 0) await inbox.getByTestId('toast').first().locator('.dismiss').click();
  await inbox.screenshot({ path: `${OUT}inbox.png`, fullPage: false });

  const inspector = await browser.newPage({ viewport: { width: 1200, height: 820 } });
  await inspector.goto(`${rt.httpUrl}/inspector`);
  await inspector.getByTestId('admin-token').fill(ADMIN_TOKEN);
  await inspector.getByTestId('admin-signin').click();
  await inspector.getByTestId('actor-row').first().click();
  await inspector.getByTestId('timeline-entry').first().waitFor();
  await inspector.screenshot({ path: `${OUT}inspector.png`, fullPage: false });
  process.stdout.write(`screenshots written to ${OUT}\n`);
} finally {
  await browser.close();
  await rt.close();
  await Promise.all([mail.close(), redis.close()]);
}
