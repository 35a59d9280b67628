/**
 * A Socket.IO 4 relay doing what the bare uWS relay does (`bare-uws-relay.ts`), the Socket.IO way: the `auth` event
 * signs a socket in (answered `auth_success`), each `chat` event is one `ollama.chat` stream, each chunk one `chunk`
 * event, then `done`. WebSocket transport only (no long-polling first), on Node's HTTP server with the default `ws`
 * engine, per-message deflate off (its default).
 *
 * `npx tsx bench/peers/socketio-relay.ts <ollama url>`; prints `relay listening on port <n>`; exits when its parent
 * (`AI_RUNTIME_PARENT_PID`) is gone.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ollama } from 'ollama';
import { Server, type Socket } from 'socket.io';
import { PARENT_PID_ENV, watchParent } from '../../src/embedded/parent-watch.js';
import { errorMessage } from '../../src/errors.js';
import { BENCH_MODEL } from './peer-wire.js';

const ollamaUrl = process.argv[2];
if (!ollamaUrl) throw new Error('usage: socketio-relay.ts <ollama url>');
const ollama = new Ollama({ host: ollamaUrl });

async function relay(socket: Socket, content: string): Promise<void> {
  const stream = await ollama.chat({ model: BENCH_MODEL, messages: [{ role: 'user', content }], stream: true });
  for await (const part of stream) {
    if (socket.disconnected) return stream.abort();
    if (part.message.content) socket.emit('chunk', part.message.content);
  }
  socket.emit('done');
}

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  socket.on('auth', (email: string) => {
    socket.data.email = email;
    socket.emit('auth_success', email);
  });
  socket.on('chat', (message: string) => {
    if (socket.data.email === undefined) return;
    relay(socket, message).catch((error: unknown) => socket.emit('relay_error', errorMessage(error)));
  });
});
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`relay listening on port ${(http.address() as AddressInfo).port}\n`);
});

if (!watchParent(() => process.kill(process.pid, 'SIGKILL'))) {
  process.stderr.write(`${PARENT_PID_ENV} is not set: nothing would stop this process with the benchmark\n`);
  process.exit(2);
}
