/**
 * `npm run bench` (`-- --quick`: the same parts with small numbers, in under a minute): what the runtime costs next to
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
// The IMAP and triage parts read their knobs when loaded: --quick's defaults go in first.
const QUICK_DEFAULTS = { BENCH_IMAP_ACCOUNTS: '10', BENCH_IMAP_CAP: '5', BENCH_TRIAGE_RULE_ROUNDS: '20', BENCH_TRIAGE_LLM_ROUNDS: '20' };
if (quick) for (const [name, value] of Object.entries(QUICK_DEFAULTS)) process.env[name] ??= value;
const { IMAP_BENCH_KNOBS, imapAccountCost } = await import('./imap-accounts.js');
const { TRIAGE_BENCH_KNOBS, triageCost } = await import('./triage.js');

const started = Date.now();
const progress = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`);
const relay = relayKnobs(quick);
const pipeline = pipelineKnobs(quick);
const load = loadavg()[0]!.toFixed(1);

const peers = await relayPeers(relay, progress);
progress('summary pipeline against bare BullMQ');
const flow = await pipelineVsBullmq(pipeline);
progress('IMAP accounts');
const imap = await imapAccountCost();
progress('triage');
const triage = await triageCost({ mailsPerS: flow.summary.pipelineMailsPerS, mails: flow.summary.mails });
progress('done');

const { summary } = peers;
const date = new Date().toISOString();
const report = [
  `## Run of ${date}`,
  '',
  `Command: \`npm run bench${quick ? ' -- --quick' : ''}\` (${relayKnobsText(relay)}, ${pipelineKnobsText(pipeline)}, ${IMAP_BENCH_KNOBS}, ${TRIAGE_BENCH_KNOBS}) on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average ${load} at the start; ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  '',
  ...peers.lines,
  ...flow.lines,
  ...imap,
  ...triage,
  'History row (docs/BENCHMARKS.md):',
  '',
  `| ${date.slice(0, 10)} | ${quick ? '--quick' : 'full'} | ${summary.cpuRatio.toFixed(2)}× at ${summary.streamsForRatio} | ${summary.runtimeIdleKiB.toFixed(1)} KiB | +${summary.ttfcAddedMs.toFixed(2)} ms | +${summary.p99AddedMs.toFixed(2)} ms at ${summary.streamsForP99} | ${(flow.summary.pipelineMailsPerS / flow.summary.bullmqJobsPerS).toFixed(2)}× |`,
  '',
];
process.stdout.write(`${report.join('\n')}\n`);
