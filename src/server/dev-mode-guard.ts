import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { isLoopbackListenAddr } from '../net/loopback.js';

/**
 * Dev mode lets anyone sign in as any address and read, send and delete that person's mail, so it may only listen
 * where nobody else can connect, and only for the web pages the operator listed. Throws the `ConfigError` that `npm start` turns into exit code 2; `startRuntime`
 * calls it too, so no embedder or test can serve dev mode on the network either.
 */
export function refuseExposedDevMode(config: Pick<Config, 'auth' | 'server'>, options: { devModeByDefault?: boolean } = {}): void {
  if (config.auth.dev_mode !== true) return;
  if (config.server.allowed_origins.includes('*')) {
    // Loopback is no wall for a browser: with any origin allowed, every web page the user opens could sign in as anyone.
    throw new ConfigError(
      'refusing to start: auth.dev_mode lets anyone sign in as any email address, and server.allowed_origins = ["*"] lets any web page the user visits open a socket here. ' +
        'List the web apps you use in server.allowed_origins, or set JWT_SECRET (or [auth] jwks_url) and auth.dev_mode = false.',
    );
  }
  if (isLoopbackListenAddr(config.server.listen_addr)) return;
  const why = options.devModeByDefault ? ' (on because auth.dev_mode is unset and neither JWT_SECRET nor [auth] jwks_url is configured)' : '';
  throw new ConfigError(
    `refusing to start: auth.dev_mode${why} lets anyone sign in as any email address, and server.listen_addr = "${config.server.listen_addr}" is reachable from other machines. ` +
      'Either keep it local (server.listen_addr = "127.0.0.1:8888"), or expose it properly: set JWT_SECRET (or [auth] jwks_url) and auth.dev_mode = false ' +
      '(README: "Exposing the runtime").',
  );
}
