import type uWS from 'uWebSockets.js';
import { ErrorCode, HttpError, RuntimeError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { errorBody, statusLine } from './http-status.js';

/** How a failure at the edge is answered: HTTP status, wire error code and the message the client may read. */
export interface EdgeFailure {
  status: number;
  code: string;
  message: string;
}

/**
 * uWebSockets.js ends the process when an exception escapes one of its callbacks: one malformed request would take
 * every conversation on the node down with it. Every HTTP route, upgrade and socket callback goes through this guard.
 * A client's mistake (an `HttpError`, a `RuntimeError`) is answered with what was wrong; anything else is a bug: it is
 * logged, and the client learns only that its request failed.
 */
export class EdgeGuard {
  constructor(private readonly logger: Logger) {}

  /** An HTTP or upgrade handler that answers a failure (400, 500, …) instead of throwing it. */
  http<Rest extends unknown[]>(where: string, handler: (res: uWS.HttpResponse, ...rest: Rest) => void): (res: uWS.HttpResponse, ...rest: Rest) => void {
    return (res, ...rest) => {
      try {
        handler(res, ...rest);
      } catch (error) {
        this.answer(res, error, where);
      }
    };
  }

  /**
   * A socket callback that never throws. `tell` gets the `error` frame for the client (a chat socket and the
   * inspector's share its shape); it is guarded too, since the socket may be the thing that failed.
   */
  socket<Args extends unknown[]>(where: string, callback: (...args: Args) => void, tell?: (frame: string, ...args: Args) => void): (...args: Args) => void {
    return (...args) => {
      try {
        callback(...args);
      } catch (error) {
        const { code, message } = this.classify(error, where);
        if (!tell) return;
        try {
          tell(JSON.stringify({ type: 'error', code, message }), ...args);
        } catch (unsent) {
          this.logger.warn({ err: errorMessage(unsent), where }, 'could not send an error frame to a socket that failed');
        }
      }
    };
  }

  /** The answer to a failure; a bug is logged here, once. */
  classify(error: unknown, where: string): EdgeFailure {
    if (error instanceof HttpError) return { status: error.status, code: error.status < 500 ? ErrorCode.InvalidMessage : ErrorCode.Internal, message: error.message };
    if (error instanceof RuntimeError) return { status: 400, code: error.code, message: error.message };
    this.logger.error({ err: errorMessage(error), stack: error instanceof Error ? error.stack : undefined, where }, 'unexpected error at the edge');
    return { status: 500, code: ErrorCode.Internal, message: 'Internal error; the request was not processed.' };
  }

  /** Answers a failure on `res`, unless it was answered or aborted already (then uWS throws, and nobody is listening). */
  answer(res: uWS.HttpResponse, error: unknown, where: string): void {
    const { status, message } = this.classify(error, where);
    try {
      res.cork(() => {
        res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').end(errorBody(message));
      });
    } catch {
      // Already answered or aborted: there is no one left to tell.
    }
  }
}
