import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';

export type LogLine = { level: number; msg: string } & Record<string, unknown>;

/** A pino logger writing JSON lines into memory, as the runtime writes them to stdout, for tests to read back. */
export function captureLogs(level: Level = 'debug'): { logger: Logger; lines: LogLine[]; text: () => string; messages: () => string[] } {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  return { logger: pino({ level }, stream), lines, text: () => raw.join('\n'), messages: () => lines.map((l) => l.msg) };
}
