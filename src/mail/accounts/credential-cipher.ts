import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const ALGORITHM = 'aes-256-gcm';

/** A password as stored: AES-256-GCM, base64 fields, the format version first so that it can change. */
export const SealedSchema = z.strictObject({ v: z.literal(1), iv: z.base64(), tag: z.base64(), data: z.base64() });
export type Sealed = z.infer<typeof SealedSchema>;

export class SecretKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

function decodeKey(secretKey: string): Buffer {
  const text = secretKey.trim();
  const hex = /^[0-9a-fA-F]{64}$/.test(text);
  const key = hex ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  // Node's base64 decoder skips what it does not know: only a value that encodes back to itself was really base64.
  if (key.length !== KEY_BYTES || (!hex && key.toString('base64') !== text)) {
    throw new SecretKeyError(`[mail] secret_key (MAIL_SECRET_KEY) must be ${KEY_BYTES} bytes in base64 or hex; make one with: openssl rand -base64 32`);
  }
  return key;
}

/**
 * Encrypts the passwords of connected accounts at rest. Each value is bound to its user (additional authenticated
 * data): a record copied onto another user's name does not decrypt.
 */
export class CredentialCipher {
  private constructor(private readonly key: Buffer) {}

  static fromKey(secretKey: string): CredentialCipher {
    return new CredentialCipher(decodeKey(secretKey));
  }

  seal(plaintext: string, boundTo: string): Sealed {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.key, iv);
    cipher.setAAD(Buffer.from(boundTo, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /** Throws when the key is not the one it was sealed with, or the value was altered or moved to another user. */
  open(sealed: Sealed, boundTo: string): string {
    const decipher = createDecipheriv(ALGORITHM, this.key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(boundTo, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
  }
}
