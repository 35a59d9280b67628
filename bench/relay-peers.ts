/**
 * Part of `npm run bench` (issue 15): the runtime next to its peers on the same load. Every server runs in a process
 * of its own on loopback, all three talking to one fake Ollama in yet another process, so that each one's CPU time
 * and memory are its own:
 * - the runtime (`src/main.ts`, dev-mode sign-in, no Redis, no mail server, rate limits off, logging at `info`);
 * - the bare uWS relay (`peers/bare-uws-relay.ts`): auth, then `ollama.chat` → `ws.send`, nothing else;
 * - a Socket.IO 4 relay doing the same (`peers/socketio-relay.ts`);
 * - and, for latency, the `ollama` client alone (in this process), with no server in between.
 *
 * Phases, each peer's rounds interleaved with the others' so that drift on the machine hits all alike:
 * 1. one turn at a time on one socket: time to first chunk and to the whole answer;
 * 2. one long answer: wall time and server CPU per token;
 * 3. idle signed-in sockets: after `idleSockets / 2` of them (and a few streams on them: first-use allocations),
 *    `idleSockets` more in `IDLE_STEPS` steps, the memory read after each (and before the first) following a full GC
 *    forced through the server's inspector; the cost per socket is the least-squares slope over those readings, which
 *    one reading's noise (V8 handing pages back late) moves less than it moves a difference of two;
 * 4. on those sockets, `streams` of them at once, each asking for an answer of `answerTokens` tokens sent as fast as
 *    the fake can: server CPU (`/proc/<pid>/stat`) per relayed chunk;
 * 5. the same streams paced at one token per `tokenMs` (50 tokens/s), their starts spread over `START_SPREAD_MS`: each
 *    token carries the wall clock at which the fake wrote it, so every token's trip to the client is measured. The
 *    latencies count in the steady state only: from the moment every stream has had its first chunk to the moment
 *    the first one ends (the start-up, connections and first requests, is the time to first chunk's).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Ollama } from 'ollama';
import { machineMicros, type ChatScript } from '../tests/support/fake-ollama-wire.js';
import { writeBareConfig } from '../tests/support/inspected-runtime.js';
import { BenchProcess, type MemoryReading } from './support/bench-process.js';
import { DirectClient, SocketIoRelayClient, WsRelayClient, type RelayClient, type TextSink, type TurnTimes } from './support/relay-clients.js';
import { within } from './support/within.js';

export interface RelayKnobs {
  /** One-at-a-time turns per peer. BENCH_ROUNDS @default 40 (--quick 10) */
  rounds: number;
  /** Idle signed-in sockets added over the readings (half as many are opened first). BENCH_SOCKETS @default 2000 (--quick 600) */
  idleSockets: number;
  /** Concurrent streams, one run each. BENCH_STREAMS @default "200,1000" (--quick "50,200") */
  streams: number[];
  /** Tokens per answer when streams are measured for CPU. BENCH_ANSWER_TOKENS @default 18 */
  answerTokens: number;
  /** Runs of each CPU measurement per peer. BENCH_BURST_ROUNDS @default 3 (--quick 1) */
  burstRounds: number;
  /** Tokens per paced answer: long enough for a steady state after the starts. BENCH_PACED_TOKENS @default 150 (--quick 60) */
  pacedTokens: number;
  /** Runs of each paced measurement per peer; the report gives the median run's figures. BENCH_PACED_RUNS @default 3 (--quick 1) */
  pacedRuns: number;
  /** Interval between a paced answer's tokens, ms (20 = 50 tokens/s). BENCH_TOKEN_MS @default 20 */
  tokenMs: number;
  /** Tokens of the long answer. BENCH_LONG_TOKENS @default 20000 (--quick 2000) */
  longTokens: number;
  /**
   * A directory for CPU profiles of each server under the first run of each load (`<server>-<load>.cpuprofile`), taken
   * through its inspector; the CPU figures of those runs then include the profiler's own cost. BENCH_CPU_PROFILE
   * @default undefined (no profiles)
   */
  profileDir?: string | undefined;
}

