import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import uWS from 'uWebSockets.js';
import type { Config } from '../config/schema.js';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * Fails fast, naming the key, when `[server] tls_cert_file`/`tls_key_file` are unreadable, not PEM, locked with another
 * passphrase or not a pair: uWS would only say "App construction failed". Side-effect free: start-up calls it before
 * opening anything else.
 */
export function checkTlsFiles(config: Pick<Config['server'], 'tls_cert_file' | 'tls_key_file' | 'tls_passphrase'>): void {
  if (!config.tls_cert_file && !config.tls_key_file) return;
  for (const [key, file] of [['tls_cert_file', config.tls_cert_file], ['tls_key_file', config.tls_key_file]] as const) {
    if (!file) throw new ConfigError(`[server] ${key}: required with ${key === 'tls_cert_file' ? 'tls_key_file' : 'tls_cert_file'}`);
    try {
      accessSync(file, constants.R_OK);
      if (!statSync(file).isFile()) throw new Error('not a file');
    } catch (cause) {
      throw new ConfigError(`[server] ${key}: cannot read ${file} (${errorMessage(cause)})`, { cause });
    }
  }  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(readFileSync(config.tls_cert_file));
  } catch (cause) {
    throw new ConfigError(`[server] tls_cert_file: ${config.tls_cert_file} is not a PEM certificate (${errorMessage(cause)})`, { cause });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: readFileSync(config.tls_key_file), ...(config.tls_passphrase ? { passphrase: config.tls_passphrase } : {}) });
  } catch (cause) {
    throw new ConfigError(`[server] tls_key_file: cannot load ${config.tls_key_file}: not a PEM private key, or a wrong tls_passphrase (${errorMessage(cause)})`, { cause });
  }
  if (!certificate.checkPrivateKey(key)) throw new ConfigError(`[server] tls_key_file: ${config.tls_key_file} is not the key of ${config.tls_cert_file}`);
}

/** `uWS.SSLApp` when a certificate is configured (HTTPS and WSS only), else a plain `uWS.App`. */
export function createApp(config: Config['server']): uWS.TemplatedApp {
  if (!config.tls_cert_file && !config.tls_key_file) return uWS.App();
  checkTlsFiles(config);
  try {
    return uWS.SSLApp({
      cert_file_name: config.tls_cert_file,
      key_file_name: config.tls_key_file,
      ...(config.tls_passphrase ? { passphrase: config.tls_passphrase } : {}),
    });
  } catch (cause) {
    throw new ConfigError(
      `[server] tls_cert_file, tls_key_file: cannot load ${config.tls_cert_file} and ${config.tls_key_file} (not PEM, a key that does not match the certificate, or a wrong tls_passphrase)`,
      { cause },
    );
  }
}
