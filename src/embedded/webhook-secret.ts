import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** 32 random bytes, hex: as strong as a key for HMAC-SHA256 can usefully be. */
const SECRET_BYTES = 32;

/**
 * The webhook secret `npm start` shares with its mail server when none is configured: made once and kept in `path`
 * (mode 0600), so that a restart — or a mail server left over from a crash — signs with the secret the runtime checks.
 * Created atomically: a complete file is linked into place, so a concurrent start reads a whole secret, never half.
 */
export function loadOrCreateWebhookSecret(path: string): string {
  const existing = readSecret(path);
  if (existing) return existing;
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { mode: 0o600 });
  try {
    linkSync(temp, path);
  } catch (error) {
    // Another start won the race: its secret is the one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temp, { force: true });
  }
  const secret = readSecret(path);
  if (!secret) throw new Error(`the webhook secret file ${path} is empty; delete it to have a new one made`);
  return secret;
}

function readSecret(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
