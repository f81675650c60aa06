// PURE. Which counter a client address falls into. IPv4 clients are counted
// per address by default; IPv6 clients per /64, because one host usually
// holds a whole /64 and would otherwise get a fresh counter per address
// (Postfix 3.8's smtpd_client_ipv6_prefix_length does the same). IPv4-mapped
// IPv6 counts as IPv4.
import ipaddr from 'ipaddr.js';
import { formatV4, v4Mask } from '../../net/cidr.ts';
import { parseDottedQuad } from '../../net/ip-text.ts';

export function clientKey(ip: string, ipv4Prefix: number, ipv6Prefix: number): string {
  // Hot path (every connection): a client's IPv4 address as the socket gives
  // it, four decimal numbers, is its own canonical text; no ipaddr.js parse.
  const v4 = parseDottedQuad(ip, 0);
  if (v4 >= 0) return ipv4Prefix >= 32 ? ip : `${formatV4((v4 & v4Mask(ipv4Prefix)) >>> 0)}/${ipv4Prefix}`;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    return ip; // not an address (a test or a unix socket): count it as written
  }
  if (address.kind() === 'ipv4') {
    if (ipv4Prefix >= 32) return address.toString();
    return `${ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${ipv4Prefix}`).toString()}/${ipv4Prefix}`;
  }
  if (ipv6Prefix >= 128) return address.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${ipv6Prefix}`).toString()}/${ipv6Prefix}`;
}
