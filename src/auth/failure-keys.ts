// Which counters an AUTH attempt touches: one for the client network, one for
// the user name. IPv4-mapped IPv6 counts as the IPv4 address; other IPv6
// clients count per /64, since whoever holds one address usually holds the
// whole /64 and could otherwise rotate addresses to dodge the lockout.
import ipaddr from 'ipaddr.js';
import { normalizeUserName } from '../config/users-file.ts';

export interface FailureKeys {
  readonly ip: string;
  readonly user: string;
}

export function clientCounterKey(clientIp: string): string {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(clientIp);
  } catch {
    return clientIp; // not an address (should not happen); still count it
  }
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16));
  return `${parts.join(':')}::/64`;
}

export function failureKeys(clientIp: string, username: string): FailureKeys {
  return { ip: `ip:${clientCounterKey(clientIp)}`, user: `user:${normalizeUserName(username)}` };
}
