/**
 * `npx tsx bench/profile-top.ts <file.cpuprofile> [rows]`: where a CPU profile's time went, as self time per source
 * file and per function, largest first. For the profiles `BENCH_CPU_PROFILE=<dir> npm run bench` writes of each server
 * (`bench/relay-peers.ts`); Chrome DevTools' Performance tab opens the same files for the whole picture.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const ProfileSchema = z.object({
  nodes: z.array(z.object({ id: z.int(), callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.int() }) })),
  samples: z.array(z.int()),
  timeDeltas: z.array(z.number()),
});

const [file, rowsArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: npx tsx bench/profile-top.ts <file.cpuprofile> [rows]\n');
  process.exit(2);
}
const rows = Number(rowsArg ?? 25);
const profile = ProfileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
// Paths from the repository or node_modules on: the rest of an absolute path says nothing.
const shortUrl = (url: string) => url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench|tests)\//, '$1/') || '(native)';

const byFile = new Map<string, number>();
const byFunction = new Map<string, number>();
let totalUs = 0;
profile.samples.forEach((id, i) => {
  const frame = frames.get(id)!;
  const us = profile.timeDeltas[i] ?? 0;
  const where = shortUrl(frame.url);
  totalUs += us;
  byFile.set(where, (byFile.get(where) ?? 0) + us);
  const fn = `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
});

const table = (title: string, totals: Map<string, number>) => [
  `| ${title} | self ms | % |`,
  '|---|---|---|',
  ...[...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rows)
    .map(([name, us]) => `| ${name} | ${(us / 1000).toFixed(1)} | ${((100 * us) / totalUs).toFixed(1)} |`),
  '',
];
process.stdout.write(
  [`${file}: ${(totalUs / 1000).toFixed(0)} ms sampled`, '', ...table('file', byFile), ...table('function', byFunction)].join('\n'),
);
