import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { InspectorStore } from './inspector-store.js';

export const RevealChannel = {
  /** `reveal` on the inspector socket. */
  Socket: 'socket',
  /** `GET …/export?reveal=1`. */
  Export: 'export',
} as const;
export type RevealChannel = (typeof RevealChannel)[keyof typeof RevealChannel];

/**
 * Every time an operator sees a conversation's content: a pino warning (it lands wherever the logs go) and a row in
 * `inspector_reveals` (it can be listed later). The reveal is not refused when the row cannot be written: the log line
 * is the record of last resort.
 */
export class RevealAudit {
  constructor(
    private readonly store: InspectorStore,
    private readonly logger: Logger,
  ) {}

  async record(operator: string, conversationId: string, via: RevealChannel): Promise<void> {
    this.logger.warn({ operator, conversationId, via }, 'inspector reveal');
    await this.store
      .recordReveal({ operator, conversationId, via, at: new Date().toISOString() })
      .catch((err: unknown) => this.logger.error({ err: errorMessage(err), operator, conversationId }, 'could not record inspector reveal'));
  }
}
