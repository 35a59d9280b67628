import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const OPENSSL = '/usr/bin/openssl';

export interface TestCertificates {
  /** The CA that signed `certFile`: what a client must trust. */
  caFile: string;
  /** A server certificate for 127.0.0.1 and localhost, valid one day. */
  certFile: string;
  keyFile: string;
}

/**
 * A CA of its own and a server certificate it signed, made with the machine's `openssl` into `dir`: as a company
 * server's certificate is, not in any public trust store. P-256 keys, because making them takes milliseconds.
 */
export function makeTestCertificates(dir: string): TestCertificates {
  if (!existsSync(OPENSSL)) throw new Error('openssl is not installed: sudo apt install openssl');
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.pem');
  const extensions = join(dir, 'server.ext');
  const openssl = (args: string[]): void => void execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...newKey, '-keyout', caKey, '-out', caFile, '-days', '1', '-subj', '/CN=ai-runtime test CA']);
  openssl(['req', '-new', ...newKey, '-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost']);
  // The client connects to 127.0.0.1: without it among the names, the certificate would be refused for the wrong host.
  writeFileSync(extensions, 'basicConstraints = CA:FALSE\nsubjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n');
  openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '1', '-extfile', extensions]);
  return { caFile, certFile, keyFile };
}
