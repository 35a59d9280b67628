/**
 * For the entry points (`npm start`, the mail server, the worker): the first SIGINT or SIGTERM runs `stop`, then the
 * process exits 0, or 1 if `stop` failed. The handlers run once, so a second Ctrl-C meets Node's default and ends
 * the process at once.
 */
export function stopOnSignals(stop: (signal: NodeJS.Signals) => Promise<unknown>): void {
  const handle = (signal: NodeJS.Signals): void => {
    stop(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', handle);
  process.once('SIGTERM', handle);
}
