import { isIPv4, isIPv6 } from 'node:net';

/** The /64 is the first four 16-bit groups. */
const PREFIX_GROUPS = 4;
const IPV6_GROUPS = 8;
/** `::ffff:0:0/96`: five zero groups, then 0xffff. */
const MAPPED_MARKER = 0xffff;

/**
 * The key a per-IP budget is kept under. An IPv6 client is handed a whole /64 (RFC 6177 and every ISP's practice) and
 * can pick any address in it at will: keyed by full address, it would get a fresh budget per address. So an IPv6
 * address counts as its /64, and an IPv4-mapped one (`::ffff:198.51.100.7`, what a dual-stack socket reports for an
 * IPv4 peer) as the IPv4 address it carries, so one client has one budget however its address is written.
 * Anything else (not an IP address) is kept as it is.
 */
export function ipRateKey(ip: string): string {
  const address = ip.trim();
  if (isIPv4(address)) return address;
  // A zone (`fe80::1%eth0`) names the interface, not the client.
  const unzoned = address.replace(/%.*$/, '');
  if (!isIPv6(unzoned)) return ip;
  const groups = ipv6Groups(unzoned);
  if (isIpv4Mapped(groups)) return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  return `${groups.slice(0, PREFIX_GROUPS).map((g) => g.toString(16)).join(':')}::/64`;
}

function isIpv4Mapped(groups: readonly number[]): boolean {
  return groups.slice(0, 5).every((g) => g === 0) && groups[5] === MAPPED_MARKER;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail turned into two groups). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const zeros = new Array<number>(IPV6_GROUPS - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}
