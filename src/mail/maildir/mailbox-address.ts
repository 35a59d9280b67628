import { z } from 'zod';
import { InvalidAddressError } from './mail-errors.js';

// 254 is the longest address SMTP allows, and it keeps the directory name under the usual 255-byte limit.
const AddressSchema = z.email().max(254);

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
