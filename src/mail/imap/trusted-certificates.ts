import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConfigError, errorMessage } from '../../errors.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The certificates accounts' IMAP and SMTP servers are checked against: Node's bundled roots plus those of
 * `[mail] tls_ca_file` (a company CA, a self-signed server); `undefined` (Node's defaults) without one. The roots stay:
 * a `ca` option replaces them, and one internal CA must not cost every public provider. Fails fast, naming the key,
 * when the file is unreadable or holds no PEM certificate: a typo would otherwise surface as `tls_failed` for everyone.
 */
export function trustedCertificates(file: string): string[] | undefined {
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`[mail] tls_ca_file: cannot read ${file} (${errorMessage(cause)})`, { cause });
  }
  const certificates = pem.match(PEM_CERTIFICATE) ?? [];
  if (certificates.length === 0) throw new ConfigError(`[mail] tls_ca_file: ${file} holds no PEM certificate`);
  for (const certificate of certificates) {
    try {
      new X509Certificate(certificate);
    } catch (cause) {
      throw new ConfigError(`[mail] tls_ca_file: ${file} holds a certificate that does not parse (${errorMessage(cause)})`, { cause });
    }
  }
  return [...rootCertificates, ...certificates];
}
