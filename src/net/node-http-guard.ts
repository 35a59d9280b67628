import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { HttpError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

export interface NodeHttpGuardOptions {
  logger: Logger;
  /** Names the server in its log lines: `mail HTTP`, `worker metrics`. */
  name: string;
  /** The body of a failure's answer, so that each server keeps its own error shape (JSON-RPC, `{status, message}`). */
  errorBody: (status: number, message: string) => unknown;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** The request target's path; a target `new URL` cannot read (`//[`, `http://[`) is the client's fault: 400. */
export function requestPath(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch (error) {
    throw new HttpError(400, 'malformed request URL', { cause: error });
  }
}

/**
 * Node turns an exception thrown by a request listener into an uncaught exception, which ends the process: one
 * malformed request would take the server down. The handler's throws and rejections become an answer instead: an
 * `HttpError` under 500 is the client's (its status, logged quietly), anything else is a bug (500, logged loudly).
 */
export function guardedListener(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void, { logger, name, errorBody }: NodeHttpGuardOptions): RequestListener {
  const fail = (res: ServerResponse, error: unknown) => {
    const clientFault = error instanceof HttpError && error.status < 500;
    if (clientFault) logger.debug({ err: errorMessage(error) }, `bad ${name} request`);
    else logger.error({ err: error }, `${name} request failed`);
    // Half an answer is already out: only a cut connection tells the client it is incomplete.
    if (res.headersSent) return void res.destroy();
    if (clientFault) return sendJson(res, error.status, errorBody(error.status, `Bad request: ${error.message}`), { Connection: 'close' });
    sendJson(res, 500, errorBody(500, `Internal error (see the ${name} server's log)`));
  };
  // An async wrapper: a synchronous throw becomes a rejection too.
  const run = async (req: IncomingMessage, res: ServerResponse) => handle(req, res);
  return (req, res) => {
    run(req, res).catch((error: unknown) => {
      try {
        fail(res, error);
      } catch (failure) {
        logger.error({ err: failure }, `${name} error reply failed`);
        res.destroy();
      }
    });
  };
}

/** Unparseable HTTP never reaches the handler: answer 400 and drop the socket (Node's default, plus a log line). */
export function answerClientErrors(http: Server, logger: Logger, name: string): void {
  http.on('clientError', (error, socket) => {
    logger.debug({ err: errorMessage(error) }, `malformed HTTP from a ${name} client`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
}
