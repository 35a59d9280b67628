import { SpanKind, type SpanOptions } from '@opentelemetry/api';
import { MessagingAttr, RuntimeAttr } from './gen-ai-attributes.js';

/**
 * The spans of a summary's way from the webhook to the notification, as the messaging and HTTP conventions name them:
 * `POST /api/webhooks/email` (SERVER) → `send email-summaries` (PRODUCER, the job added) → `process email-summaries`
 * (CONSUMER, in whichever worker runs it, joined through the job's data) → its `chat` spans → `send <notifications>`
 * (PRODUCER, the Redis publish).
 */

/** BullMQ is not among the conventions' messaging systems: its own name, as they allow. */
const MESSAGING_SYSTEM = 'bullmq';

export function sendJobSpan(queue: string, jobId: string): { name: string; options: SpanOptions } {
  return {
    name: `send ${queue}`,
    options: {
      kind: SpanKind.PRODUCER,
      attributes: {
        [MessagingAttr.System]: MESSAGING_SYSTEM,
        [MessagingAttr.OperationType]: 'send',
        [MessagingAttr.OperationName]: 'add',
        [MessagingAttr.DestinationName]: queue,
        [MessagingAttr.MessageId]: jobId,
      },
    },
  };
}

export function processJobSpan(queue: string, jobId: string | undefined, attempt: number): { name: string; options: SpanOptions } {
  return {
    name: `process ${queue}`,
    options: {
      kind: SpanKind.CONSUMER,
      attributes: {
        [MessagingAttr.System]: MESSAGING_SYSTEM,
        [MessagingAttr.OperationType]: 'process',
        [MessagingAttr.OperationName]: 'process',
        [MessagingAttr.DestinationName]: queue,
        ...(jobId ? { [MessagingAttr.MessageId]: jobId } : {}),
        [RuntimeAttr.JobAttempt]: attempt,
      },
    },
  };
}

export function publishSpan(channel: string): { name: string; options: SpanOptions } {
  return {
    name: `send ${channel}`,
    options: {
      kind: SpanKind.PRODUCER,
      attributes: {
        [MessagingAttr.System]: 'redis',
        [MessagingAttr.OperationType]: 'send',
        [MessagingAttr.OperationName]: 'publish',
        [MessagingAttr.DestinationName]: channel,
      },
    },
  };
}
