/**
 * `npm run bench` (`-- --quick`: the same parts with small numbers, in under a minute; `-- --only relay,pipeline`: just
 * those of relay, pipeline, imap, triage): what the runtime costs next to
 * its peers on the same load, and next to the `ollama` client alone. Prints a Markdown report for docs/BENCHMARKS.md.
 *
 * 1. Relay peers (`bench/relay-peers.ts`): the runtime, a bare uWS relay and a Socket.IO relay, each in its own
 *    process on one fake Ollama: idle sockets, CPU per relayed chunk, time to first chunk, per-token latency.
 * 2. The summaries pipeline against bare BullMQ on the same Redis (`bench/pipeline-vs-bullmq.ts`).
 * 3. What an idle watched IMAP account costs the mail server (`bench/imap-accounts.ts`, against a private Dovecot).
 * 4. What triage costs per mail (`bench/triage.ts`).
 * Every process a part starts is stopped when the part ends, fails, or the benchmark is killed.
 */
import { cpus, loadavg } from 'node:os';
import { pipelineKnobs, pipelineKnobsText, pipelineVsBullmq } from './pipeline-vs-bullmq.js';
import { relayKnobs, relayKnobsText, relayPeers } from './relay-peers.js';

const quick = process.argv.includes('--quick');
/** `--only relay,pipeline`: just those parts (relay, pipeline, imap, triage). */
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt === -1 ? undefined : new Set(process.argv[onlyAt + 1]?.split(','));
// The IMAP and triage parts read their knobs when loaded: --quick's defaults go in first.
const QUICK_DEFAULTS = { BENCH_IMAP_ACCOUNTS: '10', BENCH_IMAP_CAP: '5', BENCH_TRIAGE_RULE_ROUNDS: '20', BENCH_TRIAGE_LLM_ROUNDS: '20' };
if (quick) for (const [name, value] of Object.entries(QUICK_DEFAULTS)) process.env[name] ??= value;
const { IMAP_BENCH_KNOBS, imapAccountCost } = await import('./imap-accounts.js');
const { TRIAGE_BENCH_KNOBS, triageCost } = await import('./triage.js');

const started = Date.now();
const progress = (line: string) => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`);
const relay = relayKnobs(quick);
const pipeline = pipelineKnobs(quick);
const load = loadavg()[0]!.toFixed(1);
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`;

const failures: string[] = [];
/** A part that fails is reported in its place, and the others still run: the process then exits with 1. */
async function part<T>(key: string, name: string, run: () => Promise<T>): Promise<T | undefined> {
  if (only !== undefined && !only.has(key)) return undefined;
  progress(name);
  try {
    return await run();
  } catch (error) {
    process.exitCode = 1;
    process.stderr.write(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    failures.push(`**${name} failed:** ${error instanceof Error ? error.message : String(error)}`, '');
    return undefined;
  }
}
const peers = await part('relay', 'relay peers', () => relayPeers(relay, progress));
const flow = await part('pipeline', 'summary pipeline against bare BullMQ', () => pipelineVsBullmq(pipeline));
const imap = await part('imap', 'IMAP accounts', () => imapAccountCost());
const triage = await part('triage', 'triage', () => triageCost(flow && { mailsPerS: flow.summary.pipelineMailsPerS, mails: flow.summary.mails }));
progress('done');

const date = new Date().toISOString();
const f = (x: number | undefined, show: (x: number) => string) => (x === undefined ? '–' : show(x));
const summary = peers?.summary;
const report = [
  `## Run of ${date}`,
  '',
  `Command: \`npm run bench${quick || only ? ' --' : ''}${quick ? ' --quick' : ''}${only ? ` --only ${[...only].join(',')}` : ''}\` (${relayKnobsText(relay)}, ${pipelineKnobsText(pipeline)}, ${IMAP_BENCH_KNOBS}, ${TRIAGE_BENCH_KNOBS}) on ${machine}, Node ${process.version}; load average ${load} at the start; ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  '',
  ...failures,
  ...(peers?.lines ?? []),
  ...(flow?.lines ?? []),
  ...(imap ?? []),
  ...(triage ?? []),
  'History row (docs/BENCHMARKS.md):',
  '',
  `| ${date.slice(0, 10)} | ${machine} | ${quick ? '--quick' : 'full'} | ${f(summary?.cpuRatio, (x) => `${x.toFixed(2)}× / ${summary!.pacedCpuRatio.toFixed(2)}× at ${summary!.streamsForRatio}`)} | ${f(summary?.runtimeIdleKiB, (x) => `${x.toFixed(1)} / ${summary!.bareIdleKiB.toFixed(1)}`)} | ${f(summary?.ttfcAddedMs, (x) => `+${x.toFixed(2)} ms`)} | ${f(summary?.p99AddedMs, (x) => `+${x.toFixed(1)} ms at ${summary!.streamsForP99}`)} | ${f(summary?.longAnswerRatio, (x) => `${x.toFixed(2)}×`)} | ${f(flow && flow.summary.pipelineMailsPerS / flow.summary.bullmqJobsPerS, (x) => `${x.toFixed(2)}×`)} |`,
  '',
];
process.stdout.write(`${report.join('\n')}\n`);
