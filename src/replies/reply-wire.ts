import { z } from 'zod';

/** Mail ids are file names or IMAP uids: far shorter than this. */
const MAX_EMAIL_ID_CHARS = 300;

/** `POST /api/replies/suggest`'s body. */
export const SuggestRepliesRequestSchema = z.strictObject({ email_id: z.string().min(1).max(MAX_EMAIL_ID_CHARS) });
export type SuggestRepliesRequest = z.infer<typeof SuggestRepliesRequestSchema>;

/** Its answer: where a reply goes (the sender's address), its subject (`Re: …`, never doubled) and the drafts. */
export const ReplySuggestionsSchema = z.object({ to: z.string(), subject: z.string(), drafts: z.array(z.string()) });
export type ReplySuggestions = z.infer<typeof ReplySuggestionsSchema>;
