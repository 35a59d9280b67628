/** The relay benchmark's knobs (environment, `--quick` defaults) and the fixed shape of its loads. */

/** Idle sockets are added in this many steps, the memory read after each. */
export const IDLE_STEPS = 4;
/** Conversations do not all start in the same 20 ms: the paced streams' starts are spread over this. */
export const START_SPREAD_MS = 500;

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
  /** Signed-in sockets the runtime holds at once in the last phase. BENCH_HELD_SOCKETS @default 10000 (--quick 2000) */
  heldSockets: number;
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
    heldSockets: env('BENCH_HELD_SOCKETS', 10_000, 2_000),
    profileDir: process.env.BENCH_CPU_PROFILE,
  };
}

export function relayKnobsText(k: RelayKnobs): string {
  return `BENCH_ROUNDS=${k.rounds}, BENCH_SOCKETS=${k.idleSockets}, BENCH_STREAMS=${k.streams.join(',')}, BENCH_ANSWER_TOKENS=${k.answerTokens}, BENCH_BURST_ROUNDS=${k.burstRounds}, BENCH_PACED_TOKENS=${k.pacedTokens}, BENCH_PACED_RUNS=${k.pacedRuns}, BENCH_TOKEN_MS=${k.tokenMs}, BENCH_LONG_TOKENS=${k.longTokens}, BENCH_HELD_SOCKETS=${k.heldSockets}${k.profileDir ? `, BENCH_CPU_PROFILE=${k.profileDir}` : ''}`;
}
