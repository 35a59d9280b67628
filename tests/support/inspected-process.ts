/**
 * A Node process a test or the benchmark starts (the runtime, a relay under test, the fake Ollama): its CPU time and
 * memory are its own, read from outside (`/proc`), and through its V8 inspector when it has one (a forced full GC
 * before a memory reading, a CPU profile, a heap snapshot). Every one is stopped with its starter, whichever way that
 * ends: `close()`, an `exit` hook (SIGKILL), and a detached watcher for a starter that is itself killed
 * (`stopWhenTestProcessDies`).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { PARENT_PID_ENV } from '../../src/embedded/parent-watch.js';
import { InspectorSession } from './inspector-session.js';
import { stopWhenTestProcessDies } from './watchdog.js';
import { within } from './within.js';

export interface InspectedProcessOptions {
  /** For messages: "the runtime", "the bare uWS relay", … */
  name: string;
  /** Node arguments after the flags below: a script and its own arguments. */
  args: readonly string[];
  /** A line the process prints once it serves; its first group is the port. */
  ready: RegExp;
  /** Node's own flags, before the script (the runtime's, from `npm start`: see `start-flags.ts`). @default [] */
  nodeFlags?: readonly string[];
  /** Start with `--inspect=127.0.0.1:0`, so that `memory({ gc: true })` can force a full GC there. @default false */
  inspect?: boolean;
  /** How long the start may take. @default 30_000 */
  startTimeoutMs?: number;
  /** Its environment on top of this one's, which has no `OTEL_*` variables: a peer traces only when told here. */
  env?: Readonly<Record<string, string>>;
}

/** What the process holds, from its own `process.memoryUsage()` and the kernel's VmRSS. */
export interface MemorySample {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const INSPECTOR_URL = /Debugger listening on (ws:\/\/\S+)/;
/** V8 gives the pages a GC freed back from a background thread: the RSS is the least reading over this long. */
const SETTLE_MS = 500;
const SETTLE_STEP_MS = 50;
/** What a process gets to exit after SIGKILL before `close()` gives up waiting (it cannot refuse). */
const EXIT_WAIT_MS = 5_000;
/** Kept of a process's output, for the error when it fails. */
const OUTPUT_KEPT_CHARS = 8_000;

/** Clock ticks per second of `/proc/<pid>/stat`'s utime and stime. */
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The environment without the OpenTelemetry variables, which would turn a child's tracing on behind its starter's back. */
function withoutTracing(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('OTEL_')));
}

const live = new Set<ChildProcessWithoutNullStreams>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** The CPU time (user + system, all threads) a process has used so far, µs; `/proc`'s resolution is one tick (10 ms). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 (state): utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

export function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

