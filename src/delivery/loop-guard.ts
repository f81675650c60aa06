// Which host:port pairs are our own listeners. A listener bound to a wildcard
// (0.0.0.0, ::) owns that port on every local interface address. The
// composition root passes the addresses actually bound (ports may be 0 in
// config and ephemeral at run time).
import { networkInterfaces } from 'node:os';
import ipaddr from 'ipaddr.js';

export type OwnAddresses = () => ReadonlyArray<{ readonly host: string; readonly port: number }>;

function normalize(ip: string): string | undefined {
  try {
    return ipaddr.process(ip).toNormalizedString();
  } catch {
    return undefined;
  }
}

function localInterfaceAddresses(): Set<string> {
  const set = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const n = normalize(info.address.split('%')[0] as string);
      if (n) set.add(n);
    }
  }
  return set;
}

export function isOwnAddress(address: string, port: number, own: ReturnType<OwnAddresses>): boolean {
  const target = normalize(address);
  if (!target) return false;
  let interfaces: Set<string> | undefined;
  for (const listener of own) {
    if (listener.port !== port) continue;
    const host = normalize(listener.host);
    if (!host) continue;
    if (host === '0.0.0.0' || host === '0:0:0:0:0:0:0:0') {
      interfaces ??= localInterfaceAddresses();
      if (interfaces.has(target)) return true;
    } else if (host === target) {
      return true;
    }
  }
  return false;
}
