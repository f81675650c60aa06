// Which TCP peers may send a PROXY header: the listener's
// proxy_protocol_from CIDRs. Built once per listener; IPv4-mapped IPv6 peers
// (a dual-stack socket) match IPv4 entries.
import ipaddr from 'ipaddr.js';

export function buildProxyTrust(cidrs: readonly string[]): (peer: string) => boolean {
  if (cidrs.length === 0) return () => false;
  const ranges = cidrs.map((text) => (text.includes('/') ? ipaddr.parseCIDR(text) : (() => {
    const address = ipaddr.parse(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
  })()));
  return (peer: string) => {
    let address: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      address = ipaddr.process(peer);
    } catch {
      return false;
    }
    return ranges.some(([network, bits]) => address.kind() === network.kind() && address.match(network, bits));
  };
}
