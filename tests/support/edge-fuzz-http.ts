import { signWebhook } from '../../src/mail/webhook-signature.js';
import { nested, text, type Rng } from './edge-fuzz-rng.js';

/** Hostile HTTP requests for `edge-fuzz.test.ts`. */

/** Percent-encodings `decodeURIComponent` throws on: cut sequences, bad hex, overlong forms, surrogates, past U+10FFFF. */
export const MALFORMED_ENCODINGS = ['%', '%A', '%ZZ', '%E0%A4%A', '%C0%AF', '%FF', '%ED%A0%80', '%F4%90%80%80', '%%', '%u0041', 'a%2', '%E2%82', '%C3%28', '%F0%28%8C%BC', '%80', '%G0'] as const;

/** A route parameter in a `"METHOD /path"` key (`:id`, `:email_id`). */
const PARAM = /:[a-z_]+/g;

/** `HEAD` and `OPTIONS` too: no path serves them as a route, and each must still get a proper answer. */
export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND', 'FOO'] as const;

/** Largest body the runtime reads (src/server/http-routes.ts MAX_HTTP_BODY_BYTES). */
export const MAX_BODY_BYTES = 1024 * 1024;

export const HttpKind = {
  MalformedParam: 'malformed-param',
  OddParam: 'odd-param',
  AnyMethod: 'any-method',
  BadBody: 'bad-body',
  HugeBody: 'huge-body',
  LongPath: 'long-path',
  LongHeader: 'long-header',
  UnknownPath: 'unknown-path',
} as const;
export type HttpKind = (typeof HttpKind)[keyof typeof HttpKind];

export interface HttpCase {
  kind: HttpKind;
  /** The route-table key the request aims at (`"POST /api/summaries/:email_id/not-spam"`); none for made-up paths. */
  route?: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

function param(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return encodeURIComponent(text(rng, 1 + rng.int(20), 'äöü✓😀 /?#%"<>\\'));
    case 1:
      return '..%2F..%2Fetc%2Fpasswd';
    case 2:
      return text(rng, 500 + rng.int(3000));
    case 3:
      return `${text(rng, rng.int(5))}%00${text(rng, rng.int(5))}`;
    default:
      return text(rng, 1 + rng.int(40));
  }
}

function malformedParam(rng: Rng): string {
  // "z" after a malformed encoding: a hex digit there could complete it ("%E0%A4%A" + "B" is valid).
  return `${text(rng, rng.int(4))}${rng.pick(MALFORMED_ENCODINGS)}z${rng.chance(0.3) ? `${rng.pick(MALFORMED_ENCODINGS)}z` : ''}${text(rng, rng.int(4))}`;
}

function fillPath(rng: Rng, path: string, value: () => string): string {
  const filled = path.replace(PARAM, value);
  if (!rng.chance(0.3)) return filled;
  const query = [`reveal=${rng.pick(['1', 'true', '%ZZ', ''])}`, `limit=${rng.pick(['-5', '1e9', 'NaN', '%E0%A4%A', '50'])}`, `token=${text(rng, rng.int(30))}`];
  return `${filled}?${query.slice(0, 1 + rng.int(3)).join('&')}`;
}

const CONTENT_TYPES = ['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/octet-stream', ';;;', 'application/json; charset=utf-16'];

function headers(rng: Rng, adminToken: string, allowedOrigin: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (rng.chance(0.4)) out.authorization = rng.pick([`Bearer ${adminToken}`, 'Bearer', `Bearer ${text(rng, 40)}`, `Basic ${text(rng, 12)}`, 'Bearer a.b.c']);
  if (rng.chance(0.3)) out.origin = rng.pick([allowedOrigin, 'https://evil.example.net', 'null', text(rng, 10), 'http://[::1']);
  if (rng.chance(0.5)) out['content-type'] = rng.pick(CONTENT_TYPES);
  if (rng.chance(0.3)) out['x-forwarded-for'] = rng.pick(['1.2.3.4', ', , ,', `${text(rng, 20)}, 10.0.0.1`, '::1, 2001:db8::1', '999.999.999.999']);
  if (rng.chance(0.2)) out['x-user-email'] = rng.pick(['a@b.c', text(rng, 30), '']);
  if (rng.chance(0.2)) out['x-webhook-signature'] = rng.pick([`sha256=${text(rng, 64, '0123456789abcdef')}`, text(rng, 10)]);
  if (rng.chance(0.2)) out['x-webhook-timestamp'] = rng.pick([String(Math.floor(Date.now() / 1000)), '-1', '1e30', text(rng, 8)]);
  if (rng.chance(0.1)) out['x-inspector-operator'] = text(rng, 300);
  return out;
}

