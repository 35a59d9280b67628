import { isIPv4, isIPv6 } from 'node:net';

/** The host part of `host:port`, without IPv6 brackets. */
export function listenHost(listenAddr: string): string {
  const host = listenAddr.slice(0, listenAddr.lastIndexOf(':'));
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The port part of `host:port`. */
export function listenPort(listenAddr: string): number {
  return Number(listenAddr.slice(listenAddr.lastIndexOf(':') + 1));
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.x.x) and `localhost`: addresses no other machine can connect to. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  if (name === 'localhost') return true;
  if (isIPv4(name)) return name.startsWith('127.');
  if (!isIPv6(name)) return false;
  if (name === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(name)) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(name)?.[1];
  return mapped !== undefined && mapped.startsWith('127.');
}

export function isLoopbackListenAddr(listenAddr: string): boolean {
  return isLoopbackHost(listenHost(listenAddr));
}
