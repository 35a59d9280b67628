import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const PackageSchema = z.object({ scripts: z.object({ start: z.string() }) });
/** `node <flags> --import tsx src/main.ts`: what `npm start` runs. */
const START_SCRIPT = /^node((?:\s+--\S+)*?)\s+--import\s+tsx\s+src\/main\.ts$/;

/**
 * The Node flags `npm start` gives the runtime (a larger young generation), read from a checkout's `package.json`: tests
 * and the benchmark run the runtime as a user starts it, and a change to the start script is measured with it.
 */
export function startNodeFlags(checkout: string): string[] {
  const { start } = PackageSchema.parse(JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8'))).scripts;
  // An older checkout's `tsx src/main.ts` has no flags of its own.
  if (start === 'tsx src/main.ts') return [];
  const match = START_SCRIPT.exec(start.trim());
  if (!match) throw new Error(`package.json's start script is not "node <flags> --import tsx src/main.ts": ${start}`);
  return match[1]!.trim().split(/\s+/).filter((flag) => flag !== '');
}
