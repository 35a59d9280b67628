/**
 * One load of the relay benchmark: a turn on each of a set of clients at once, with what each process spent on it
 * (CPU through `InspectedProcess`) and, for paced answers with stamped tokens, every token's trip from the fake to its
 * client. Plus the statistics the report takes of them.
 */
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { machineMicros } from '../../tests/support/fake-ollama-wire.js';
import type { InspectedProcess } from '../../tests/support/inspected-process.js';
import type { RelayClient, TextSink, TurnTimes } from './relay-clients.js';

/** A turn in a phase of hundreds at once on a busy 2-core machine may take long; past this it has failed. */
export const TURN_TIMEOUT_MS = 120_000;
/** What every client sends: the prompt of every turn (the fake's script decides the answer). */
export const PROMPT = 'hi';
/** How long after a load's last answer its servers' CPU is still counted (see `load`). */
const CPU_SETTLE_MS = 100;
/** A token's stamp as the fake writes it (`stampTokens`). */
const STAMP = /@(\d+)/g;

/** One load on one peer (or the client alone): what its turns saw and what each process spent. */
export interface LoadRun {
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

export const tokensOf = (n: number) => Array.from({ length: n }, (_, i) => ` w${i}`);
const charsOf = (tokens: string[]) => tokens.reduce((n, t) => n + t.length, 0);
export const sorted = (xs: readonly number[]) => Float64Array.from(xs).sort();
export const quantile = (xs: Float64Array, q: number) => (xs.length === 0 ? Number.NaN : xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!);
export const median = (xs: readonly number[]) => quantile(sorted(xs), 0.5);
/**
 * How much y grows per x, as the median of the steps' slopes: a step in which a process hands back memory it freed
 * earlier (V8's memory reducer, malloc trimming; seen: −2.8 MiB in one step of the bare relay, against +0.06 in each
 * other) moves a least-squares slope a lot and the median of four steps hardly.
 */
export function stepSlope(points: ReadonlyArray<readonly [number, number]>): number {
  const slopes = sorted(points.slice(1).map(([x, y], i) => (y - points[i]![1]) / (x - points[i]![0])));
  const middle = slopes.length / 2;
  return slopes.length % 2 === 1 ? slopes[Math.floor(middle)]! : (slopes[middle - 1]! + slopes[middle]!) / 2;
}

/** One turn on each client at once, client `i`'s after `delayOf(i)` ms; `profile`: a CPU profile of the server to write. */
export async function load(
  server: InspectedProcess | undefined,
  fake: InspectedProcess,
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
