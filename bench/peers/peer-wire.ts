/** What the benchmark's clients send the peer relays (and the runtime): the runtime's own `auth` and `chat` frames. */
export type PeerRequest = { type: 'auth'; email: string } | { type: 'chat'; message: string };

/** The model every relay asks the fake Ollama for: the runtime's default, so that all send the same request. */
export const BENCH_MODEL = 'llama3.1:8b';
