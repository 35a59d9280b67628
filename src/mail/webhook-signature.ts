import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-webhook-signature';
export const TIMESTAMP_HEADER = 'x-webhook-timestamp';

export type WebhookSignatureHeaders = { [SIGNATURE_HEADER]: string; [TIMESTAMP_HEADER]: string };

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch'; message: string };

/** Wide enough for clock skew between hosts and a few retries in flight, narrow enough to make a captured request useless soon. */
const DEFAULT_TOLERANCE_SECONDS = 300;
const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/i;
// Digits only: `Number()` would also take "1e9", " 17 " or "0x10", which a signer never sends.
const TIMESTAMP_PATTERN = /^\d{1,12}$/;

function nowInSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function requireSecret(secret: string): void {
  // An empty key still yields a well-formed HMAC that anyone can compute: refuse it rather than "sign" with it.
  if (secret.length === 0) throw new Error('The webhook secret is empty; set a shared secret for the webhook.');
}

function digest(secret: string, timestamp: string, body: string): Buffer {
  // The timestamp is inside the signed text so that it cannot be replaced to replay an old body as fresh.
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest();
}

/** Signs `${timestamp}.${body}`. */
export function signWebhook(secret: string, body: string, timestampSeconds: number = nowInSeconds()): WebhookSignatureHeaders {
  requireSecret(secret);
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError(`The webhook timestamp must be whole unix seconds, got ${timestampSeconds}.`);
  }
  const timestamp = String(timestampSeconds);
  return { [SIGNATURE_HEADER]: `sha256=${digest(secret, timestamp, body).toString('hex')}`, [TIMESTAMP_HEADER]: timestamp };
}

/** Timing-safe; rejects timestamps outside ±toleranceSeconds (default 300) of now. */
export function verifyWebhook(
  secret: string,
  body: string,
  headers: { signature?: string; timestamp?: string },
  options: { toleranceSeconds?: number; nowSeconds?: number } = {},
): SignatureCheck {
  requireSecret(secret);
  // `??`, not a spread: a caller passing `toleranceSeconds: undefined` through must not switch the staleness check off.
  const toleranceSeconds = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowSeconds = options.nowSeconds ?? nowInSeconds();
  const { signature, timestamp } = headers;
  if (!signature || !timestamp) {
    const absent = [!signature && SIGNATURE_HEADER, !timestamp && TIMESTAMP_HEADER].filter(Boolean).join(' and ');
    return { ok: false, reason: 'missing', message: `The request has no ${absent} header.` };
  }
  const given = SIGNATURE_PATTERN.exec(signature.trim())?.[1];
  if (!given) return { ok: false, reason: 'malformed', message: `${SIGNATURE_HEADER} must be "sha256=" followed by 64 hex digits.` };
  if (!TIMESTAMP_PATTERN.test(timestamp.trim())) {
    return { ok: false, reason: 'malformed', message: `${TIMESTAMP_HEADER} must be unix seconds (digits only).` };
  }
  // Both sides are 32 bytes here (the pattern fixed the length), which timingSafeEqual requires.
  if (!timingSafeEqual(Buffer.from(given, 'hex'), digest(secret, timestamp.trim(), body))) {
    return { ok: false, reason: 'mismatch', message: 'The signature does not match the body: wrong secret or an altered request.' };
  }
  // Checked after the signature, so "stale" always means an authentic but old request (a replay, or clocks apart).
  const skew = nowSeconds - Number(timestamp.trim());
  if (Math.abs(skew) > toleranceSeconds) {
    return {
      ok: false,
      reason: 'stale',
      message: `The signature timestamp is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}; at most ${toleranceSeconds} s is accepted.`,
    };
  }
  return { ok: true };
}
