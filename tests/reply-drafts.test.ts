import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNTRUSTED_TAG } from '../src/llm/untrusted-data.js';
import { REPLY_DRAFTS_FORMAT, REPLY_SYSTEM_PROMPT, replySubject } from '../src/replies/reply-prompt.js';
import { SummaryStore, UNTRIAGED } from '../src/storage/summary-store.js';
import { TestMailServer } from './support/mail-harness.js';
import { TestRuntime } from './support/runtime-harness.js';

const PATH = '/api/replies/suggest';
let users = 0;
const newUser = (name: string) => `${name}-${++users}-${Date.now()}@example.com`;
const drafts = (...texts: string[]) => ({ tokens: [JSON.stringify({ drafts: texts })] });

describe('POST /api/replies/suggest: reply drafts for one of the user\'s emails', () => {
  let mail: TestMailServer;
  let rt: TestRuntime;
  beforeAll(async () => {
    mail = await TestMailServer.start();
    rt = await TestRuntime.start({ mcp: false, config: { mcp: { mail_server_url: mail.mcpUrl } } });
    await rt.toolsListed();
  }, 30_000);
  afterAll(async () => {
    await rt?.close();
    await mail?.close();
  });

  const suggest = (user: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${rt.httpUrl}${PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(user ? { 'x-user-email': user } : {}), ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** Delivers a mail over SMTP and returns its id in the recipient's inbox. */
  async function deliver(to: string, subject: string, text: string, from = 'boss@example.com'): Promise<string> {
    await mail.sendSmtp({ from, to, subject, text });
    const client = await mail.client();
    const inbox = (await client.callTool({ name: 'list_emails', arguments: { email: to } })).structuredContent as { emails: Array<{ id: string; subject: string }> };
    await client.close();
    return inbox.emails.find((e) => e.subject === subject)!.id;
  }

  it('answers {to, subject, drafts} from the mail itself, wrapped as untrusted data, in one LLM call', async () => {
    const user = newUser('ann');
    const id = await deliver(user, 'Déjeuner jeudi ?', 'Bonjour, es-tu libre jeudi midi pour déjeuner ?', 'Paul Martin <paul@example.com>');
    const before = rt.ollama.requests.length;
    rt.ollama.enqueue(drafts('Avec plaisir, jeudi midi me va.', 'Désolé, je ne suis pas libre jeudi.', 'Bien reçu, je te redis.'));
    const response = await suggest(user, { email_id: id });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      to: 'paul@example.com',
      subject: 'Re: Déjeuner jeudi ?',
      drafts: ['Avec plaisir, jeudi midi me va.', 'Désolé, je ne suis pas libre jeudi.', 'Bien reçu, je te redis.'],
    });
    expect(rt.ollama.requests).toHaveLength(before + 1);
    const request = rt.ollama.requests[before]!.body;
    expect(request.stream).toBe(false);
    // Structured output: the drafts' JSON Schema as Ollama's `format`.
    expect(request.format).toEqual(REPLY_DRAFTS_FORMAT.schema);
    expect(request.messages![0]).toEqual({ role: 'system', content: REPLY_SYSTEM_PROMPT });
    const prompt = request.messages![1]!.content!;
    expect(prompt).toContain(`<${UNTRUSTED_TAG} source="email">`);
    expect(prompt).toContain('es-tu libre jeudi midi');
  });

  it('an invalid answer is asked for once more; twice invalid is a 502, never a third call', async () => {
    const user = newUser('bea');
    const id = await deliver(user, 'Invoice 42', 'Please confirm you received invoice 42.');
    let before = rt.ollama.requests.length;
    rt.ollama.enqueue({ tokens: ['Sure! Here are some drafts: 1. Thanks'] }, drafts('Received, thank you.', 'Thanks, I will check it.'));
    const retried = await suggest(user, { email_id: id });
    expect(retried.status).toBe(200);
    expect(((await retried.json()) as { drafts: string[] }).drafts).toEqual(['Received, thank you.', 'Thanks, I will check it.']);
    expect(rt.ollama.requests).toHaveLength(before + 2);

    before = rt.ollama.requests.length;
    rt.ollama.enqueue({ tokens: ['{"drafts": []}'] }, { tokens: ['{"replies": ["Hi"]}'] });
    const failed = await suggest(user, { email_id: id });
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { message: string }).message).toMatch(/usable drafts/);
    expect(rt.ollama.requests).toHaveLength(before + 2);
  });

  it('another user\'s email id is a 404: their mail never reaches the LLM nor the answer', async () => {
    const owner = newUser('cat');
    const intruder = newUser('dan');
    const id = await deliver(owner, 'Salary review', 'Your new salary is 123456.');
    const before = rt.ollama.requests.length;
    const response = await suggest(intruder, { email_id: id });
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(text).not.toContain('123456');
    expect(text).not.toContain('Salary');
    expect(rt.ollama.requests).toHaveLength(before);
  });

  it('mail the mailbox cannot give is answered from its stored summary', async () => {
    const user = newUser('eve');
    await new SummaryStore(rt.runtime.db).insert({
      userEmail: user,
      emailId: 'gone-from-inbox.eml',
      from: 'Carla <carla@example.com>',
      subject: 'RE: Contract',
      summary: 'Carla asks whether the contract can be signed by Friday.',
      model: 'test',
      createdAt: new Date().toISOString(),
      triage: UNTRIAGED,
    });
    const before = rt.ollama.requests.length;
    rt.ollama.enqueue(drafts('Yes, I will sign it by Friday.', 'I need until Monday, sorry.'));
    const response = await suggest(user, { email_id: 'gone-from-inbox.eml' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ to: 'carla@example.com', subject: 'RE: Contract' });
    expect(rt.ollama.requests[before]!.body.messages![1]!.content).toContain('Carla asks whether the contract can be signed by Friday.');
  });

  it('refuses a foreign Origin, a non-JSON body, a bad body and an anonymous caller before any LLM call', async () => {
    const user = newUser('fay');
    const before = rt.ollama.requests.length;
    expect((await suggest(user, { email_id: 'x' }, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await suggest(user, { email_id: 'x' }, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await suggest(user, '{not json')).status).toBe(400);
    expect((await suggest(user, { email_id: '' })).status).toBe(400);
    expect((await suggest(user, { email_id: 'x'.repeat(301) })).status).toBe(400);
    expect((await suggest(user, { email_id: 'x', to: 'bob@example.com' })).status).toBe(400);
    expect((await suggest(undefined, { email_id: 'x' })).status).toBe(401);
    expect(rt.ollama.requests).toHaveLength(before);
  });

  it('answers 503 with a clear message while the LLM is down', async () => {
    const user = newUser('gil');
    const id = await deliver(user, 'Ping', 'Are you there?');
    await rt.ollama.stop();
    try {
      const response = await suggest(user, { email_id: id });
      expect(response.status).toBe(503);
      expect(((await response.json()) as { message: string }).message).toMatch(/Reply drafts are unavailable: the language model cannot answer/);
    } finally {
      await rt.ollama.restart();
    }
  });
});

