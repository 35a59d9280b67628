/**
 * `npx tsx bench/ttfc-split.ts`: time to first chunk taken apart, one turn at a time, for the `ollama` client alone,
 * the bare uWS relay and the runtime (each relay in a process of its own, started as the relay bench starts it) on
 * one fake Ollama in this process. The fake notes when a request reached it, so each turn splits into the way there
 * (the chat frame sent → the request at the fake) and the way back (the request at the fake → the first chunk at the
 * client). Rounds are interleaved and paired, as in `relay-ab.ts`: the VM's drift moves whole rounds.
 *
 * Knobs: `TURNS` (100) measured rounds after `WARM` (20) unmeasured ones.
 */
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

const TURNS = Number(process.env.TURNS ?? 100);
const WARM = Number(process.env.WARM ?? 20);
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

interface Split {
  there: number;
  back: number;
  whole: number;
}

const fake = await FakeOllama.start();
const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-ttfc-split-'));
let arrivedAt = 0;
fake.setResponder(() => {
  arrivedAt = performance.now();
  return { tokens: tokensOf(18) };
});
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
  const clients: Array<{ label: string; client: RelayClient; splits: Split[] }> = [
    { label: 'ollama client alone', client: new DirectClient(new Ollama({ host: fake.url })), splits: [] },
    { label: 'bare uWS relay', client: await WsRelayClient.connect(`ws://127.0.0.1:${bare.port}/ws`, 'split@bench.example'), splits: [] },
    { label: 'runtime', client: await WsRelayClient.connect(`ws://127.0.0.1:${runtime.port}/ws`, 'split@bench.example'), splits: [] },
  ];
  for (let round = -WARM; round < TURNS; round += 1) {
    for (const c of round % 2 === 0 ? clients : [...clients].reverse()) {
      const times = await c.client.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
      if (round >= 0) c.splits.push({ there: arrivedAt - times.sentAt, back: times.firstChunkAt - arrivedAt, whole: times.firstChunkAt - times.sentAt });
    }
  }
  const alone = clients[0]!.splits;
  const paired = (splits: readonly Split[], key: keyof Split) => median(splits.map((s, i) => s[key] - alone[i]![key]));
  console.log(`time to first chunk, ${TURNS} turns one at a time (after ${WARM}), interleaved; medians in ms, "added" paired by round against the client alone\n`);
  console.log('| | chat sent → request at the fake | added | request at the fake → first chunk | added | whole | added |');
  console.log('|---|---|---|---|---|---|---|');
  for (const { label, splits } of clients) {
    const cell = (key: keyof Split) => `${median(splits.map((s) => s[key])).toFixed(2)} | ${splits === alone ? '' : `+${paired(splits, key).toFixed(2)}`}`;
    console.log(`| ${label} | ${cell('there')} | ${cell('back')} | ${cell('whole')} |`);
  }
  for (const { client } of clients) client.close();
} finally {
  for (const p of processes) await p.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
