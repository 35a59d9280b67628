import type { Logger } from '../logger.js';
import type { ConversationHub } from './conversation-hub.js';

/** After the grace period, cut answers get this long to be saved: a stuck database must not hold the exit. */
const CUT_SAVE_TIMEOUT_MS = 5_000;

/**
 * A graceful stop's middle step: answers in flight get `graceMs` to finish; the rest are cancelled, which saves what
 * was streamed as interrupted. Call after `hub.drain()`.
 */
export async function finishAnswers(hub: Pick<ConversationHub, 'busyCount' | 'whenIdle' | 'cancelBusy'>, graceMs: number, logger: Logger): Promise<void> {
  const inFlight = hub.busyCount;
  if (inFlight === 0) return;
  const graceS = graceMs / 1000;
  logger.info(`waiting up to ${graceS} s for ${inFlight} answer(s) in flight`);
  if (await hub.whenIdle(graceMs)) return logger.info('every answer in flight finished');
  const cut = hub.cancelBusy();
  logger.warn(`${cut} answer(s) still in flight after ${graceS} s: cut, and saved as interrupted`);
  if (!(await hub.whenIdle(CUT_SAVE_TIMEOUT_MS))) logger.warn(`${hub.busyCount} cut answer(s) not saved within ${CUT_SAVE_TIMEOUT_MS} ms; their partial text is lost`);
}
