import { timingSafeEqual } from 'node:crypto';
import type { HttpResponse } from '../server/ws-server.js';

function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = Buffer.from(authorization ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * The 401 a scrape gets without `Authorization: Bearer <[server] metrics_token>`, or undefined when it may read. The
 * metrics hold counts and tool names, no user data; still, on a node facing the internet the token keeps them for the
 * scraper (Prometheus `authorization: { credentials: … }`). Empty token: open.
 */
export function refusedScrape(authorization: string | undefined, token: string): HttpResponse | undefined {
  if (!token || bearerMatches(authorization, token)) return undefined;
  return { status: 401, body: { status: 'error', message: 'GET /metrics needs Authorization: Bearer <[server] metrics_token>.' }, headers: { 'WWW-Authenticate': 'Bearer' } };
}
