/**
 * The address inside a `From:` text: `Name <addr>`, or a bare address among other words; the text itself when it holds
 * none. Case is kept (a local part may be case-sensitive); compare addresses case-insensitively.
 */
export function senderAddress(from: string): string {
  const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(from);
  const bare = /([^\s<>"',;:]+@[^\s<>"',;:]+)/.exec(from);
  return (angle?.[1] ?? bare?.[1] ?? from).trim();
}
