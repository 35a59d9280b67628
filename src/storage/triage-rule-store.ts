import { randomUUID } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db } from './database.js';
import type { TriageRulesTable } from './schema.js';
import { storableText } from './dialect.js';
import { CategorySchema, PrioritySchema } from '../triage/triage.js';
import { MAX_RULES_PER_USER, type TriageRule, type TriageRuleInput } from '../triage/user-rules.js';

type Row = Omit<Selectable<TriageRulesTable>, 'user_email'>;

/** Fields a newer version wrote and this one does not know are left out rather than misread. */
function toRule(row: Row): TriageRule {
  const category = CategorySchema.safeParse(row.category);
  const priority = PrioritySchema.safeParse(row.priority);
  return {
    id: row.id,
    ...(row.from_pattern !== null ? { from: row.from_pattern } : {}),
    ...(row.subject_pattern !== null ? { subject: row.subject_pattern } : {}),
    ...(row.words !== null ? { words: row.words } : {}),
    ...(category.success ? { category: category.data } : {}),
    ...(priority.success ? { priority: priority.data } : {}),
    ...(row.needs_reply !== null ? { needs_reply: row.needs_reply === 1 } : {}),
    ...(row.not_spam === 1 ? { not_spam: true } : {}),
    created_at: row.created_at,
  };
}

let lastCreatedMs = 0;

/**
 * Strictly increasing in this process: rules added in the same millisecond (a script, a fast double click) still keep
 * the order they were added in, which decides which of two matching rules wins.
 */
function nextCreatedAt(): string {
  lastCreatedMs = Math.max(Date.now(), lastCreatedMs + 1);
  return new Date(lastCreatedMs).toISOString();
}

export class TooManyRulesError extends Error {
  constructor() {
    super(`A user may have at most ${MAX_RULES_PER_USER} triage rules; delete some first.`);
    this.name = 'TooManyRulesError';
  }
}

/** Each user's triage rules; every method is for one user, and an id of another user's rule is simply not found. */
export class TriageRuleStore {
  constructor(private readonly db: Db) {}

  /** Oldest first, as the user added them. */
  async list(userEmail: string): Promise<TriageRule[]> {
    const rows = await this.db
      .selectFrom('triage_rules')
      .select(['id', 'from_pattern', 'subject_pattern', 'words', 'category', 'priority', 'needs_reply', 'not_spam', 'created_at'])
      .where('user_email', '=', userEmail)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(MAX_RULES_PER_USER)
      .execute();
    return rows.map(toRule);
  }

  async add(userEmail: string, input: TriageRuleInput & { not_spam?: boolean }): Promise<TriageRule> {
    const row = {
      id: randomUUID(),
      user_email: userEmail,
      from_pattern: input.from !== undefined ? storableText(input.from) : null,
      subject_pattern: input.subject !== undefined ? storableText(input.subject) : null,
      words: input.words !== undefined ? storableText(input.words) : null,
      category: input.category ?? null,
      priority: input.priority ?? null,
      needs_reply: input.needs_reply === undefined ? null : input.needs_reply ? 1 : 0,
      not_spam: input.not_spam ? 1 : 0,
      created_at: nextCreatedAt(),
    };
    // Counted and inserted in one transaction, so that two tabs adding at once cannot pass the cap together.
    await this.db.transaction().execute(async (trx) => {
      const { count } = await trx.selectFrom('triage_rules').select((eb) => eb.fn.countAll<string | number>().as('count')).where('user_email', '=', userEmail).executeTakeFirstOrThrow();
      if (Number(count) >= MAX_RULES_PER_USER) throw new TooManyRulesError();
      await trx.insertInto('triage_rules').values(row).execute();
    });
    return toRule(row);
  }

  /** Whether the user had a rule with this id. */
  async remove(userEmail: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('triage_rules').where('user_email', '=', userEmail).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** The user's "not spam" rule for this sender address, made once however often they say so. */
  async notSpam(userEmail: string, sender: string): Promise<TriageRule> {
    const existing = (await this.list(userEmail)).find((r) => r.not_spam && r.from === sender && r.subject === undefined);
    return existing ?? this.add(userEmail, { from: sender, not_spam: true });
  }
}
