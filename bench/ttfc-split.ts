/**
 * `npx tsx bench/ttfc-split.ts`: time to first chunk taken apart, one turn at a time, for the `ollama` client alone,
 * the bare uWS relay and the runtime (each relay in a process of its own, started as the relay bench starts it) on
 * one fake Ollama in this process. Each turn splits where the request's headers reach the fake (Node's
 * `http.server.request.start`): the way there (the chat frame sent → there) and the way back (→ the first chunk at
 * the client; the fake reads and checks the request's body on this side). Rounds are interleaved and paired, as in
 * `relay-ab.ts`: the VM's drift moves whole rounds.
 *
 * As in the relay bench, `WARM` (200) turns on a socket of their own come first (V8 compiles), then `TURNS` (40) are
 * measured on a fresh one: the runtime sends that conversation's history with each request, the relays one message.
 */
import { subscribe } from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ollama } from 'ollama';
import { FakeOllama } from '../tests/support/fake-ollama.js';
import { InspectedProcess } from '../tests/support/inspected-process.js';
import { writeBareConfig } from '../tests/support/inspected-runtime.js';
import { startNodeFlags } from '../tests/support/start-flags.js';
import { DirectClient, WsRelayClient, type RelayClient } from './support/relay-clients.js';
import { median, PROMPT, tokensOf, TURN_TIMEOUT_MS } from './support/relay-load.js';

const TURNS = Number(process.env.TURNS ?? 40);
const WARM = Number(process.env.WARM ?? 200);
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

interface Split {
  there: number;
  back: number;
  whole: number;
}

const fake = await FakeOllama.start();
const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-ttfc-split-'));
let arrivedAt = 0;
// Only the fake serves HTTP in this process.
subscribe('http.server.request.start', () => (arrivedAt = performance.now()));
fake.setResponder(() => ({ tokens: tokensOf(18) }));
const processes: InspectedProcess[] = [];
try {
  const runtime = await InspectedProcess.start({
    name: 'the runtime',
    nodeFlags: startNodeFlags(fileURLToPath(new URL('..', import.meta.url))),
    args: [here('../src/main.ts'), '--config', writeBareConfig(dir, fake.url)],
    ready: /HTTP server listening on [^:]+:(\d+)/,
  });
  processes.push(runtime);
  const bare = await InspectedProcess.start({ name: 'the bare uWS relay', args: [here('./peers/bare-uws-relay.ts'), fake.url], ready: /relay listening on port (\d+)/ });
  processes.push(bare);
  const direct = new DirectClient(new Ollama({ host: fake.url }));
  const connect = (port: number, email: string) => WsRelayClient.connect(`ws://127.0.0.1:${port}/ws`, email);
  const clients: Array<{ label: string; warmer: RelayClient; client: RelayClient; splits: Split[] }> = [
    { label: 'ollama client alone', warmer: direct, client: direct, splits: [] },
    { label: 'bare uWS relay', warmer: await connect(bare.port, 'warm@bench.example'), client: await connect(bare.port, 'split@bench.example'), splits: [] },
    { label: 'runtime', warmer: await connect(runtime.port, 'warm@bench.example'), client: await connect(runtime.port, 'split@bench.example'), splits: [] },
  ];
  for (let round = -WARM; round < TURNS; round += 1) {
    for (const c of round % 2 === 0 ? clients : [...clients].reverse()) {
      const times = await (round < 0 ? c.warmer : c.client).chat(PROMPT, undefined, TURN_TIMEOUT_MS);
      if (round >= 0) c.splits.push({ there: arrivedAt - times.sentAt, back: times.firstChunkAt - arrivedAt, whole: times.firstChunkAt - times.sentAt });
    }
  }
  const alone = clients[0]!.splits;
  const paired = (splits: readonly Split[], key: keyof Split) => median(splits.map((s, i) => s[key] - alone[i]![key]));
  console.log(`time to first chunk, ${TURNS} turns one at a time (after ${WARM} on another socket), interleaved; medians in ms, "added" paired by round against the client alone\n`);
  console.log('| | chat sent → request at the fake | added | request at the fake → first chunk | added | whole | added |');
  console.log('|---|---|---|---|---|---|---|');
  for (const { label, splits } of clients) {
    const cell = (key: keyof Split) => `${median(splits.map((s) => s[key])).toFixed(2)} | ${splits === alone ? '' : `+${paired(splits, key).toFixed(2)}`}`;
    console.log(`| ${label} | ${cell('there')} | ${cell('back')} | ${cell('whole')} |`);
  }
  const runtimeSplits = clients[2]!.splits;
  const quarter = Math.max(1, Math.floor(TURNS / 4));
  const there = (from: number, to: number) => median(runtimeSplits.slice(from, to).map((s, i) => s.there - alone[from + i]!.there)).toFixed(2);
  console.log(`\nthe runtime's way there, added: its first ${quarter} turns +${there(0, quarter)} ms, its last ${quarter} +${there(TURNS - quarter, TURNS)} (the history it sends grows)`);
  for (const { warmer, client } of clients) {
    warmer.close();
    client.close();
  }
} finally {
  for (const p of processes) await p.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
