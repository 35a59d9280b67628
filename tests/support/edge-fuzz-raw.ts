/**
 * Requests no HTTP client library would send, written byte by byte for `edge-fuzz.test.ts`. Most must get a status
 * line; `mayClose` marks the few where closing without one is what the server may do (the client left mid-request,
 * or uWS's parser refuses the request outright).
 */
export interface RawCase {
  name: string;
  request: string | Buffer;
  mayClose: boolean;
  /** Half-close after sending: the client says it has nothing more to send. */
  halfClose?: boolean;
}

/** Copies of each shape, with a varying path, so a shape that fails only sometimes still shows up. */
const COPIES = 16;

const shapes: ((i: number) => Omit<RawCase, 'request'> & { request: string | Buffer })[] = [
  (i) => ({ name: 'garbage request line', request: `GARBAGE ${i}\r\n\r\n`, mayClose: false }),
  (i) => ({ name: 'binary', request: Buffer.from([0, 1, 2, 0xff, 0xfe, i, 13, 10, 13, 10]), mayClose: false }),
  (i) => ({ name: 'HTTP/1.0', request: `GET /health?${i} HTTP/1.0\r\n\r\n`, mayClose: false }),
  // RFC 9112 asks for a 400 here; uWS's parser never answers (no handler of ours runs), and closes when the client does.
  (i) => ({ name: 'HTTP/1.1 without Host', request: `GET /health?${i} HTTP/1.1\r\n\r\n`, mayClose: true, halfClose: true }),
  (i) => ({ name: 'two Content-Lengths', request: `POST /api/webhooks/email?${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{}`, mayClose: false }),
  (i) => ({ name: 'bad chunk size', request: `POST /api/inspector/replay?${i} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, mayClose: false }),
  // The client stops sending and half-closes: nobody is left to answer.
  (i) => ({ name: 'truncated body, client gone', request: `POST /api/webhooks/email?${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"user_em`, mayClose: true, halfClose: true }),
  // "z" first: a hex digit right after the cut sequence would complete it ("%E0%A4%A" + "0" is valid).
  (i) => ({ name: 'malformed param, repeated XFF', request: `GET /api/inspector/conversations/%E0%A4%Az${i}/export HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: ,,\r\nConnection: close\r\n\r\n`, mayClose: false }),
  (i) => ({ name: 'headers over the parser limit', request: `GET /health?${i} HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(300_000)}\r\nConnection: close\r\n\r\n`, mayClose: false }),
  // What took `npm run worker`'s metrics server down (`new URL` throws on it); uWS reads the target without it.
  (i) => ({ name: 'target new URL cannot read', request: `GET //[${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, mayClose: false }),
  (i) => ({ name: 'NUL and spaces in path', request: `GET /a\u0000b c${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, mayClose: false }),
  // uWS sees no upgrade without a 24-character key: a plain GET, with no route.
  (i) => ({ name: 'upgrade without a key', request: `GET /ws?${i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`, mayClose: false, halfClose: true }),
  (i) => ({ name: 'plain GET on the socket path', request: `GET /ws?${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, mayClose: false }),
  // The same: uWS's parser waits, and closes when the client does.
  (i) => ({ name: 'header without a colon', request: `GET /health?${i} HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n`, mayClose: true, halfClose: true }),
];

export const RAW_CASES: readonly RawCase[] = shapes.flatMap((shape) => Array.from({ length: COPIES }, (_, i) => shape(i)));
