import type uWS from 'uWebSockets.js';
import { HttpError } from '../errors.js';
import { clientIp, forwardedFor, peerAddress } from './client-ip.js';
import type { HostPolicy } from './host-policy.js';
import { errorBody, statusLine } from './http-status.js';
import type { HttpRequest, HttpResponse, HttpRoute } from './http-types.js';
import { CORS_ALLOWED_HEADERS, CORS_MAX_AGE_S, type OriginPolicy } from './origin-policy.js';
import { decodeParam, paramNames, quoted } from './route-params.js';
import type { EdgeGuard } from './safe-handler.js';

/** Largest HTTP body accepted; webhooks carry one email's text. */
export const MAX_HTTP_BODY_BYTES = 1024 * 1024;

/** The methods a route key may name. */
const RouteMethod = { Get: 'GET', Post: 'POST', Put: 'PUT', Delete: 'DELETE' } as const;
type RouteMethod = (typeof RouteMethod)[keyof typeof RouteMethod];
/** Only these read a body; any other request's body is left unread, never buffered. */
const BODY_METHODS: ReadonlySet<RouteMethod> = new Set([RouteMethod.Post, RouteMethod.Put]);
/** What a CORS preflight may ask for: every method a route may serve. */
const CORS_METHODS = [...Object.values(RouteMethod), 'OPTIONS'].join(', ');

export interface HttpRoutesOptions {
  /** Keyed by `"METHOD /path"`, e.g. `"GET /health"`; `:name` segments are parameters. */
  routes: Record<string, HttpRoute>;
  hosts: HostPolicy;
  origins: OriginPolicy;
  /** `[server] trust_proxy`: how many proxies in front of us append to `X-Forwarded-For`. */
  trustedHops: number;
  guard: EdgeGuard;
}

interface RouteTarget {
  key: string;
  method: RouteMethod;
  paramNames: string[];
  route: HttpRoute;
}

function parseRouteKey(key: string): { method: RouteMethod; path: string } {
  const [method, path, ...rest] = key.split(' ');
  const known = Object.values(RouteMethod).find((m) => m === method);
  // A typo in a route table is ours, not a client's: fail at start-up.
  if (!known || !path?.startsWith('/') || rest.length > 0) throw new Error(`Bad route key "${key}": expected "<${Object.values(RouteMethod).join('|')}> /path".`);
  return { method: known, path };
}

/**
 * An error answer from a catch-all. uWS sends whatever body it is given, even to `HEAD`: a body there would be read
 * as the start of the next answer on a kept-alive connection, so a `HEAD` gets the head alone.
 */
function writeError(res: uWS.HttpResponse, req: uWS.HttpRequest, status: number, message: string, headers: Record<string, string> = {}): void {
  const head = req.getMethod().toUpperCase() === 'HEAD';
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json');
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    if (head) res.endWithoutBody();
    else res.end(errorBody(message));
  });
}

function copyHeaders(req: uWS.HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  req.forEach((name, value) => {
    headers[name] = value;
  });
  return headers;
}

/** The bytes an answer is sent as: built before the first write, so a bad answer can never be half-written. */
function encodeBody(answer: HttpResponse): string | Buffer {
  if (!answer.contentType) return JSON.stringify(answer.body);
  if (typeof answer.body === 'string' || Buffer.isBuffer(answer.body)) return answer.body;
  throw new Error(`An answer with Content-Type ${answer.contentType} must have a string or Buffer body.`);
}

