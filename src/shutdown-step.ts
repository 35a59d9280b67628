import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

/**
 * Runs one step of a shutdown, logging its failure instead of throwing: one stuck or broken part (a dead Redis, a
 * closed database) must not keep the parts after it open.
 */
export function shutdownStep(logger: Logger) {
  return async (what: string, work: () => Promise<unknown> | void): Promise<void> => {
    try {
      await work();
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, `shutdown: ${what} failed`);
    }
  };
}
