import type { AddressObject, EmailAddress } from 'mailparser';

/**
 * Addresses as a person reads them: `Name <addr>`, or the bare address, comma-joined. mailparser's own `.text` quotes
 * display names (`"Name" <addr>`), which is right for a header but noise in a list.
 */
export function formatAddresses(header: AddressObject | AddressObject[] | undefined): string {
  if (!header) return '';
  const objects = Array.isArray(header) ? header : [header];
  return objects
    .flatMap((object) => object.value.flatMap(formatEntry))
    .filter((entry) => entry !== '')
    .join(', ');
}

function formatEntry(entry: EmailAddress): string[] {
  if (entry.group) {
    const members = entry.group.flatMap(formatEntry);
    // An empty group ("undisclosed-recipients:;") is still worth showing by name.
    return members.length > 0 ? members : [clean(entry.name)];
  }
  const name = clean(entry.name);
  const address = clean(entry.address ?? '');
  if (name && address && name.toLowerCase() !== address.toLowerCase()) return [`${name} <${address}>`];
  return [address || name];
}

function clean(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}
