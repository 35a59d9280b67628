import type { ImapFlow } from 'imapflow';

export const SpecialUse = { Trash: '\\Trash', Sent: '\\Sent' } as const;
export type SpecialUse = (typeof SpecialUse)[keyof typeof SpecialUse];

const FALLBACK_NAMES: Record<SpecialUse, string> = { [SpecialUse.Trash]: 'Trash', [SpecialUse.Sent]: 'Sent' };

/**
 * The folder the server marks `\Trash` or `\Sent` (SPECIAL-USE, or imapflow's match on well-known localized names, as
 * "[Gmail]/Corbeille"); created under the plain name when the account has none, as mail clients do.
 */
export async function specialFolder(client: ImapFlow, use: SpecialUse): Promise<string> {
  const folders = await client.list();
  const marked = folders.find((folder) => folder.specialUse === use);
  if (marked) return marked.path;
  const name = FALLBACK_NAMES[use];
  const existing = folders.find((folder) => folder.path.toLowerCase() === name.toLowerCase());
  if (existing) return existing.path;
  const created = await client.mailboxCreate(name);
  return created.path;
}
