/**
 * The floor the runtime is measured against (issue 15): a bare uWebSockets.js relay. A socket signs in with
 * `{"type":"auth","email":…}` (answered `auth_success`, nothing checked); each `{"type":"chat","message":…}` is one
 * `ollama.chat` stream, each chunk one `ws.send` of `{"type":"chunk","text":…}`, then `{"type":"done"}`. Nothing else:
 * no conversation, no history, no storage, no limits, no corking. The same frames as the runtime's, so that one client
 * drives both.
 *
 * `npx tsx bench/peers/bare-uws-relay.ts <ollama url>`; prints `relay listening on port <n>`; exits when its parent
 * (`AI_RUNTIME_PARENT_PID`) is gone.
 */
import { Ollama } from 'ollama';
import uWS from 'uWebSockets.js';
import { PARENT_PID_ENV, watchParent } from '../../src/embedded/parent-watch.js';
import { errorMessage } from '../../src/errors.js';
import { BENCH_MODEL, type PeerRequest } from './peer-wire.js';

interface SocketData {
  email?: string;
  closed: boolean;
}

const ollamaUrl = process.argv[2];
if (!ollamaUrl) throw new Error('usage: bare-uws-relay.ts <ollama url>');
const ollama = new Ollama({ host: ollamaUrl });

async function relay(ws: uWS.WebSocket<SocketData>, content: string): Promise<void> {
  const data = ws.getUserData();
  const stream = await ollama.chat({ model: BENCH_MODEL, messages: [{ role: 'user', content }], stream: true });
  for await (const part of stream) {
    // A closed uWS socket must not be touched again.
    if (data.closed) return stream.abort();
    if (part.message.content) ws.send(JSON.stringify({ type: 'chunk', text: part.message.content }));
  }
  if (!data.closed) ws.send('{"type":"done"}');
}

uWS
  .App()
  .ws<SocketData>('/ws', {
    compression: uWS.DISABLED,
    open: (ws) => {
      ws.getUserData().closed = false;
    },
    message: (ws, message) => {
      const request = JSON.parse(Buffer.from(message).toString('utf8')) as PeerRequest;
      const data = ws.getUserData();
      if (request.type === 'auth') {
        data.email = request.email;
        ws.send(JSON.stringify({ type: 'auth_success', email: request.email }));
      } else if (request.type === 'chat' && data.email !== undefined) {
        relay(ws, request.message).catch((error: unknown) => {
          if (!data.closed) ws.send(JSON.stringify({ type: 'error', message: errorMessage(error) }));
        });
      }
    },
    close: (ws) => {
      ws.getUserData().closed = true;
    },
  })
  .listen('127.0.0.1', 0, (listenSocket) => {
    if (!listenSocket) throw new Error('the bare uWS relay could not listen');
    process.stdout.write(`relay listening on port ${uWS.us_socket_local_port(listenSocket)}\n`);
  });

if (!watchParent(() => process.kill(process.pid, 'SIGKILL'))) {
  process.stderr.write(`${PARENT_PID_ENV} is not set: nothing would stop this process with the benchmark\n`);
  process.exit(2);
}
