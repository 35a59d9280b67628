import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { FakeOllama } from './support/fake-ollama.js';
import { TestRuntime } from './support/runtime-harness.js';
import { TestClient, textOf } from './support/ws-client.js';

const OPENSSL = '/usr/bin/openssl';
const PASSPHRASE = 'correct horse battery staple';

/** A self-signed certificate for localhost, valid one day; `passphrase` encrypts the key. */
function selfSignedCertificate(dir: string, name: string, passphrase?: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const keyArgs = passphrase === undefined ? ['-nodes'] : ['-passout', `pass:${passphrase}`];
  execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'rsa:2048', ...keyArgs, '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

/** GET over HTTPS, trusting the self-signed certificate. */
function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { rejectUnauthorized: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    }).on('error', reject);
  });
}

describe('TLS', () => {
  let dir: string;
  let plain: { cert: string; key: string };
  let ollama: FakeOllama;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ai-runtime-tls-'));
    plain = selfSignedCertificate(dir, 'plain');
    ollama = await FakeOllama.start();
  });
  afterAll(async () => {
    await ollama.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Start-up with these server settings must fail; the runtime's temp dir and Ollama are the test's. */
  async function startFailure(server: Record<string, string>): Promise<unknown> {
    const runDir = mkdtempSync(join(dir, 'run-'));
    return TestRuntime.start({ mcp: false, ollama, dir: runDir, config: { server } }).then(
      async (rt) => {
        await rt.close();
        throw new Error('the runtime started');
      },
      (error: unknown) => error,
    );
  }

  describe('with a certificate and key', () => {
    let rt: TestRuntime;
    beforeAll(async () => {
      // Summaries off: without Redis they would make /health say "degraded", which is not what this test is about.
      rt = await TestRuntime.start({ mcp: false, ollama, config: { server: { tls_cert_file: plain.cert, tls_key_file: plain.key }, summarization: { enabled: false } } });
    });
    afterAll(() => rt.close());

    it('serves HTTPS and WSS, and says so in its URLs', async () => {
      expect(rt.httpUrl).toMatch(/^https:\/\//);
      expect(rt.wsUrl).toMatch(/^wss:\/\//);
      const health = await httpsGet(`${rt.httpUrl}/health`);
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    });

    it('a wss client signs in and chats', async () => {
      ollama.enqueue({ tokens: ['Over', ' TLS'] });
      const client = await TestClient.connect(rt.wsUrl, { rejectUnauthorized: false });
      await client.auth('secure@example.com');
      expect(textOf(await client.chat('hello'))).toBe('Over TLS');
      await client.close();
    });

    it('a client that checks certificates refuses the self-signed one (it really is TLS with this certificate)', async () => {
      await expect(TestClient.connect(rt.wsUrl)).rejects.toThrow(/self[- ]signed/i);
    });

    it('plain HTTP and WS on the same port get nothing', async () => {
      const port = new URL(rt.httpUrl).port;
      await expect(fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
      await expect(TestClient.connect(`ws://127.0.0.1:${port}/ws`)).rejects.toThrow();
    });
  });

  it('an encrypted key works with its tls_passphrase', async () => {
    const encrypted = selfSignedCertificate(dir, 'encrypted', PASSPHRASE);
    const rt = await TestRuntime.start({ mcp: false, ollama, config: { server: { tls_cert_file: encrypted.cert, tls_key_file: encrypted.key, tls_passphrase: PASSPHRASE } } });
    try {
      expect((await httpsGet(`${rt.httpUrl}/health`)).status).toBe(200);
    } finally {
      await rt.close();
    }
  });

  it('a missing certificate or key file stops start-up with a ConfigError naming the key', async () => {
    const missingCert = await startFailure({ tls_cert_file: join(dir, 'nope.crt'), tls_key_file: plain.key });
    expect(missingCert).toBeInstanceOf(ConfigError);
    expect((missingCert as Error).message).toContain('tls_cert_file');
    expect((missingCert as Error).message).toContain('nope.crt');

    const missingKey = await startFailure({ tls_cert_file: plain.cert, tls_key_file: join(dir, 'nope.key') });
    expect(missingKey).toBeInstanceOf(ConfigError);
    expect((missingKey as Error).message).toContain('tls_key_file');
  });

  it('an unusable certificate or a wrong passphrase stops start-up with a ConfigError, not uWS\'s "App construction failed"', async () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const notPem = await startFailure({ tls_cert_file: garbage, tls_key_file: plain.key });
    expect(notPem).toBeInstanceOf(ConfigError);
    expect((notPem as Error).message).toContain('tls_cert_file');

    const encrypted = selfSignedCertificate(dir, 'wrong-pass', PASSPHRASE);
    const wrongPassphrase = await startFailure({ tls_cert_file: encrypted.cert, tls_key_file: encrypted.key, tls_passphrase: 'not it' });
    expect(wrongPassphrase).toBeInstanceOf(ConfigError);
    expect((wrongPassphrase as Error).message).toContain('tls_passphrase');
  });

  it('the schema refuses a certificate without a key, and a key without a certificate', () => {
    expect(() => parseConfig({ server: { tls_cert_file: plain.cert } })).toThrow(ConfigError);
    expect(() => parseConfig({ server: { tls_cert_file: plain.cert } })).toThrow(/tls_cert_file/);
    expect(() => parseConfig({ server: { tls_key_file: plain.key } })).toThrow(/tls_key_file/);
    expect(() => parseConfig({ server: { tls_cert_file: plain.cert, tls_key_file: plain.key } })).not.toThrow();
  });
});
