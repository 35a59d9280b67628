export { MailFolder } from './mail-folder.js';
export { EmailNotFoundError, InvalidAddressError, InvalidEmailIdError, MailboxUnavailableError, MailError, MailErrorCode, StaleEmailIdError, TriageUnavailableError, UnknownUserError } from './mail-errors.js';
export type { EmailMessage, EmailSummary, MaildirStoreOptions } from './mail-types.js';
export { MaildirStore } from './maildir-store.js';
export { PathEscapeError } from './safe-path.js';
export { mailFilterTest, narrows, type MailFilter } from './mail-filter.js';