export class InspectedProcess {
  private readonly replies: Array<(line: string) => void> = [];
  private closing: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcessWithoutNullStreams,
    readonly port: number,
    private readonly inspector: InspectorSession | undefined,
    private readonly log: { text: string },
  ) {
    // Replies to `request` are JSON lines on stdout; anything else there is the process's own log.
    createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('{"reply":') && this.replies.shift()?.(line));
  }

  static async start(options: InspectedProcessOptions): Promise<InspectedProcess> {
    const flags = [...(options.nodeFlags ?? []), ...(options.inspect === true ? ['--inspect=127.0.0.1:0'] : [])];
    const child = spawn(process.execPath, [...flags, '--import', 'tsx', ...options.args], {
      env: { ...withoutTracing(process.env), ...options.env, [PARENT_PID_ENV]: String(process.pid) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    if (child.pid !== undefined) stopWhenTestProcessDies(child.pid);
    // A write to a process that has died: its exit is what the caller sees.
    child.stdin.on('error', () => undefined);
    const log = { text: '' };
    const keep = (data: Buffer) => (log.text = `${log.text}${String(data)}`.slice(-OUTPUT_KEPT_CHARS));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise<never>((_, reject) => child.once('exit', (code, signal) => reject(new Error(`${options.name} exited (${code ?? signal}) before it served: ${log.text}`))));
    exited.catch(() => undefined);
    const seen = (pattern: RegExp) =>
      Promise.race([
        new Promise<string>((resolve) => {
          const check = () => {
            const match = pattern.exec(log.text);
            if (!match) return;
            child.stdout.off('data', check);
            child.stderr.off('data', check);
            resolve(match[1]!);
          };
          child.stdout.on('data', check);
          child.stderr.on('data', check);
          check();
        }),
        exited,
      ]);
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const late = () => `${options.name} did not serve: ${log.text}`;
    try {
      const inspectorUrl = options.inspect === true ? await within(seen(INSPECTOR_URL), timeoutMs, late) : undefined;
      const port = Number(await within(seen(options.ready), timeoutMs, late));
      const inspector = inspectorUrl === undefined ? undefined : await InspectorSession.connect(inspectorUrl);
      return new InspectedProcess(options.name, child, port, inspector, log);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The last few KiB the process printed. */
  get output(): string {
    return this.log.text;
  }

  /**
   * CPU time used so far, µs: the process's own `process.cpuUsage()` (every thread, µs resolution) when it has an
   * inspector, else `/proc`'s (10 ms resolution).
   */
  async cpuMicros(): Promise<number> {
    if (this.inspector === undefined) return cpuMicros(this.pid);
    const evaluated = (await this.inspector.call('Runtime.evaluate', { expression: 'JSON.stringify(process.cpuUsage())', returnByValue: true })) as { result: { value: string } };
    const usage = JSON.parse(evaluated.result.value) as { user: number; system: number };
    return usage.user + usage.system;
  }

  /**
   * `gc`: after a full GC forced through the inspector. V8 hands the pages it freed back to the kernel from a background
   * thread, after the collection (a reading right after it was up to 35 MiB above one 500 ms later): the RSS is then the
   * least of the readings over `SETTLE_MS`. The heap figures need the inspector; without one they are 0.
   */
  async memory({ gc }: { gc: boolean }): Promise<MemorySample> {
    const inspector = this.inspector;
    if (gc && inspector === undefined) throw new Error(`${this.name} was started without an inspector: no forced GC`);
    if (gc) await inspector!.call('HeapProfiler.collectGarbage');
    let usage: Omit<MemorySample, 'rss'> = { heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
    if (inspector !== undefined) {
      const evaluated = (await inspector.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
      const { heapTotal, heapUsed, external, arrayBuffers } = JSON.parse(evaluated.result.value) as MemorySample;
      usage = { heapTotal, heapUsed, external, arrayBuffers };
    }
    let rss = rssBytes(this.pid);
    for (let waited = 0; gc && waited < SETTLE_MS; waited += SETTLE_STEP_MS) {
      await sleep(SETTLE_STEP_MS);
      rss = Math.min(rss, rssBytes(this.pid));
    }
    return { rss, ...usage };
  }

  /** A heap snapshot (for Chrome DevTools' Memory tab) written to `file`. */
  async heapSnapshot(file: string): Promise<void> {
    if (this.inspector === undefined) throw new Error(`${this.name} was started without an inspector: no heap snapshot`);
    const out = createWriteStream(file);
    this.inspector.on('HeapProfiler.addHeapSnapshotChunk', (params) => out.write(params.chunk as string));
    await this.inspector.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    await new Promise((resolve) => out.end(resolve));
  }

  /** Starts V8's CPU profiler there (through the inspector); `stopProfile` writes what it sampled. */
  async startProfile(): Promise<void> {
    if (this.inspector === undefined) throw new Error(`${this.name} was started without an inspector: no profile`);
    await this.inspector.call('Profiler.enable');
    await this.inspector.call('Profiler.start');
  }

  /** Stops the profiler and writes its profile to `file` (`.cpuprofile`: Chrome DevTools' Performance tab opens it). */
  async stopProfile(file: string): Promise<void> {
    const { profile } = (await this.inspector!.call('Profiler.stop')) as { profile: unknown };
    await this.inspector!.call('Profiler.disable');
    writeFileSync(file, JSON.stringify(profile));
  }

  /** One request line on its stdin; resolves with the `reply` of the next `{"reply":…}` line on its stdout. */
  async request(line: string, timeoutMs = 10_000): Promise<unknown> {
    const reply = new Promise<string>((resolve) => this.replies.push(resolve));
    this.child.stdin.write(`${line}\n`);
    const text = await within(reply, timeoutMs, () => `${this.name} did not answer ${JSON.stringify(line.slice(0, 80))}: ${this.output}`);
    return (JSON.parse(text) as { reply: unknown }).reply;
  }

  /** SIGKILL (nothing here is worth a graceful stop), then waits for the exit; safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.inspector?.close();
      if (this.child.exitCode !== null || this.child.signalCode !== null) return;
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await Promise.race([exited, sleep(EXIT_WAIT_MS, undefined, { ref: false })]);
    })();
    return this.closing;
  }
}
