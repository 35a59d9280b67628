import { z } from 'zod';
import { InvalidAddressError } from './mail-errors.js';

/** One DNS label: letters, digits and inner hyphens, at most 63 characters. */
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/**
 * zod's `z.email()` local part (no leading, trailing or doubled dots; no quotes), but a domain of one label or more:
 * `localhost` and other single-label local domains are real mail domains here, and `z.email()` wants a TLD.
 */
const MAILBOX_ADDRESS = new RegExp(`^(?:[a-z0-9_'+\\-]+\\.)*[a-z0-9_'+\\-]*[a-z0-9_+-]@${LABEL}(?:\\.${LABEL})*$`, 'i');

// 254 is the longest address SMTP allows, and it keeps the directory name under the usual 255-byte limit.
/** A mailbox address (any case); the one check every address passes before it names a Maildir or a recipient. */
export const AddressSchema = z.string().max(254).regex(MAILBOX_ADDRESS, 'not a mailbox address');

/**
 * The canonical form of a mailbox address: trimmed, lower-cased and checked. It becomes a directory name, so
 * nothing that fails here may ever reach a path.
 */
export function normalizeAddress(address: string): string {
  const candidate = typeof address === 'string' ? address.trim().toLowerCase() : '';
  const parsed = AddressSchema.safeParse(candidate);
  if (!parsed.success) throw new InvalidAddressError(String(address), { cause: parsed.error });
  return parsed.data;
}

export function domainOf(normalizedAddress: string): string {
  return normalizedAddress.slice(normalizedAddress.lastIndexOf('@') + 1);
}
