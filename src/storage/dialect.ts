import { PostgresAdapter, type Kysely } from 'kysely';

/** Anything that can reach Kysely's executor: a `Db`, a transaction, or the `Kysely<unknown>` migrations receive. */
type HasExecutor = Pick<Kysely<unknown>, 'getExecutor'>;

/**
 * Whether `db` talks to Postgres. Migrations need it for the few DDL forms the two dialects spell differently; the
 * adapter is the one thing Kysely hands a migration that says which database is on the other end.
 */
export function isPostgres(db: HasExecutor): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Postgres refuses U+0000 in `text` values ("invalid byte sequence") where SQLite stores it, so free text from users,
 * mail or the LLM loses it before it reaches either database: the same row on both. JSON columns need nothing:
 * `JSON.stringify` escapes it.
 */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
}
