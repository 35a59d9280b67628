/**
 * The fake Ollama (`tests/support/fake-ollama.ts`) in a process of its own, for the relay benchmark: the relays under
 * test then share one upstream, and none of them pays for its CPU. It prints `fake Ollama listening on port <n>`.
 *
 * One request a line on stdin, one `{"reply":…}` line on stdout, in order:
 * - `script <ChatScript JSON>`: every chat request from now on gets this script (`{"reply":"ok"}`);
 * - anything failing: `{"reply":{"error":"…"}}`.
 * It exits when stdin ends or its parent (`AI_RUNTIME_PARENT_PID`) is gone.
 */
import { createInterface } from 'node:readline';
import { PARENT_PID_ENV, watchParent } from '../../src/embedded/parent-watch.js';
import { errorMessage } from '../../src/errors.js';
import { FakeOllama, type ChatScript } from '../../tests/support/fake-ollama.js';

const fake = await FakeOllama.start();
let script: ChatScript = { tokens: ['Hello'] };
fake.setResponder(() => script);

function handle(line: string): unknown {
  const space = line.indexOf(' ');
  const command = space === -1 ? line : line.slice(0, space);
  if (command !== 'script') throw new Error(`unknown request ${JSON.stringify(command)}`);
  script = JSON.parse(line.slice(space + 1)) as ChatScript;
  // What the fake records of each request would grow for the whole run.
  fake.requests.length = 0;
  return 'ok';
}

if (!watchParent(() => process.kill(process.pid, 'SIGKILL'))) {
  process.stderr.write(`${PARENT_PID_ENV} is not set: nothing would stop this process with the benchmark\n`);
  process.exit(2);
}
createInterface({ input: process.stdin }).on('line', (line) => {
  let reply: unknown;
  try {
    reply = handle(line.trim());
  } catch (error) {
    reply = { error: errorMessage(error) };
  }
  process.stdout.write(`${JSON.stringify({ reply })}\n`);
});
process.stdout.write(`fake Ollama listening on port ${fake.port}\n`);
