import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { AccountSource, type MailAccount } from '../accounts/mail-account.js';
import { AccountCheckError, ConnectFailure } from './connect-failure.js';
import type { MailEndpoint } from './mail-endpoint.js';

/** Where a user's account may not point: this machine, the LAN, link-local (cloud metadata), and the like. */
const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv6');
}

function isInternal(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return INTERNAL.check(mapped, 'ipv4');
  return INTERNAL.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

export interface ServerAddress {
  /** What to connect to: an address checked once, so that DNS cannot answer differently for the connection. */
  host: string;
  /** The name TLS verifies the certificate against (and sends as SNI); absent for an IP literal. */
  servername?: string;
}

/**
 * Where to connect for `endpoint`. A user-connected account would otherwise let any signed-in user make the mail
 * server knock on internal addresses and read the answer in the error (SSRF): unless the operator allows private
 * hosts, every address the name resolves to must be public, and the connection goes to the address checked.
 * The operator's own `[[mail.accounts]]` are trusted as written.
 */
export async function serverAddress(account: MailAccount, endpoint: MailEndpoint, allowPrivateHosts: boolean): Promise<ServerAddress> {
  const named = isIP(endpoint.host) === 0 ? { servername: endpoint.host } : {};
  if (account.source === AccountSource.Config || allowPrivateHosts) return { host: endpoint.host, ...named };
  let addresses: string[];
  try {
    addresses = isIP(endpoint.host) ? [endpoint.host] : (await lookup(endpoint.host, { all: true, verbatim: true })).map((a) => a.address);
  } catch (error) {
    throw new AccountCheckError(ConnectFailure.Unreachable, `${endpoint.host} does not resolve.`, { cause: error });
  }
  const first = addresses[0];
  if (first === undefined || addresses.some(isInternal)) {
    throw new AccountCheckError(
      ConnectFailure.HostNotAllowed,
      `${endpoint.host} is a private, loopback or link-local address: this mail server only connects users' accounts to public servers ([mail] private_account_hosts).`,
    );
  }
  return { host: first, ...named };
}