export function relayKnobs(quick: boolean): RelayKnobs {
  const env = (name: string, full: number, fast: number) => Number(process.env[name] ?? (quick ? fast : full));
  return {
    rounds: env('BENCH_ROUNDS', 40, 10),
    idleSockets: env('BENCH_SOCKETS', 2000, 600),
    streams: (process.env.BENCH_STREAMS ?? (quick ? '50,200' : '200,1000')).split(',').map(Number),
    answerTokens: env('BENCH_ANSWER_TOKENS', 18, 18),
    burstRounds: env('BENCH_BURST_ROUNDS', 3, 1),
    pacedTokens: env('BENCH_PACED_TOKENS', 150, 60),
    pacedRuns: env('BENCH_PACED_RUNS', 3, 1),
    tokenMs: env('BENCH_TOKEN_MS', 20, 20),
    longTokens: env('BENCH_LONG_TOKENS', 20_000, 2_000),
    profileDir: process.env.BENCH_CPU_PROFILE,
  };
}

export function relayKnobsText(k: RelayKnobs): string {
  return `BENCH_ROUNDS=${k.rounds}, BENCH_SOCKETS=${k.idleSockets}, BENCH_STREAMS=${k.streams.join(',')}, BENCH_ANSWER_TOKENS=${k.answerTokens}, BENCH_BURST_ROUNDS=${k.burstRounds}, BENCH_PACED_TOKENS=${k.pacedTokens}, BENCH_PACED_RUNS=${k.pacedRuns}, BENCH_TOKEN_MS=${k.tokenMs}, BENCH_LONG_TOKENS=${k.longTokens}${k.profileDir ? `, BENCH_CPU_PROFILE=${k.profileDir}` : ''}`;
}

const PeerKey = { Runtime: 'runtime', Uws: 'uws', SocketIo: 'socketio' } as const;
type PeerKey = (typeof PeerKey)[keyof typeof PeerKey];

interface Peer {
  key: PeerKey;
  label: string;
  server: BenchProcess;
  connect(email: string): Promise<RelayClient>;
  /** Signed-in sockets held open from the idle phase on; the stream phases use the first ones. */
  sockets: RelayClient[];
  probe: RelayClient;
}

/** One load on one peer (or the client alone): what its turns saw and what each process spent. */
interface LoadRun {
  turns: TurnTimes[];
  /** Tokens the turns were answered with, all told. */
  tokens: number;
  /** Per-token trip from the fake's write to the client, µs, in the steady state (paced runs only). */
  latencies: number[];
  /** How long the steady state lasted, ms. */
  steadyMs: number;
  serverCpuUs: number;
  /** The server's CPU over the wall time: the share of its one JS thread's core it used. */
  serverBusy: number;
  /** The fake's, this process's and the server's CPU over the wall time and the cores. */
  busy: number;
  wallMs: number;
}

