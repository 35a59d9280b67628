/**
 * `npx tsx bench/relay-ab.ts <checkout A> <checkout B>`: two versions of the runtime (two checkouts, each with its
 * `node_modules`) and the bare uWS relay, each in a process of its own on one fake Ollama, on the relay bench's
 * 18-token burst, their rounds interleaved so that the machine's drift hits all three alike. What a change does to CPU
 * per chunk and time to first chunk, measured against the version before it in one run: the full bench's figures
 * move by more than that between runs on a shared VM.
 *
 * Knobs: `STREAMS` (200) concurrent streams, `ROUNDS` (10) measured rounds after 3 unmeasured ones, `TTFC_TURNS` (40)
 * one-at-a-time turns on each; `A_ENV` / `B_ENV`, a JSON object of environment variables for that runtime (to switch
 * something off for an ablation).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { writeBareConfig } from '../tests/support/inspected-runtime.js';
import { InspectedProcess } from '../tests/support/inspected-process.js';
import { openClients, WsRelayClient, type RelayClient } from './support/relay-clients.js';
import { load, median, PROMPT, tokensOf, TURN_TIMEOUT_MS } from './support/relay-load.js';
import { startNodeFlags } from '../tests/support/start-flags.js';

const [treeA, treeB] = process.argv.slice(2);
if (!treeA || !treeB) {
  process.stderr.write('usage: npx tsx bench/relay-ab.ts <checkout A> <checkout B>\n');
  process.exit(2);
}
const STREAMS = Number(process.env.STREAMS ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const TTFC_TURNS = Number(process.env.TTFC_TURNS ?? 40);
const WARM_ROUNDS = 3;
const ANSWER = tokensOf(18);
const EnvSchema = z.record(z.string(), z.string());
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-relay-ab-'));
const fake = await InspectedProcess.start({ name: 'the fake Ollama', args: [here('./peers/fake-ollama-process.ts')], ready: /fake Ollama listening on port (\d+)/ });
const servers: Array<{ label: string; server: InspectedProcess; sockets: RelayClient[]; cpu: number[]; ttfc: number[] }> = [];
try {
  const ollamaUrl = `http://127.0.0.1:${fake.port}`;
  for (const [label, tree] of [['A', treeA], ['B', treeB]] as const) {
    mkdirSync(join(dir, label));
    const env = EnvSchema.parse(JSON.parse(process.env[`${label}_ENV`] ?? '{}'));
    const server = await InspectedProcess.start({
      name: `runtime ${label}`,
      nodeFlags: startNodeFlags(resolve(tree)),
      args: [join(resolve(tree), 'src/main.ts'), '--config', writeBareConfig(join(dir, label), ollamaUrl)],
      ready: /HTTP server listening on [^:]+:(\d+)/,
      inspect: true,
      env,
    });
    servers.push({ label: `${label} (${tree})`, server, sockets: [], cpu: [], ttfc: [] });
  }
  const bare = await InspectedProcess.start({ name: 'the bare uWS relay', args: [here('./peers/bare-uws-relay.ts'), ollamaUrl], ready: /relay listening on port (\d+)/, inspect: true });
  servers.push({ label: 'bare uWS relay', server: bare, sockets: [], cpu: [], ttfc: [] });
  for (const [i, s] of servers.entries()) {
    s.sockets = await openClients(STREAMS, (n) => WsRelayClient.connect(`ws://127.0.0.1:${s.server.port}/ws`, `ab${i}-${n}@bench.example`));
  }
  const scripted = await fake.request(`script ${JSON.stringify({ tokens: ANSWER })}`);
  if (scripted !== 'ok') throw new Error(`the fake Ollama refused the script: ${JSON.stringify(scripted)}`);
  for (let round = -WARM_ROUNDS; round < ROUNDS; round += 1) {
    // The order turns each round: whichever goes first or last is not always the same server.
    for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
      const run = await load(s.server, fake, s.sockets, { tokens: ANSWER, paced: false });
      if (round >= 0) s.cpu.push(run.serverCpuUs / run.tokens);
    }
  }
  for (let turn = 0; turn < TTFC_TURNS; turn += 1) {
    for (const s of servers) {
      const times = await s.sockets[0]!.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
      s.ttfc.push(times.firstChunkAt - times.sentAt);
    }
  }
  const bareCpu = median(servers.at(-1)!.cpu);
  const bareTtfc = median(servers.at(-1)!.ttfc);
  console.log(`${STREAMS} streams × 18 tokens, ${ROUNDS} rounds each (after ${WARM_ROUNDS}), interleaved; time to first chunk over ${TTFC_TURNS} turns one at a time\n`);
  // Paired: each round's (each turn's) figure against the bare relay's in the same round, then the median. The machine's
  // drift moves a whole round; the pairs cancel it, where the medians of each column alone would not.
  const bareRun = servers.at(-1)!;
  console.log('| server | CPU per chunk, µs (each round) | median | ÷ bare | ÷ bare, paired by round | first chunk, median ms | added over bare | added, paired by turn |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const s of servers) {
    const cpu = median(s.cpu);
    const ttfc = median(s.ttfc);
    const pairedCpu = median(s.cpu.map((x, i) => x / bareRun.cpu[i]!));
    const pairedTtfc = median(s.ttfc.map((x, i) => x - bareRun.ttfc[i]!));
    console.log(
      `| ${s.label} | ${s.cpu.map((x) => x.toFixed(0)).join(' ')} | ${cpu.toFixed(1)} | ${(cpu / bareCpu).toFixed(2)}× | ${pairedCpu.toFixed(2)}× | ${ttfc.toFixed(2)} | +${(ttfc - bareTtfc).toFixed(2)} | +${pairedTtfc.toFixed(2)} |`,
    );
  }
} finally {
  for (const s of servers) {
    for (const socket of s.sockets) socket.close();
    await s.server.close();
  }
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
