import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';
import type { HttpRoute } from './ws-server.js';

const WEB_ROOT = new URL('../../web/', import.meta.url);

/** Everything the pages load comes from this server: no CDN, no font service, no tracker, no inline script. */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/** The pages and their bundles: each entry is a TypeScript module compiled and bundled at start-up. */
const PAGES = [
  { html: 'chat/index.html', route: '/', script: 'chat/app.ts', bundle: '/app.js', css: 'chat/app.css', cssRoute: '/app.css' },
  { html: 'inspector/index.html', route: '/inspector', script: 'inspector/inspector.ts', bundle: '/inspector.js', css: 'inspector/inspector.css', cssRoute: '/inspector.css' },
] as const;

function asset(body: string | Buffer, contentType: string): HttpRoute {
  return async () => ({ status: 200, body, contentType, headers: SECURITY_HEADERS });
}

let built: Promise<Record<string, HttpRoute>> | undefined;

/**
 * The browser UI's GET routes. Built once per process: its sources do not change while it runs, and several runtimes
 * in one process (tests, benchmarks) would otherwise each pay for an esbuild run.
 */
export function webAssetRoutes(): Promise<Record<string, HttpRoute>> {
  built ??= buildWebAssets();
  built.catch(() => {
    built = undefined;
  });
  return built;
}

/** Builds the browser UI (chat and inspector) in memory with esbuild. */
async function buildWebAssets(): Promise<Record<string, HttpRoute>> {
  const result = await build({
    entryPoints: Object.fromEntries(PAGES.map((p) => [p.bundle.slice(1, -3), new URL(p.script, WEB_ROOT).pathname])),
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    minify: true,
    outdir: '/',
    logLevel: 'silent',
  });
  const routes: Record<string, HttpRoute> = {};
  for (const file of result.outputFiles) routes[`GET ${file.path}`] = asset(Buffer.from(file.contents), 'text/javascript; charset=utf-8');
  for (const page of PAGES) {
    routes[`GET ${page.route}`] = asset(await readFile(new URL(page.html, WEB_ROOT)), 'text/html; charset=utf-8');
    routes[`GET ${page.cssRoute}`] = asset(await readFile(new URL(page.css, WEB_ROOT)), 'text/css; charset=utf-8');
  }
  return routes;
}
