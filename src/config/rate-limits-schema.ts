import { z } from 'zod';
import { RateSchema } from './field-schemas.js';

/** `[rate_limits]`: one budget per scope, named like the scope in `src/limits/rate-limits.ts`. */

export const RateLimitsConfigSchema = z.strictObject({
  /** Limits are kept in Redis (shared by every node) when Redis is configured, else in this process. @default true */
  enabled: z.boolean().default(true),
  /**
   * Every WebSocket frame of a signed-in user, whatever its type, across all their sockets (the web UI sends a few a
   * minute). @default { points = 300, duration_s = 60 }
   */
  messages_per_user: RateSchema.default({ points: 300, duration_s: 60 }),
  /** Every WebSocket frame from a client IP, signed in or not (an IPv6 client counts as its /64). @default { points = 1200, duration_s = 60 } */
  messages_per_ip: RateSchema.default({ points: 1200, duration_s: 60 }),
  /**
   * Conversations created per user (`new_conversation`, or a `chat` that starts one): each is a stored row and a live
   * actor. @default { points = 20, duration_s = 60 }
   */
  conversations_per_user: RateSchema.default({ points: 20, duration_s: 60 }),
  /** Conversations created per client IP (all users behind it). @default { points = 60, duration_s = 60 } */
  conversations_per_ip: RateSchema.default({ points: 60, duration_s: 60 }),
  /** Sign-in attempts (`auth`, a token at the upgrade, the inspector's `auth`) per client IP, failed or not. @default { points = 120, duration_s = 60 } */
  auth_per_ip: RateSchema.default({ points: 120, duration_s: 60 }),
  /** Chat messages per signed-in user. @default { points = 30, duration_s = 60 } */
  chat_per_user: RateSchema.default({ points: 30, duration_s: 60 }),
  /** Chat messages per client IP (all users behind it). @default { points = 120, duration_s = 60 } */
  chat_per_ip: RateSchema.default({ points: 120, duration_s: 60 }),
  /** New WebSocket connections per client IP. @default { points = 60, duration_s = 60 } */
  connections_per_ip: RateSchema.default({ points: 60, duration_s: 60 }),
  /** Successful sign-ins per user (each is a new connection for that user). @default { points = 60, duration_s = 60 } */
  connections_per_user: RateSchema.default({ points: 60, duration_s: 60 }),
  /** Webhook calls per client IP. @default { points = 600, duration_s = 60 } */
  webhooks_per_ip: RateSchema.default({ points: 600, duration_s: 60 }),
  /** `POST /api/generate-summary` calls per client IP (each may cost an LLM call). @default { points = 60, duration_s = 60 } */
  summary_requests_per_ip: RateSchema.default({ points: 60, duration_s: 60 }),
  /**
   * `PUT /api/mail/account` per user. Each attempt logs in to an IMAP and an SMTP server with the password given: the
   * runtime must not become a way to guess passwords on someone's mail server. @default { points = 10, duration_s = 600 }
   */
  mail_account_connects_per_user: RateSchema.default({ points: 10, duration_s: 600 }),
});

