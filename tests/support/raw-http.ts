import { connect } from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed the connection without a status line. */
  status: number;
  head: string;
  body: string;
}

/** Default wait for a raw answer. */
const RAW_TIMEOUT_MS = 5_000;

/**
 * Sends bytes as written (a request no HTTP client would send: repeated headers, broken encodings) on a fresh TCP
 * connection and reads until the server closes it. Send `Connection: close` to have it close after one answer;
 * `halfClose` ends our side once the bytes are written.
 */
export function rawRequest(port: number, request: string | Buffer, { timeoutMs = RAW_TIMEOUT_MS, halfClose = false }: { timeoutMs?: number; halfClose?: boolean } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body: split < 0 ? '' : text.slice(split + 4) });
    });
    socket.write(request);
    if (halfClose) socket.end();
  });
}
