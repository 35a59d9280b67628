/**
 * Part of `npm run bench` (issue 15): the runtime next to its peers on the same load. Every server runs in a process
 * of its own on loopback, all three talking to one fake Ollama in yet another process, so that each one's CPU time
 * and memory are its own:
 * - the runtime (`src/main.ts`, dev-mode sign-in, no Redis, no mail server, rate limits off, logging at `info`);
 * - the same runtime with traces on, exporting to an OTLP receiver in this process (what tracing costs);
 * - the bare uWS relay (`peers/bare-uws-relay.ts`): auth, then `ollama.chat` → `ws.send`, nothing else;
 * - a Socket.IO 4 relay doing the same (`peers/socketio-relay.ts`);
 * - and, for latency, the `ollama` client alone (in this process), with no server in between.
 *
 * Phases, each peer's rounds interleaved with the others' so that drift on the machine hits all alike:
 * 1. one turn at a time on one socket: time to first chunk and to the whole answer;
 * 2. one long answer: wall time and server CPU per token;
 * 3. idle signed-in sockets: after `idleSockets / 2` of them (and a few streams on them: first-use allocations),
 *    `idleSockets` more in `IDLE_STEPS` steps, the memory read after each (and before the first) following a full GC
 *    forced through the server's inspector; the cost per socket is the median of the steps' slopes (`stepSlope`);
 * 4. on those sockets, `streams` of them at once, each asking for an answer of `answerTokens` tokens sent as fast as
 *    the fake can: server CPU (its own `process.cpuUsage()`, read through its inspector) per relayed chunk;
 * 5. the same streams paced at one token per `tokenMs` (50 tokens/s), their starts spread over `START_SPREAD_MS`: each
 *    token carries the time (the machine's monotonic clock) at which the fake wrote it, so every token's trip to the
 *    client is measured. The latencies count in the steady state only: from the moment every stream has had its
 *    first chunk to the moment the first one ends (the start-up, connections and first requests, is the time to first
 *    chunk's).
 * 6. the other servers' sockets closed, the runtime alone opens signed-in sockets up to `heldSockets` (its default
 *    `max_connections`) and answers a turn on the first and the last of them.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ollama } from 'ollama';
import type { ChatScript } from '../tests/support/fake-ollama-wire.js';
import { writeBareConfig } from '../tests/support/inspected-runtime.js';
import { OtlpReceiver } from '../tests/support/otlp-receiver.js';
import { InspectedProcess } from '../tests/support/inspected-process.js';
import { DirectClient, openClients, SocketIoRelayClient, WsRelayClient, type RelayClient } from './support/relay-clients.js';
import { IDLE_STEPS, START_SPREAD_MS, type RelayKnobs } from './support/relay-knobs.js';
import { load, PROMPT, tokensOf, TURN_TIMEOUT_MS, type LoadRun } from './support/relay-load.js';
import { startNodeFlags } from '../tests/support/start-flags.js';
import { PeerKey, relayReport, type Column, type HeldSockets, type PeerResults, type RelaySummary } from './support/relay-report.js';
import { within } from '../tests/support/within.js';

export { relayKnobs, relayKnobsText, type RelayKnobs } from './support/relay-knobs.js';
export type { RelaySummary } from './support/relay-report.js';

interface Peer {
  key: PeerKey;
  label: string;
  server: InspectedProcess;
  connect(email: string): Promise<RelayClient>;
  /** Signed-in sockets held open from the idle phase on; the stream phases use the first ones. */
  sockets: RelayClient[];
  probe: RelayClient;
}