/** Copies what the route needs out of uWS now (`req` dies when this call returns), reads a POST or PUT body, answers once. */
function serve(res: uWS.HttpResponse, req: uWS.HttpRequest, target: RouteTarget, options: HttpRoutesOptions): void {
  let done = false;
  res.onAborted(() => {
    done = true;
  });
  const headers = copyHeaders(req);
  const cors = options.origins.corsHeaders(headers.origin ?? '', headers.host ?? '');
  const respond = (answer: HttpResponse): void => {
    if (done) return;
    const body = encodeBody(answer);
    const extra = Object.entries({ ...cors, ...answer.headers });
    done = true;
    res.cork(() => {
      res.writeStatus(statusLine(answer.status)).writeHeader('Content-Type', answer.contentType ?? 'application/json');
      for (const [name, value] of extra) res.writeHeader(name, value);
      res.end(body);
    });
  };
  /** A failure after this call returned: uWS cannot catch it for us, and an unhandled rejection ends the process. */
  const fail = (error: unknown): void => {
    if (done) return void options.guard.classify(error, target.key);
    done = true;
    options.guard.answer(res, error, target.key);
  };
  const answerError = (error: unknown): HttpResponse => {
    const { status, message } = options.guard.classify(error, target.key);
    return { status, body: { status: 'error', message } };
  };
  let request: Omit<HttpRequest, 'body'>;
  try {
    request = {
      headers,
      foreignOrigin: !options.origins.allows(headers.origin ?? '', headers.host ?? ''),
      ip: clientIp(peerAddress(res), forwardedFor(req), options.trustedHops),
      query: new URLSearchParams(req.getQuery() ?? ''),
      params: target.paramNames.map((name, i) => decodeParam(req.getParameter(i) ?? '', name)),
    };
  } catch (error) {
    // With the CORS headers, so that a page allowed to call us can read why its request was refused.
    return respond(answerError(error));
  }
  const run = (body: Buffer): void => {
    target.route({ ...request, body }).catch(answerError).then(respond).catch(fail);
  };
  if (!BODY_METHODS.has(target.method)) return run(Buffer.alloc(0));
  const chunks: Buffer[] = [];
  let size = 0;
  res.onData((chunk, isLast) => {
    try {
      if (done) return;
      size += chunk.byteLength;
      if (size > MAX_HTTP_BODY_BYTES) return respond(answerError(new HttpError(413, `Body over ${MAX_HTTP_BODY_BYTES} bytes`)));
      // uWS reuses the chunk's memory after this call: copy it.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) run(Buffer.concat(chunks));
    } catch (error) {
      fail(error);
    }
  });
}

function register(app: uWS.TemplatedApp, method: RouteMethod): (path: string, handler: (res: uWS.HttpResponse, req: uWS.HttpRequest) => void) => unknown {
  switch (method) {
    case RouteMethod.Get:
      return app.get.bind(app);
    case RouteMethod.Post:
      return app.post.bind(app);
    case RouteMethod.Put:
      return app.put.bind(app);
    case RouteMethod.Delete:
      return app.del.bind(app);
  }
}

/**
 * The JSON routes, then what every other request gets: `405` with `Allow` for a known path and another method, the
 * CORS preflight answer for `OPTIONS`, `404` for the rest. Each handler goes through the guard, and answers `403`
 * first to a `Host` that is not ours (DNS rebinding).
 */
export function registerHttpRoutes(app: uWS.TemplatedApp, options: HttpRoutesOptions): void {
  const { guard, origins, hosts } = options;
  const edge = (where: string, handler: (res: uWS.HttpResponse, req: uWS.HttpRequest) => void) =>
    guard.http(where, (res, req: uWS.HttpRequest) => {
      const host = req.getHeader('host');
      if (!hosts.allows(host)) return writeError(res, req, 403, hosts.refusal(host));
      handler(res, req);
    });
  const methodsByPath = new Map<string, RouteMethod[]>();
  for (const [key, route] of Object.entries(options.routes)) {
    const { method, path } = parseRouteKey(key);
    methodsByPath.set(path, [...(methodsByPath.get(path) ?? []), method]);
    const target: RouteTarget = { key, method, paramNames: paramNames(path), route };
    const handler = edge(key, (res, req: uWS.HttpRequest) => serve(res, req, target, options));
    register(app, method)(path, handler);
  }
  // uWS tries a method's own handlers before `any`: these only see the methods a path does not serve.
  for (const [path, methods] of methodsByPath) {
    app.any(
      path,
      edge(`* ${path}`, (res, req: uWS.HttpRequest) => {
        const method = req.getMethod().toUpperCase();
        writeError(res, req, 405, `${quoted(method)} is not allowed on ${path}; use ${methods.join(' or ')}.`, { Allow: [...methods, 'OPTIONS'].join(', ') });
      }),
    );
  }
  app.options(
    '/*',
    edge('OPTIONS /*', (res, req: uWS.HttpRequest) => {
      const origin = req.getHeader('origin');
      if (origin === '' || !origins.allows(origin, req.getHeader('host'))) {
        res.writeStatus(statusLine(403)).end();
        return;
      }
      res
        .writeStatus(statusLine(204))
        .writeHeader('Access-Control-Allow-Origin', origin)
        .writeHeader('Vary', 'Origin')
        .writeHeader('Access-Control-Allow-Methods', CORS_METHODS)
        .writeHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS)
        .writeHeader('Access-Control-Max-Age', CORS_MAX_AGE_S)
        .end();
    }),
  );
  app.any(
    '/*',
    edge('* /*', (res, req: uWS.HttpRequest) => writeError(res, req, 404, `No route for ${quoted(req.getUrl())}`)),
  );
}
