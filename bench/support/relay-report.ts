/** The relay benchmark's report: one table, a column per server (and the client alone), and its summary figures. */
import type { MemorySample } from '../../tests/support/inspected-process.js';
import type { TurnTimes } from './relay-clients.js';
import { IDLE_STEPS, START_SPREAD_MS, type RelayKnobs } from './relay-knobs.js';
import { median, quantile, sorted, stepSlope, type LoadRun } from './relay-load.js';

export const PeerKey = { Runtime: 'runtime', RuntimeTraced: 'runtime-traced', Uws: 'uws', SocketIo: 'socketio' } as const;
export type PeerKey = (typeof PeerKey)[keyof typeof PeerKey];

export type Column = PeerKey | 'direct';
const COLUMNS: readonly Column[] = ['direct', PeerKey.Uws, PeerKey.SocketIo, PeerKey.Runtime, PeerKey.RuntimeTraced];
/** What one column's measurements came to. */
export interface PeerResults {
  sequential: TurnTimes[];
  long: LoadRun;
  /** Memory readings with the number of idle sockets open at each. */
  idle: Array<{ sockets: number; memory: MemorySample }>;
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
  /** The runtime with traces exported over the one without, server CPU per chunk at `streamsForRatio`. */
  tracesCpuRatio: number;
  /** The runtime's signed-in sockets held at once at the end, and RSS per socket from the idle readings' count to there. */
  held: HeldSockets;
}

/** The last phase: the runtime alone, holding many signed-in sockets. */
export interface HeldSockets {
  /** Readings before and after the sockets were added. */
  before: { sockets: number; memory: MemorySample };
  after: { sockets: number; memory: MemorySample };
  /** A turn on the first and on the last socket opened, once all are held: ms to the whole answer. */
  firstTurnMs: number;
  lastTurnMs: number;
}

/** What the OTLP receiver got from the runtime with traces on. */
export interface ExportedTraces {
  requests: number;
  spansByName: ReadonlyMap<string, number>;
}

const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const ms = (x: number) => f(x, 2);
const cpuPerChunk = (runs: readonly LoadRun[]) => runs.reduce((n, r) => n + r.serverCpuUs, 0) / runs.reduce((n, r) => n + r.tokens, 0);
const firstChunkMs = (turns: readonly TurnTimes[]) => sorted(turns.map((t) => t.firstChunkAt - t.sentAt));

export function relayReport(
  knobs: RelayKnobs,
  labels: ReadonlyMap<PeerKey, string>,
  get: (key: Column) => PeerResults,
  traces: ExportedTraces,
  held: HeldSockets,
): { lines: string[]; summary: RelaySummary } {
  const label = (key: Column) => (key === 'direct' ? '`ollama` client alone' : labels.get(key)!);
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
  const idleKiB = (key: PeerKey, field: keyof MemorySample) => stepSlope(get(key).idle.map((r) => [r.sockets, r.memory[field]] as const)) / 1024;
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
  /** The runs' least and greatest p99, when there were several: how far one run's tail is from another's. */
  const spread = (streams: number, key: Column) => {
    const p99s = get(key).paced.get(streams)!.map((run) => quantile(sorted(run.latencies), 0.99) / 1000);
    return p99s.length < 2 ? '' : ` [${ms(Math.min(...p99s))}–${ms(Math.max(...p99s))}]`;
  };

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
      line(`**per-token latency p99, ms: ${n} streams at ${rate}**`, (key) => `${overClient(latency(n, 0.99), bold(ms))(key)}${spread(n, key)}`, latency(n, 0.99)),
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
    tracesCpuRatio: burstCpu(first)(PeerKey.RuntimeTraced) / burstCpu(first)(PeerKey.Runtime),
    held,
  };
  const tracesRatio = (value: (key: PeerKey) => number) => `${(value(PeerKey.RuntimeTraced) / value(PeerKey.Runtime)).toFixed(2)}×`;
  const spanCounts = [...traces.spansByName].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${n} \`${name}\``);
  const heldKiB = (field: keyof MemorySample) => (held.after.memory[field] - held.before.memory[field]) / (held.after.sockets - held.before.sockets) / 1024;
  return {
    summary,
    lines: [
      '### Relay peers (issue 15): the runtime, a bare uWS relay and a Socket.IO relay on the same load',
      '',
      `Each server in a process of its own on loopback, all on one fake Ollama in another process, the clients in the benchmark's. ${(knobs.idleSockets * 3) / 2} signed-in sockets are held open on each server from the idle readings on; the streams run on the first of them. **CPU** is the server process's own (user + system, all threads), divided by the tokens it relayed. **Idle** is the RSS and JS heap growth per socket as ${knobs.idleSockets} more signed-in sockets open in ${IDLE_STEPS} steps (the median step; each reading after a full GC). **Per-token latency** is from the fake's write of a token (stamped in it) to its client, counted while every stream is running (the steady state), the starts spread over ${START_SPREAD_MS} ms, the median of ${knobs.pacedRuns} run(s) (p99: [the least–the greatest run]); "(+…)" is over the \`ollama\` client alone on the same load, and the last column the runtime / bare uWS ratio.`,
      '',
      `| | ${COLUMNS.map(label).join(' | ')} | runtime / bare |`,
      `|---|${COLUMNS.map(() => '---|').join('')}---|`,
      ...rows,
      '',
      `**Traces on ÷ off** (the runtime exporting every turn's spans over OTLP/HTTP protobuf to a receiver in the benchmark's process, against the runtime with no \`OTEL_*\` variable): server CPU per chunk ${knobs.streams.map((n) => `${tracesRatio(burstCpu(n))} at ${n} streams`).join(', ')}; ${tracesRatio(pacedCpu(first))} paced at ${first}; time to first chunk median ${ms(sequentialFirst(0.5)(PeerKey.RuntimeTraced))} vs ${ms(sequentialFirst(0.5)(PeerKey.Runtime))} ms. By the end of the paced streams the receiver had ${traces.requests} export requests (the batch processor sends every 5 s): ${spanCounts.join(', ') || 'no span'}. Off, each span site checks \`tracing.enabled\` and runs its work as is (no span, no context), and the LLM client is not wrapped: a token costs no extra step.`,
      '',
      `**Held at once** (the runtime alone, after the other servers' sockets closed): ${held.after.sockets} signed-in sockets (${held.after.sockets - held.before.sockets} opened after the idle readings' ${held.before.sockets}): RSS ${f(held.after.memory.rss / 2 ** 20)} MiB, JS heap ${f(held.after.memory.heapUsed / 2 ** 20)} MiB; ${f(heldKiB('rss'), 2)} KiB RSS and ${f(heldKiB('heapUsed'), 2)} KiB heap per socket over that span. Then a whole ${knobs.answerTokens}-token answer on the first socket in ${ms(held.firstTurnMs)} ms and on the last in ${ms(held.lastTurnMs)} ms.`,
      '',
    ],
  };
}