const FAKE = fileURLToPath(new URL('./peers/fake-ollama-process.ts', import.meta.url));
const UWS_RELAY = fileURLToPath(new URL('./peers/bare-uws-relay.ts', import.meta.url));
const SOCKETIO_RELAY = fileURLToPath(new URL('./peers/socketio-relay.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
/** The runtime runs with the Node flags `npm start` gives it. */
const RUNTIME_FLAGS = startNodeFlags(fileURLToPath(new URL('..', import.meta.url)));
const RELAY_READY = /relay listening on port (\d+)/;
const RUNTIME_READY = /HTTP server listening on [^:]+:(\d+)/;
/** Turns on each peer's probe before anything is measured: connection pools, the first conversation row. */
const WARM_TURNS = 5;
/**
 * Turns on a socket of their own, first: a server measured in its first turns is measured while V8 still compiles its
 * code (the runtime's time to first chunk was 0.3 ms longer after 5 turns than after 300). On another socket, so the
 * probe's conversation, whose history goes with each request, stays as long as before.
 */
const JIT_WARM_TURNS = 200;
/** Streams run once on the first idle sockets before their memory is read: the stream path's first-use allocations. */
const WARM_BURST = 20;

const openSockets = (peer: Peer, from: number, count: number): Promise<RelayClient[]> =>
  openClients(count, (i) => peer.connect(`${peer.key}-idle${from + i}@bench.example`));

interface PeerSpec {
  key: PeerKey;
  label: string;
  /** Its script and arguments. */
  args: readonly string[];
  ready: RegExp;
  nodeFlags?: readonly string[];
  env?: Readonly<Record<string, string>>;
  connect(port: number, email: string): Promise<RelayClient>;
}

function peerSpecs(ollamaUrl: string, dir: string, otlpEndpoint: string): PeerSpec[] {
  const ws = (port: number, email: string) => WsRelayClient.connect(`ws://127.0.0.1:${port}/ws`, email);
  return [
    { key: PeerKey.Uws, label: 'bare uWS relay', args: [UWS_RELAY, ollamaUrl], ready: RELAY_READY, connect: ws },
    { key: PeerKey.SocketIo, label: 'Socket.IO relay', args: [SOCKETIO_RELAY, ollamaUrl], ready: RELAY_READY, connect: (port, email) => SocketIoRelayClient.connect(`http://127.0.0.1:${port}`, email) },
    { key: PeerKey.Runtime, label: 'runtime', args: [MAIN, '--config', writeBareConfig(dir, ollamaUrl)], ready: RUNTIME_READY, nodeFlags: RUNTIME_FLAGS, connect: ws },
    {
      key: PeerKey.RuntimeTraced,
      label: 'runtime, traces on',
      args: [MAIN, '--config', writeBareConfig(join(dir, 'traced'), ollamaUrl)],
      ready: RUNTIME_READY,
      nodeFlags: RUNTIME_FLAGS,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint, OTEL_SERVICE_NAME: 'ai-runtime-bench' },
      connect: ws,
    },
  ];
}

/** One after another: three start-ups at once on two cores would time out on a busy machine. */
async function startPeers(ollamaUrl: string, dir: string, otlpEndpoint: string): Promise<Peer[]> {
  const peers: Peer[] = [];
  mkdirSync(join(dir, 'traced'));
  try {
    for (const spec of peerSpecs(ollamaUrl, dir, otlpEndpoint)) {
      const server = await InspectedProcess.start({
        name: `the ${spec.label}`,
        args: spec.args,
        ready: spec.ready,
        inspect: true,
        ...(spec.nodeFlags ? { nodeFlags: spec.nodeFlags } : {}),
        ...(spec.env ? { env: spec.env } : {}),
      });
      const connect = (email: string) => spec.connect(server.port, email);
      const probe = await connect(`${spec.key}-probe@bench.example`).catch(async (error: unknown) => {
        await server.close();
        throw error;
      });
      peers.push({ key: spec.key, label: spec.label, server, connect, sockets: [], probe });
    }
  } catch (error) {
    await closePeers(peers);
    throw error;
  }
  return peers;
}

async function closePeers(peers: readonly Peer[]): Promise<void> {
  for (const peer of peers) {
    for (const socket of peer.sockets) socket.close();
    peer.probe.close();
    await peer.server.close();
  }
}

/**
 * Every other server's sockets closed (this process's file descriptors are bounded too), the runtime's topped up to
 * `total` counting its probe, then a turn on the first and the last socket: it still serves them all.
 */
async function holdSockets(peers: Peer[], total: number): Promise<HeldSockets> {
  for (const peer of peers) {
    if (peer.key === PeerKey.Runtime) continue;
    for (const socket of peer.sockets) socket.close();
    peer.sockets = [];
  }
  const runtime = peers.find((p) => p.key === PeerKey.Runtime)!;
  const before = { sockets: runtime.sockets.length + 1, memory: await runtime.server.memory({ gc: true }) };
  const more = Math.max(0, total - before.sockets);
  runtime.sockets.push(...(await within(openSockets(runtime, runtime.sockets.length, more), TURN_TIMEOUT_MS * 4, () => `${runtime.label}: opening ${more} more sockets`)));
  const after = { sockets: runtime.sockets.length + 1, memory: await runtime.server.memory({ gc: true }) };
  const turnMs = async (socket: RelayClient) => {
    const turn = await socket.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
    return turn.doneAt - turn.sentAt;
  };
  return { before, after, firstTurnMs: await turnMs(runtime.sockets[0]!), lastTurnMs: await turnMs(runtime.sockets[runtime.sockets.length - 1]!) };
}

export async function relayPeers(knobs: RelayKnobs, progress: (line: string) => void = () => undefined): Promise<{ lines: string[]; summary: RelaySummary }> {
  const fake = await InspectedProcess.start({ name: 'the fake Ollama', args: [FAKE], ready: /fake Ollama listening on port (\d+)/ });
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-bench-peers-'));
  const ollamaUrl = `http://127.0.0.1:${fake.port}`;
  const direct = new DirectClient(new Ollama({ host: ollamaUrl }));
  const script = async (s: ChatScript) => {
    const reply = await fake.request(`script ${JSON.stringify(s)}`);
    if (reply !== 'ok') throw new Error(`the fake Ollama refused the script: ${JSON.stringify(reply)}`);
  };
  let peers: Peer[] = [];
  let otlp: OtlpReceiver | undefined;
  try {
    otlp = await OtlpReceiver.start();
    peers = await startPeers(ollamaUrl, dir, otlp.endpoint);
    const results = new Map<Column, PeerResults>();
    for (const key of ['direct', ...peers.map((p) => p.key)] as const) results.set(key, { sequential: [], long: undefined as unknown as LoadRun, idle: [], burst: new Map(), paced: new Map() });
    const get = (key: Column) => results.get(key)!;

    progress('relay: warm-up');
    const short = tokensOf(20);
    await script({ tokens: short });
    const warmers = await Promise.all(peers.map((peer) => peer.connect(`${peer.key}-warm@bench.example`)));
    for (let i = 0; i < JIT_WARM_TURNS; i += 1) {
      await direct.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
      for (const warmer of warmers) await warmer.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
    }
    for (const warmer of warmers) warmer.close();
    for (let i = 0; i < WARM_TURNS; i += 1) {
      await direct.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
      for (const peer of peers) await peer.probe.chat(PROMPT, undefined, TURN_TIMEOUT_MS);
    }

    progress(`relay: ${knobs.rounds} rounds one turn at a time`);
    for (let round = 0; round < knobs.rounds; round += 1) {
      get('direct').sequential.push(await direct.chat(PROMPT, undefined, TURN_TIMEOUT_MS));
      for (const peer of peers) get(peer.key).sequential.push(await peer.probe.chat(PROMPT, undefined, TURN_TIMEOUT_MS));
    }

    progress(`relay: one ${knobs.longTokens}-token answer each`);
    const long = tokensOf(knobs.longTokens);
    await script({ tokens: long });
    if (knobs.profileDir !== undefined) mkdirSync(knobs.profileDir, { recursive: true });
    const profile = (peer: Peer, name: string) => (knobs.profileDir === undefined ? undefined : join(knobs.profileDir, `${peer.key}-${name}.cpuprofile`));
    get('direct').long = await load(undefined, fake, [direct], { tokens: long, paced: false });
    for (const peer of peers) get(peer.key).long = await load(peer.server, fake, [peer.probe], { tokens: long, paced: false }, { profile: profile(peer, 'long') });

    progress(`relay: idle sockets (${knobs.idleSockets / 2} + ${knobs.idleSockets} a server, in ${IDLE_STEPS} steps)`);
    const answer = tokensOf(knobs.answerTokens);
    await script({ tokens: answer });
    for (const peer of peers) {
      peer.sockets = await within(openSockets(peer, 0, knobs.idleSockets / 2), TURN_TIMEOUT_MS, () => `${peer.label}: opening sockets`);
      // The stream path's first-use allocations (JIT, pools) belong to the baseline, not to the sockets added next.
      await load(peer.server, fake, peer.sockets.slice(0, WARM_BURST), { tokens: answer, paced: false });
      const readings = get(peer.key).idle;
      readings.push({ sockets: peer.sockets.length, memory: await peer.server.memory({ gc: true }) });
      for (let step = 0; step < IDLE_STEPS; step += 1) {
        const more = Math.round((knobs.idleSockets * (step + 1)) / IDLE_STEPS) - Math.round((knobs.idleSockets * step) / IDLE_STEPS);
        peer.sockets.push(...(await within(openSockets(peer, peer.sockets.length, more), TURN_TIMEOUT_MS, () => `${peer.label}: opening sockets`)));
        readings.push({ sockets: peer.sockets.length, memory: await peer.server.memory({ gc: true }) });
      }
      const needed = Math.max(...knobs.streams) - peer.sockets.length;
      if (needed > 0) peer.sockets.push(...(await openSockets(peer, peer.sockets.length, needed)));
    }

    for (const streams of knobs.streams) {
      progress(`relay: ${streams} streams at once, ${knobs.answerTokens}-token answers as fast as they come, ${knobs.burstRounds} round(s)`);
      // Not measured: most of these sockets have not chatted yet, and the runtime's first turn on each starts a
      // conversation (a row, a title, an actor), which is not relaying. relay-ab.ts warms up the same way.
      for (const peer of peers) await load(peer.server, fake, peer.sockets.slice(0, streams), { tokens: answer, paced: false });
      for (let round = 0; round < knobs.burstRounds; round += 1) {
        for (const peer of peers) {
          const run = await load(peer.server, fake, peer.sockets.slice(0, streams), { tokens: answer, paced: false }, { profile: round === 0 ? profile(peer, `burst-${streams}`) : undefined });
          get(peer.key).burst.set(streams, [...(get(peer.key).burst.get(streams) ?? []), run]);
        }
      }
    }

    const paced = tokensOf(knobs.pacedTokens);
    await script({ tokens: paced, delayMs: knobs.tokenMs, stampTokens: true });
    for (const streams of knobs.streams) {
      progress(`relay: ${streams} streams at once, ${knobs.pacedTokens} tokens at one per ${knobs.tokenMs} ms, ${knobs.pacedRuns} run(s)`);
      const spread = (i: number) => (i * START_SPREAD_MS) / streams;
      const add = (key: Column, run: LoadRun) => get(key).paced.set(streams, [...(get(key).paced.get(streams) ?? []), run]);
      for (let round = 0; round < knobs.pacedRuns; round += 1) {
        add('direct', await load(undefined, fake, Array.from({ length: streams }, () => direct), { tokens: paced, paced: true }, { delayOf: spread }));
        for (const peer of peers) {
          add(peer.key, await load(peer.server, fake, peer.sockets.slice(0, streams), { tokens: paced, paced: true }, { delayOf: spread, profile: round === 0 ? profile(peer, `paced-${streams}`) : undefined }));
        }
      }
    }
    const spansByName = new Map<string, number>();
    for (const span of otlp.spans) spansByName.set(span.name, (spansByName.get(span.name) ?? 0) + 1);
    const traces = { requests: otlp.contentTypes.length, spansByName };

    progress(`relay: the runtime alone holding ${knobs.heldSockets} signed-in sockets`);
    await script({ tokens: answer });
    const held = await holdSockets(peers, knobs.heldSockets);
    return relayReport(knobs, new Map(peers.map((p) => [p.key, p.label])), get, traces, held);
  } finally {
    await closePeers(peers);
    await otlp?.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

