import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout (or `destination`: stderr where stdout is a protocol channel); pipe through `pino-pretty` for reading by eye. */
export function createLogger(level: string, name = 'ai-runtime', destination?: NodeJS.WritableStream): Logger {
  const options = { name, level, base: { pid: process.pid } };
  return destination ? pino(options, destination) : pino(options);
}
