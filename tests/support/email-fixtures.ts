import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The real-world messages in `tests/fixtures/emails/` (a copy of the shared set). */
export const EMAIL_FIXTURES_DIR = new URL('../fixtures/emails/', import.meta.url).pathname;

/** Every `.eml` below `dir`, in every subfolder. */
export function emailFixtures(dir: string = EMAIL_FIXTURES_DIR): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? emailFixtures(path) : name.endsWith('.eml') ? [path] : [];
  });
}
