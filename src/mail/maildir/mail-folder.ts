export const MailFolder = { Inbox: 'INBOX', Sent: 'Sent', Trash: 'Trash' } as const;
export type MailFolder = (typeof MailFolder)[keyof typeof MailFolder];

/**
 * Where each folder lives inside a user's Maildir: INBOX is the Maildir itself, the others are Maildir++
 * subfolders (a leading dot, as Dovecot and Courier name them).
 */
const FOLDER_DIRS: Readonly<Record<MailFolder, string>> = { INBOX: '.', Sent: '.Sent', Trash: '.Trash' };

export const ALL_FOLDERS: readonly MailFolder[] = Object.values(MailFolder);

export function folderDirName(folder: MailFolder): string {
  // The type already says this cannot happen; a caller from plain JavaScript could still pass any string.
  if (!Object.hasOwn(FOLDER_DIRS, folder)) throw new TypeError(`Unknown mail folder: ${String(folder)}`);
  return FOLDER_DIRS[folder];
}
