import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The Postgres the tests may use: `DATABASE_URL` as the suite was started with (moved aside by
 * `isolate-database-url.ts`, so spawned processes do not inherit it); unset, the Postgres variants are skipped.
 */
export const TEST_DATABASE_URL = process.env.AI_RUNTIME_TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? '';

let warned = false;

/** A skipped Postgres variant must not pass silently: say once per test file why it did not run and how to run it. */
export function warnPostgresSkipped(): void {
  if (TEST_DATABASE_URL || warned) return;
  warned = true;
  console.warn(
    'SKIPPED: the Postgres storage tests, because DATABASE_URL is not set. ' +
      'Run them with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx vitest run tests/storage.test.ts',
  );
}

/**
 * A fresh schema for one test (or one run): its URL puts the schema first in `search_path`, so migrations and queries
 * never see another run's tables. `drop()` removes it with everything in it; safe to call twice.
 */
export class TestSchema {
  private dropped: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    readonly url: string,
    private readonly baseUrl: string,
  ) {}

  static async create(baseUrl = TEST_DATABASE_URL): Promise<TestSchema> {
    const name = `ai_runtime_test_${randomBytes(6).toString('hex')}`;
    await withClient(baseUrl, (client) => client.query(`create schema "${name}"`));
    const url = new URL(baseUrl);
    url.searchParams.set('options', `-c search_path=${name}`);
    return new TestSchema(name, url.toString(), baseUrl);
  }

  drop(): Promise<void> {
    this.dropped ??= withClient(this.baseUrl, (client) => client.query(`drop schema if exists "${this.name}" cascade`)).then(() => undefined);
    return this.dropped;
  }
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