describe('replySubject', () => {
  it('adds "Re: " once, whatever prefix a mail client wrote', () => {
    expect(replySubject('Lunch')).toBe('Re: Lunch');
    expect(replySubject('Re: Lunch')).toBe('Re: Lunch');
    expect(replySubject('RE:Lunch')).toBe('RE:Lunch');
    expect(replySubject('AW: Termin')).toBe('AW: Termin');
    expect(replySubject('Re[2]: Lunch')).toBe('Re[2]: Lunch');
    expect(replySubject('Regarding lunch')).toBe('Re: Regarding lunch');
  });
});

describe('reply drafts spend the user\'s chat budget', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await TestRuntime.start({ mcp: false, config: { rate_limits: { chat_per_user: { points: 1, duration_s: 60 } } } });
  });
  afterAll(() => rt?.close());

  it('the second request within the window is a 429 with Retry-After, and costs no LLM call', async () => {
    const user = newUser('hal');
    await new SummaryStore(rt.runtime.db).insert({ userEmail: user, emailId: 'm1', from: 'a@example.com', subject: 'Hi', summary: 'Says hi.', model: 'test', createdAt: new Date().toISOString(), triage: UNTRIAGED });
    rt.ollama.enqueue(drafts('Hi!'));
    const post = () => fetch(`${rt.httpUrl}${PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user-email': user }, body: JSON.stringify({ email_id: 'm1' }) });
    expect((await post()).status).toBe(200);
    const before = rt.ollama.requests.length;
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(rt.ollama.requests).toHaveLength(before);
  });
});
