/**
 * Vitest setup: `DATABASE_URL` is for the Postgres variants of the storage tests only. Left in the environment, it
 * would also override `[storage] database_url` in every `npm start` or worker a test spawns, putting them all in one
 * shared schema. Kept for the tests under its own name, and removed for the processes they start.
 */
if (process.env.DATABASE_URL) {
  process.env.AI_RUNTIME_TEST_DATABASE_URL ??= process.env.DATABASE_URL;
  delete process.env.DATABASE_URL;
}
