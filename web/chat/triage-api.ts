import type { ReplySuggestions } from '../../src/replies/reply-wire.ts';
import { callApi, isRecord, stringField, type ApiResult } from './http-api.ts';
import { readTriage, type Category, type Priority, type Triage } from './triage.ts';

/** One summarized email of the signed-in user, with its triage (`GET /api/summaries`). */
export interface InboxItem {
  email_id: string;
  from: string;
  subject: string;
  summary: string;
  created_at: string;
  triage: Triage;
}

/** A triage rule (`/api/triage/rules`): patterns on sender and subject, or plain words for the LLM, and what it sets. */
export interface TriageRule {
  id: string;
  from?: string;
  subject?: string;
  words?: string;
  category?: Category;
  priority?: Priority;
  needs_reply?: boolean;
  not_spam?: boolean;
}

export type NewTriageRule = Omit<TriageRule, 'id' | 'not_spam'>;

/** How many summaries the inbox shows: a day or two of mail for most people. */
const INBOX_LIMIT = 100;

function readItem(json: unknown): InboxItem | undefined {
  if (!isRecord(json) || typeof json['email_id'] !== 'string') return undefined;
  return {
    email_id: json['email_id'],
    from: stringField(json, 'from'),
    subject: stringField(json, 'subject'),
    summary: stringField(json, 'summary'),
    created_at: stringField(json, 'created_at'),
    triage: readTriage(json),
  };
}

function readRule(json: unknown): TriageRule | undefined {
  if (!isRecord(json) || (typeof json['id'] !== 'string' && typeof json['id'] !== 'number')) return undefined;
  const text = (key: 'from' | 'subject' | 'words') => (typeof json[key] === 'string' && json[key] ? { [key]: json[key] } : {});
  const triage = readTriage(json);
  return {
    id: String(json['id']),
    ...text('from'),
    ...text('subject'),
    ...text('words'),
    ...(typeof json['category'] === 'string' && triage.category !== 'unknown' ? { category: triage.category } : {}),
    ...(typeof json['priority'] === 'string' && triage.priority !== 'unknown' ? { priority: triage.priority } : {}),
    ...(triage.needs_reply !== null ? { needs_reply: triage.needs_reply } : {}),
    ...(json['not_spam'] === true ? { not_spam: true } : {}),
  };
}

const listOf =
  <T>(key: string, read: (json: unknown) => T | undefined) =>
  (json: unknown): T[] | undefined => {
    const list = isRecord(json) ? json[key] : undefined;
    return Array.isArray(list) ? list.map(read).filter((item): item is T => item !== undefined) : undefined;
  };

function readSuggestions(json: unknown): ReplySuggestions | undefined {
  if (!isRecord(json) || !Array.isArray(json['drafts'])) return undefined;
  const drafts = json['drafts'].filter((d): d is string => typeof d === 'string' && d !== '');
  return drafts.length > 0 ? { to: stringField(json, 'to'), subject: stringField(json, 'subject'), drafts } : undefined;
}

export const triageApi = {
  summaries: (): Promise<ApiResult<InboxItem[]>> => callApi('GET', `/api/summaries?limit=${INBOX_LIMIT}`, listOf('summaries', readItem)),
  notSpam: (emailId: string): Promise<ApiResult<true>> => callApi('POST', `/api/summaries/${encodeURIComponent(emailId)}/not-spam`, () => true, {}),
  rules: (): Promise<ApiResult<TriageRule[]>> => callApi('GET', '/api/triage/rules', listOf('rules', readRule)),
  addRule: (rule: NewTriageRule): Promise<ApiResult<TriageRule>> => callApi('POST', '/api/triage/rules', (json) => (isRecord(json) ? readRule(json['rule']) : undefined), rule),
  deleteRule: (id: string): Promise<ApiResult<true>> => callApi('DELETE', `/api/triage/rules/${encodeURIComponent(id)}`, () => true),
  suggestReplies: (emailId: string): Promise<ApiResult<ReplySuggestions>> => callApi('POST', '/api/replies/suggest', readSuggestions, { email_id: emailId }),
};