function badBody(rng: Rng): Buffer {
  const email = { user_email: 'a@example.com', email_id: text(rng, 8), from: 'b@example.com', subject: 's', body: 'hello' };
  switch (rng.int(9)) {
    case 0:
      return Buffer.from(text(rng, rng.int(200)));
    case 1:
      return Buffer.from(JSON.stringify(email).slice(0, 1 + rng.int(60)));
    case 2:
      return Buffer.from(Array.from({ length: rng.int(500) }, () => rng.int(256)));
    case 3:
      return Buffer.from(nested(1 + rng.int(50_000), '[', ']'));
    case 4:
      return Buffer.from(`{"a":${nested(1 + rng.int(20_000), '{"a":', '}')}0}`);
    case 5:
      return Buffer.from(JSON.stringify({ ...email, user_email: rng.pick([5, null, [], {}, 'not-an-email']), body: rng.pick([true, 1e308, 'x'.repeat(rng.int(10_000))]) }));
    case 6:
      return Buffer.from(JSON.stringify({ version: rng.pick([1, 99, '1']), conversation_id: text(rng, 10), records: rng.pick([[], [{}], 'x', null]) }));
    case 7:
      return Buffer.alloc(0);
    default:
      return Buffer.from(JSON.stringify(rng.pick([null, 0, 'str', [], { type: 'chat' }])));
  }
}

export interface HttpSecrets {
  /** The runtime's `[admin] token`: some requests carry it and get past sign-in to the deeper code. */
  adminToken: string;
  /** The webhook secret: some bad bodies are signed, so they reach the JSON parsing behind the signature check. */
  webhookSecret: string;
  /** A dev-mode user (`X-User-Email`): some bad bodies get past sign-in on the user's own routes (triage rules, …). */
  user: string;
  allowedOrigin: string;
}

type Route = { key: string; method: string; path: string };
interface Routes {
  all: Route[];
  withParams: Route[];
  /** Routes that read a body. */
  withBody: Route[];
}

/** The runtime's own route table (`Runtime.routes`), so that a route added later is fuzzed without a list to update. */
function routeTable(keys: readonly string[]): Routes {
  const all = keys.map((key): Route => {
    const [method, path] = key.split(' ') as [string, string];
    return { key, method, path };
  });
  return { all, withParams: all.filter((r) => r.path.includes('/:')), withBody: all.filter((r) => r.method === 'POST' || r.method === 'PUT') };
}

/** Share of each kind among the random cases (the rest are unknown paths). */
const KIND_WEIGHTS: [HttpKind, number][] = [
  [HttpKind.MalformedParam, 0.2],
  [HttpKind.OddParam, 0.08],
  [HttpKind.AnyMethod, 0.2],
  [HttpKind.BadBody, 0.3],
  [HttpKind.HugeBody, 0.003],
  [HttpKind.LongPath, 0.05],
  [HttpKind.LongHeader, 0.05],
];

function pickKind(rng: Rng): HttpKind {
  let roll = rng.next();
  for (const [kind, weight] of KIND_WEIGHTS) {
    if (roll < weight) return kind;
    roll -= weight;
  }
  return HttpKind.UnknownPath;
}

function concrete(path: string): string {
  return path.replace(PARAM, 'x');
}

