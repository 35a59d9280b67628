import type { Redis } from 'ioredis';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { WireTriageSchema } from '../triage/triage.js';
import type { Logger } from '../logger.js';
import { keepSubscribed, redisConnection } from './redis-connection.js';

/** What every node hears when a summary is ready; relayed to that user's sockets only. */
export const EmailNotificationSchema = z.object({
  user_email: z.string(),
  email_id: z.string(),
  from: z.string(),
  subject: z.string(),
  summary: z.string(),
  created_at: z.string(),
  // Optional: a worker older than triage publishes without them.
  ...WireTriageSchema.partial().shape,
});
export type EmailNotification = z.infer<typeof EmailNotificationSchema>;

/** Redis pub/sub between nodes: a worker publishes once, every runtime node receives it. */
export class NotificationBus {
  private readonly publisher: Redis;
  private subscriber: Redis | undefined;
  /** The Redis channel every node listens on. */
  readonly channel: string;
  private closed = false;

  constructor(private readonly options: { url: string; prefix: string; logger: Logger }) {
    this.channel = `${options.prefix}:notifications`;
    this.publisher = redisConnection(options.url, 'producer', options.logger);
  }

  async publish(notification: EmailNotification): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(notification));
  }

  /** Subscribed again after every reconnect (`keepSubscribed`). */
  async subscribe(handler: (notification: EmailNotification) => void): Promise<void> {
    const subscriber = redisConnection(this.options.url, 'subscriber', this.options.logger);
    this.subscriber = subscriber;
    subscriber.on('message', (channel, message) => {
      if (channel !== this.channel) return;
      let parsed: ReturnType<typeof EmailNotificationSchema.safeParse>;
      try {
        parsed = EmailNotificationSchema.safeParse(JSON.parse(message));
      } catch (error) {
        this.options.logger.warn({ err: errorMessage(error) }, 'ignoring a notification that is not JSON');
        return;
      }
      if (!parsed.success) {
        this.options.logger.warn({ err: parsed.error.message }, 'ignoring a malformed notification');
        return;
      }
      handler(parsed.data);
    });
    await keepSubscribed(subscriber, this.channel, this.options.logger);
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // disconnect, not quit: QUIT would wait for a Redis that may be down.
    this.publisher.disconnect();
    this.subscriber?.disconnect();
  }
}
