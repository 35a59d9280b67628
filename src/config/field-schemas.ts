import { z } from 'zod';

/** Field shapes several config sections share. */

export const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const listenAddr = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8888');

/** A `Host` header value: a name or address, bracketed if IPv6, with an optional port. */
export const hostHeader = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** `points` per `duration_s` seconds. */
export const RateSchema = z.strictObject({ points: z.int().positive(), duration_s: z.int().positive() });
