/**
 * One socket's messages, handled one at a time in arrival order even when one of them waits on storage or Redis: a
 * promise chain kept on the socket's state. `queued` bounds it: a client that sends faster than it is served would
 * otherwise grow the chain (and the memory behind it) without end, since a frame is accepted before any budget is
 * checked.
 */
export interface MessageQueue {
  /** Settles once everything queued so far has been handled; never rejects. */
  queue: Promise<void>;
  /** Messages accepted and not yet handled (the one being handled included). */
  queued: number;
}

/** Runs `task` after the ones before it; `onError` gets what it throws. Never refused: for the socket's own work. */
export function enqueue(holder: MessageQueue, task: () => Promise<void>, onError: (error: unknown) => void): void {
  holder.queue = holder.queue
    .then(task)
    .catch(onError)
    // `onError` writes to the socket: should that throw too, a rejected chain would be an unhandled rejection, which
    // ends a Node process. Nothing is left to tell the client then.
    .catch(() => undefined);
}

/** As `enqueue`, for a client's message: `false`, and `task` never runs, when `limit` messages already wait. */
export function enqueueBounded(holder: MessageQueue, limit: number, task: () => Promise<void>, onError: (error: unknown) => void): boolean {
  if (holder.queued >= limit) return false;
  holder.queued += 1;
  enqueue(
    holder,
    async () => {
      try {
        await task();
      } finally {
        holder.queued -= 1;
      }
    },
    onError,
  );
  return true;
}