const FAKE = fileURLToPath(new URL('./peers/fake-ollama-process.ts', import.meta.url));
const UWS_RELAY = fileURLToPath(new URL('./peers/bare-uws-relay.ts', import.meta.url));
const SOCKETIO_RELAY = fileURLToPath(new URL('./peers/socketio-relay.ts', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const RELAY_READY = /relay listening on port (\d+)/;
const RUNTIME_READY = /HTTP server listening on [^:]+:(\d+)/;
/** Sockets opened at once while the idle ones are made: a server's accept queue and sign-in are not what is measured. */
const OPEN_BATCH = 100;
/** A turn in a phase of hundreds at once on a busy 2-core machine may take long; past this it has failed. */
const TURN_TIMEOUT_MS = 120_000;
/** A long answer: at most this long. */
const LONG_TIMEOUT_MS = 300_000;
const WARM_TURNS = 5;
/** Idle sockets are added in this many steps, the memory read after each. */
const IDLE_STEPS = 4;
const CPU_SETTLE_MS = 100;
/** Conversations do not all start in the same 20 ms: the paced streams' starts are spread over this. */
const START_SPREAD_MS = 500;
const WARM_BURST = 20;
const STAMP = /@(\d+)/g;
/** What a paced run's client sends: the prompt of every turn (the fake's script decides the answer). */
const PROMPT = 'hi';

const tokensOf = (n: number) => Array.from({ length: n }, (_, i) => ` w${i}`);
const charsOf = (tokens: string[]) => tokens.reduce((n, t) => n + t.length, 0);
const sorted = (xs: readonly number[]) => Float64Array.from(xs).sort();
const quantile = (xs: Float64Array, q: number) => (xs.length === 0 ? Number.NaN : xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!);
const median = (xs: readonly number[]) => quantile(sorted(xs), 0.5);
/** The least-squares slope of y over x. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxy / sxx;
}

async function openSockets(peer: Peer, from: number, count: number): Promise<RelayClient[]> {
  const opened: RelayClient[] = [];
  for (let i = 0; i < count; i += OPEN_BATCH) {
    const batch = Array.from({ length: Math.min(OPEN_BATCH, count - i) }, (_, j) => peer.connect(`${peer.key}-idle${from + i + j}@bench.example`));
    opened.push(...(await Promise.all(batch)));
  }
  return opened;
}

/** One turn on each client at once, client `i`'s after `delayOf(i)` ms; `profile`: a CPU profile of the server to write. */
async function load(
  server: BenchProcess | undefined,
  fake: BenchProcess,
  clients: readonly RelayClient[],
  script: { tokens: string[]; paced: boolean },
  { delayOf = () => 0, profile }: { delayOf?: (i: number) => number; profile?: string | undefined } = {},
): Promise<LoadRun> {
  if (profile !== undefined) await server?.startProfile();
  // Each token's arrival (`performance.now()`) and trip (µs), until the steady state is known.
  const arrivals: number[] = [];
  const trips: number[] = [];
  const expectedChars = charsOf(script.tokens);
  const before = { server: (await server?.cpuMicros()) ?? 0, fake: await fake.cpuMicros(), self: process.cpuUsage(), at: performance.now() };
  const turns = await Promise.all(
    clients.map(async (client, i) => {
      const wait = delayOf(i);
      if (wait > 0) await sleep(wait);
      let stamps = 0;
      // The stamps ride in the text: what a token's trip took is read off the text as it arrives.
      const sink: TextSink | undefined = script.paced
        ? (text) => {
            const now = machineMicros();
            const at = performance.now();
            for (const match of text.matchAll(STAMP)) {
              arrivals.push(at);
              trips.push(now - Number(match[1]));
              stamps += 1;
            }
          }
        : undefined;
      const times = await client.chat(PROMPT, sink, TURN_TIMEOUT_MS);
      const complete = script.paced ? stamps === script.tokens.length : times.chars === expectedChars;
      if (!complete) throw new Error(`a turn ended incomplete: ${script.paced ? `${stamps} of ${script.tokens.length} tokens` : `${times.chars} of ${expectedChars} characters`}`);
      return times;
    }),
  );
  const wallMs = performance.now() - before.at;
  // What a server does just after the last answer (a batched write, a flush) belongs to this load, not to the next.
  await sleep(CPU_SETTLE_MS);
  const windowMs = performance.now() - before.at;
  const serverCpuUs = server === undefined ? 0 : (await server.cpuMicros()) - before.server;
  if (profile !== undefined) await server?.stopProfile(profile);
  const self = process.cpuUsage(before.self);
  const allCpuUs = serverCpuUs + ((await fake.cpuMicros()) - before.fake) + self.user + self.system;
  const steadyFrom = Math.max(...turns.map((t) => t.firstChunkAt));
  const steadyTo = Math.min(...turns.map((t) => t.doneAt));
  const latencies = trips.filter((_, i) => arrivals[i]! >= steadyFrom && arrivals[i]! <= steadyTo);
  return { turns, tokens: turns.length * script.tokens.length, latencies, steadyMs: Math.max(0, steadyTo - steadyFrom), serverCpuUs, serverBusy: serverCpuUs / (windowMs * 1000), busy: allCpuUs / (windowMs * 1000 * cpus().length), wallMs };
}

async function startPeers(ollamaUrl: string, dir: string): Promise<Peer[]> {
  const peers: Peer[] = [];
  const started = async (key: PeerKey, label: string, server: Promise<BenchProcess>, connect: (port: number, email: string) => Promise<RelayClient>) => {
    const process = await server;
    const peer: Peer = { key, label, server: process, connect: (email) => connect(process.port, email), sockets: [], probe: undefined as unknown as RelayClient };
    peers.push(peer);
    peer.probe = await peer.connect(`${key}-probe@bench.example`);
  };
  const ws = (port: number, path: string) => (email: string) => WsRelayClient.connect(`ws://127.0.0.1:${port}${path}`, email);
  // One after another: three start-ups at once on two cores would time out on a busy machine.
  try {
    await started(PeerKey.Uws, 'bare uWS relay', BenchProcess.start({ name: 'the bare uWS relay', args: [UWS_RELAY, ollamaUrl], ready: RELAY_READY, inspect: true }), (port, email) =>
      ws(port, '/ws')(email),
    );
    await started(PeerKey.SocketIo, 'Socket.IO relay', BenchProcess.start({ name: 'the Socket.IO relay', args: [SOCKETIO_RELAY, ollamaUrl], ready: RELAY_READY, inspect: true }), (port, email) =>
      SocketIoRelayClient.connect(`http://127.0.0.1:${port}`, email),
    );
    await started(
      PeerKey.Runtime,
      'runtime',
      BenchProcess.start({ name: 'the runtime', args: [MAIN, '--config', writeBareConfig(dir, ollamaUrl)], ready: RUNTIME_READY, inspect: true }),
      (port, email) => ws(port, '/ws')(email),
    );
  } catch (error) {
    await closePeers(peers);
    throw error;
  }
  return peers;
}

async function closePeers(peers: readonly Peer[]): Promise<void> {
  for (const peer of peers) {
    for (const socket of peer.sockets) socket.close();
    peer.probe?.close();
    await peer.server.close();
  }
}

interface PeerResults {
  sequential: TurnTimes[];
  long: LoadRun;
  /** Memory readings with the number of idle sockets open at each. */
  idle: Array<{ sockets: number; memory: MemoryReading }>;
  burst: Map<number, LoadRun[]>;
  paced: Map<number, LoadRun[]>;
}

export interface RelaySummary {
  /** Runtime / bare uWS relay, server CPU per chunk, at the first `streams` count, as fast as the fake sends. */
  cpuRatio: number;
  streamsForRatio: number;
  /** The paced load's, at the same count. */
  pacedCpuRatio: number;
  /** RSS per idle signed-in socket. */
  runtimeIdleKiB: number;
  bareIdleKiB: number;
  /** One long answer's wall time, the runtime's over the client alone's. */
  longAnswerRatio: number;
  /** The runtime's median time to first chunk, one turn at a time, minus the client alone's, ms. */
  ttfcAddedMs: number;
  /** The runtime's per-token latency p99 minus the client alone's, at the last `streams` count, ms. */
  p99AddedMs: number;
  streamsForP99: number;
}

export async function relayPeers(knobs: RelayKnobs, progress: (line: string) => void = () => undefined): Promise<{ lines: string[]; summary: RelaySummary }> {
  const fake = await BenchProcess.start({ name: 'the fake Ollama', args: [FAKE], ready: /fake Ollama listening on port (\d+)/ });
  const dir = mkdtempSync(join(tmpdir(), 'ai-runtime-bench-peers-'));
  const ollamaUrl = `http://127.0.0.1:${fake.port}`;
  const direct = new DirectClient(new Ollama({ host: ollamaUrl }));
  const script = async (s: ChatScript) => {
    const reply = await fake.request(`script ${JSON.stringify(s)}`);
    if (reply !== 'ok') throw new Error(`the fake Ollama refused the script: ${JSON.stringify(reply)}`);
  };
  let peers: Peer[] = [];
  try {
    peers = await startPeers(ollamaUrl, dir);
    const results = new Map<Column, PeerResults>();
    for (const key of ['direct', ...peers.map((p) => p.key)] as const) results.set(key, { sequential: [], long: undefined as unknown as LoadRun, idle: [], burst: new Map(), paced: new Map() });
    const get = (key: Column) => results.get(key)!;

    progress('relay: warm-up');
    const short = tokensOf(20);
    await script({ tokens: short });
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
    return report(knobs, peers, get);
  } finally {
    await closePeers(peers);
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type Column = PeerKey | 'direct';
const COLUMNS: readonly Column[] = ['direct', PeerKey.Uws, PeerKey.SocketIo, PeerKey.Runtime];
const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const ms = (x: number) => f(x, 2);
const cpuPerChunk = (runs: readonly LoadRun[]) => runs.reduce((n, r) => n + r.serverCpuUs, 0) / runs.reduce((n, r) => n + r.tokens, 0);
const firstChunkMs = (turns: readonly TurnTimes[]) => sorted(turns.map((t) => t.firstChunkAt - t.sentAt));

function report(knobs: RelayKnobs, peers: readonly Peer[], get: (key: Column) => PeerResults): { lines: string[]; summary: RelaySummary } {
  const label = (key: Column) => (key === 'direct' ? '`ollama` client alone' : peers.find((p) => p.key === key)!.label);
  /** A row: one cell per column, and the runtime / bare relay ratio of `ratioOf` when given. */
  const line = (name: string, cell: (key: Column) => string, ratioOf?: (key: PeerKey) => number) => {
    // A ratio to a bare relay's figure at or below zero (an idle slope lost in the noise) would mean nothing.
    const bare = ratioOf?.(PeerKey.Uws) ?? Number.NaN;
    const r = bare > 0 ? ratioOf!(PeerKey.Runtime) / bare : Number.NaN;
    return `| ${name} | ${COLUMNS.map(cell).join(' | ')} | ${Number.isFinite(r) ? `${r.toFixed(2)}×` : ''} |`;
  };
  /** A value the servers have and the client alone has not. */
  const servers = (value: (key: PeerKey) => number, show: (x: number) => string = f) => (key: Column) => (key === 'direct' ? '' : show(value(key)));
  /** A value every column has, shown with what it adds over the client alone. */
  const overClient = (value: (key: Column) => number, show: (x: number) => string = ms) => (key: Column) =>
    key === 'direct' ? show(value(key)) : `${show(value(key))} (+${ms(value(key) - value('direct'))})`;
  const idleKiB = (key: PeerKey, field: keyof MemoryReading) => slope(get(key).idle.map((r) => [r.sockets, r.memory[field]] as const)) / 1024;
  const rate = `${1000 / knobs.tokenMs} tokens/s`;
  const sequentialFirst = (q: number) => (key: Column) => quantile(firstChunkMs(get(key).sequential), q);
  const whole = (key: Column) => median(get(key).sequential.map((t) => t.doneAt - t.sentAt));
  const longWall = (key: Column) => (get(key).long.wallMs * 1000) / get(key).long.tokens;
  /** A paced figure: the median over the runs (one run's hiccup on a shared machine is not the server's tail). */
  const pacedMedian = (streams: number, value: (run: LoadRun) => number) => (key: Column) => median(get(key).paced.get(streams)!.map(value));
  const latency = (streams: number, q: number) => pacedMedian(streams, (run) => quantile(sorted(run.latencies), q) / 1000);
  const pacedFirst = (streams: number, q: number) => pacedMedian(streams, (run) => quantile(firstChunkMs(run.turns), q));
  const burstCpu = (streams: number) => (key: PeerKey) => cpuPerChunk(get(key).burst.get(streams)!);
  const pacedCpu = (streams: number) => (key: PeerKey) => cpuPerChunk(get(key).paced.get(streams)!);
  const bold = (show: (x: number) => string) => (x: number) => `**${show(x)}**`;

  const rows = [
    line('idle signed-in socket: RSS, KiB', servers((key) => idleKiB(key, 'rss'), (x) => f(x, 2)), (key) => idleKiB(key, 'rss')),
    line('idle signed-in socket: JS heap, KiB', servers((key) => idleKiB(key, 'heapUsed'), (x) => f(x, 2))),
    ...knobs.streams.map((n) => line(`**server CPU per chunk, µs: ${n} streams, ${knobs.answerTokens}-token answers as fast as they come**`, servers(burstCpu(n), bold(f)), burstCpu(n))),
    ...knobs.streams.map((n) => line(`server CPU per chunk, µs: ${n} streams at ${rate}`, servers(pacedCpu(n)), pacedCpu(n))),
    line(`one ${knobs.longTokens}-token answer: µs per token, wall`, overClient(longWall, f), longWall),
    line(`one ${knobs.longTokens}-token answer: server CPU µs per token`, servers((key) => cpuPerChunk([get(key).long])), (key) => cpuPerChunk([get(key).long])),
    line('**time to first chunk, one turn at a time: median ms**', overClient(sequentialFirst(0.5), bold(ms)), sequentialFirst(0.5)),
    line('… p95 ms', overClient(sequentialFirst(0.95)), sequentialFirst(0.95)),
    line('whole 20-token answer, one turn at a time: median ms', overClient(whole), whole),
    ...knobs.streams.flatMap((n) => [
      line(`**per-token latency p99, ms: ${n} streams at ${rate}**`, overClient(latency(n, 0.99), bold(ms)), latency(n, 0.99)),
      line('… p50 ms', overClient(latency(n, 0.5)), latency(n, 0.5)),
      line('… time to first chunk, median / p99 ms', (key) => `${ms(pacedFirst(n, 0.5)(key))} / ${ms(pacedFirst(n, 0.99)(key))}`, pacedFirst(n, 0.5)),
      line('… steady state: ms, tokens in it', (key) => `${f(pacedMedian(n, (run) => run.steadyMs)(key), 0)}, ${f(pacedMedian(n, (run) => run.latencies.length)(key), 0)}`),
      line('… CPU busy: server (of one core) / machine (server + fake + clients, of all)', (key) => {
        const server = key === 'direct' ? '–' : `${f(pacedMedian(n, (run) => run.serverBusy * 100)(key), 0)} %`;
        return `${server} / ${f(pacedMedian(n, (run) => run.busy * 100)(key), 0)} %`;
      }),
    ]),
  ];

  const first = knobs.streams[0]!;
  const last = knobs.streams[knobs.streams.length - 1]!;
  const summary: RelaySummary = {
    cpuRatio: burstCpu(first)(PeerKey.Runtime) / burstCpu(first)(PeerKey.Uws),
    pacedCpuRatio: pacedCpu(first)(PeerKey.Runtime) / pacedCpu(first)(PeerKey.Uws),
    streamsForRatio: first,
    runtimeIdleKiB: idleKiB(PeerKey.Runtime, 'rss'),
    bareIdleKiB: idleKiB(PeerKey.Uws, 'rss'),
    longAnswerRatio: longWall(PeerKey.Runtime) / longWall('direct'),
    ttfcAddedMs: sequentialFirst(0.5)(PeerKey.Runtime) - sequentialFirst(0.5)('direct'),
    p99AddedMs: latency(last, 0.99)(PeerKey.Runtime) - latency(last, 0.99)('direct'),
    streamsForP99: last,
  };
  return {
    summary,
    lines: [
      '### Relay peers (issue 15): the runtime, a bare uWS relay and a Socket.IO relay on the same load',
      '',
      `Each server in a process of its own on loopback, all on one fake Ollama in another process, the clients in the benchmark's. ${(knobs.idleSockets * 3) / 2} signed-in sockets are held open on each server from the idle readings on; the streams run on the first of them. **CPU** is the server process's own (user + system, all threads), divided by the tokens it relayed. **Idle** is the RSS and JS heap slope (least squares over ${IDLE_STEPS + 1} readings, each after a full GC) as ${knobs.idleSockets} more signed-in sockets open. **Per-token latency** is from the fake's write of a token (stamped in it) to its client, counted while every stream is running (the steady state), the starts spread over ${START_SPREAD_MS} ms, the median of ${knobs.pacedRuns} run(s); "(+…)" is over the \`ollama\` client alone on the same load, and the last column the runtime / bare uWS ratio.`,
      '',
      `| | ${COLUMNS.map(label).join(' | ')} | runtime / bare |`,
      `|---|${COLUMNS.map(() => '---|').join('')}---|`,
      ...rows,
      '',
    ],
  };
}