function randomCase(rng: Rng, secrets: HttpSecrets, routes: Routes): HttpCase {
  const headersOf = () => headers(rng, secrets.adminToken, secrets.allowedOrigin);
  switch (pickKind(rng)) {
    case HttpKind.MalformedParam: {
      const route = rng.pick(routes.withParams);
      return { kind: HttpKind.MalformedParam, route: route.key, method: route.method, path: fillPath(rng, route.path, () => malformedParam(rng)), headers: headersOf() };
    }
    case HttpKind.OddParam: {
      const route = rng.pick(routes.withParams);
      return { kind: HttpKind.OddParam, route: route.key, method: route.method, path: fillPath(rng, route.path, () => param(rng)), headers: headersOf() };
    }
    case HttpKind.AnyMethod: {
      const method = rng.pick(METHODS);
      const carriesBody = !['GET', 'HEAD', 'OPTIONS'].includes(method) && rng.chance(0.5);
      const route = rng.pick(routes.all);
      return { kind: HttpKind.AnyMethod, route: route.key, method, path: fillPath(rng, route.path, () => param(rng)), headers: headersOf(), ...(carriesBody ? { body: badBody(rng) } : {}) };
    }
    case HttpKind.BadBody: {
      const route = rng.pick(routes.withBody);
      const body = badBody(rng);
      const signed = route.path === '/api/webhooks/email' && rng.chance(0.6) ? signWebhook(secrets.webhookSecret, body.toString('utf8')) : {};
      // Past sign-in and the JSON content-type check, so that the body reaches the parser behind them.
      const credentials: Record<string, string>[] = [{ authorization: `Bearer ${secrets.adminToken}` }, { 'x-user-email': secrets.user }, {}];
      const credential = rng.pick(credentials);
      const json: Record<string, string> = rng.chance(0.6) ? { 'content-type': 'application/json' } : {};
      return { kind: HttpKind.BadBody, route: route.key, method: route.method, path: fillPath(rng, route.path, () => param(rng)), headers: { ...headersOf(), ...credential, ...json, ...signed }, body };
    }
    case HttpKind.HugeBody: {
      const route = rng.pick(routes.withBody);
      return { kind: HttpKind.HugeBody, route: route.key, method: route.method, path: concrete(route.path), headers: headersOf(), body: Buffer.alloc(MAX_BODY_BYTES + 1 + rng.int(100_000), 0x61) };
    }
    case HttpKind.LongPath:
      return { kind: HttpKind.LongPath, method: rng.pick(['GET', 'POST']), path: `/${text(rng, 4_000 + rng.int(40_000))}`, headers: headersOf() };
    case HttpKind.LongHeader: {
      const route = rng.pick(routes.all);
      return { kind: HttpKind.LongHeader, route: route.key, method: route.method, path: concrete(route.path), headers: { ...headersOf(), [`x-${text(rng, 8, 'abcdefgh')}`]: text(rng, 2_000 + rng.int(40_000)) } };
    }
    case HttpKind.UnknownPath:
      return { kind: HttpKind.UnknownPath, method: rng.pick(METHODS), path: `/${text(rng, 1 + rng.int(30))}/${rng.chance(0.5) ? malformedParam(rng) : ''}`, headers: headersOf() };
  }
}

/**
 * `total` hostile requests on the routes `routeKeys` (`Runtime.routes`): first every method on every route (each
 * parameter malformed), then random cases drawn by `KIND_WEIGHTS`.
 */
export function httpCases(rng: Rng, total: number, secrets: HttpSecrets, routeKeys: readonly string[]): HttpCase[] {
  const routes = routeTable(routeKeys);
  const everyMethod = routes.all.flatMap((route) =>
    METHODS.map((method): HttpCase => ({ kind: HttpKind.AnyMethod, route: route.key, method, path: route.path.replace(PARAM, () => malformedParam(rng)), headers: {} })),
  );
  const cases = everyMethod.slice(0, total);
  while (cases.length < total) cases.push(randomCase(rng, secrets, routes));
  return cases;
}
