import type { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';

/** A provider client's `fetch`: what the `ollama`, `openai` and `@anthropic-ai/sdk` packages take. */
export type ClientFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Read ahead of the client before the socket is paused: a few NDJSON or SSE chunks, never an unbounded backlog. */
const READ_AHEAD_BYTES = 64 * 1024;
/** Statuses whose response has no body, by the Fetch standard. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

function requestHeaders(headers: RequestInit['headers']): Record<string, string> | undefined {
  // Through `Headers`, as fetch does: names checked, repeated values joined.
  return headers === undefined ? undefined : Object.fromEntries(new Headers(headers));
}

function requestBody(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  // The provider clients send JSON text; a stream or form would need fetch's own body handling.
  throw new TypeError('dispatcherFetch sends only a string or bytes as a request body');
}

function responseHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

/**
 * The response body as the web stream a `Response` holds, pausing the socket once `READ_AHEAD_BYTES` wait unread. An
 * error mid-body reads as fetch's does: the signal's reason when it was aborted (the SDKs end a stream quietly on an
 * `AbortError`), else `TypeError: terminated` with the socket's error as its cause. Once the stream is closed, errored
 * or cancelled, whatever the socket still reports is dropped: the controller throws on a second ending, and a throw in
 * a socket listener would escape to the process.
 */
function webBody(body: Readable, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
  let over = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        body.on('data', (chunk: Buffer) => {
          if (over) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) body.pause();
        });
        body.on('end', () => {
          if (over) return;
          over = true;
          controller.close();
        });
        body.on('error', (cause) => {
          if (over) return;
          over = true;
          controller.error(signal?.aborted ? signal.reason : new TypeError('terminated', { cause }));
        });
      },
      pull() {
        body.resume();
      },
      cancel() {
        over = true;
        body.destroy();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: READ_AHEAD_BYTES }),
  );
}

/** Reads what is left (within undici's bound) so the connection can serve the next request, else closes it. */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.dump().catch(() => undefined);
}

/**
 * `fetch` over undici's `request` on one dispatcher (our keep-alive agent). Undici's `fetch` runs the whole Fetch
 * standard per request (Request, Headers and body objects, redirect and CORS steps): measured on 200 concurrent
 * 18-token Ollama streams, this costs half its client-side CPU a chunk (25 against 48 µs). What the provider clients
 * use of fetch is kept: status, headers, a web-stream body, an abort signal, `TypeError: fetch failed` when no response
 * came. Not kept, on purpose: redirects are not followed (a 3xx is the answer, and the client reports it as an error)
 * and nothing is decompressed (no `Accept-Encoding` is sent, so nothing comes compressed).
 */
export function dispatcherFetch(dispatcher: Dispatcher): ClientFetch {
  return async (input, init = {}) => {
    if (input instanceof Request) throw new TypeError('dispatcherFetch takes a URL, not a Request');
    const signal = init.signal ?? undefined;
    const options = { dispatcher, method: (init.method ?? 'GET') as Dispatcher.HttpMethod, headers: requestHeaders(init.headers), body: requestBody(init.body) };
    let response: Dispatcher.ResponseData;
    try {
      response = await request(input, signal ? { ...options, signal } : options);
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      throw new TypeError('fetch failed', { cause });
    }
    const { statusCode, headers, body } = response;
    try {
      const hasBody = !NULL_BODY_STATUSES.has(statusCode);
      if (!hasBody) discard(body);
      return new Response(hasBody ? webBody(body, signal) : null, { status: statusCode, headers: responseHeaders(headers) });
    } catch (cause) {
      // A status the Fetch standard refuses (below 200, above 599) or a header it cannot hold: no usable response.
      discard(body);
      throw new TypeError('fetch failed', { cause });
    }
  };
}
