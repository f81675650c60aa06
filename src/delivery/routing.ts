// PURE. Where a recipient's mail goes, in order: a per-domain route
// ([[delivery.routes]], "example.org" exact or ".example.org" for its
// subdomains), else the smarthost (mode "smarthost"), else the domain's MX
// (mode "mx"). Recipients with the same destination share one transaction.
import { asciiDomain } from '../net/ascii-domain.ts';
import type { RawConfig, UpstreamConfig } from '../config/schema.ts';

export type DeliveryConfig = RawConfig['delivery'];

export type Destination =
  | { readonly kind: 'route'; readonly key: string; readonly upstream: UpstreamConfig }
  | { readonly kind: 'smarthost'; readonly key: string; readonly upstream: UpstreamConfig }
  | { readonly kind: 'mx'; readonly key: string; readonly domain: string };

export interface DestinationGroup {
  readonly destination: Destination;
  readonly recipients: string[];
}

/** The domain of an address, lower-case ASCII (punycode), without a trailing dot. */
export function recipientDomain(address: string): string {
  const at = address.lastIndexOf('@');
  const domain = (at >= 0 ? address.slice(at + 1) : '').toLowerCase().replace(/\.$/, '');
  if (domain.startsWith('[')) return domain;
  return asciiDomain(domain) || domain;
}

export function destinationFor(recipient: string, delivery: DeliveryConfig): Destination {
  const domain = recipientDomain(recipient);
  for (const [index, route] of delivery.routes.entries()) {
    for (const pattern of route.domains) {
      const p = pattern.toLowerCase().replace(/\.$/, '');
      if (p === domain || (p.startsWith('.') && domain.endsWith(p))) {
        return { kind: 'route', key: `route:${index}`, upstream: route };
      }
    }
  }
  if (delivery.mode === 'smarthost' && delivery.smarthost) {
    return { kind: 'smarthost', key: 'smarthost', upstream: delivery.smarthost };
  }
  return { kind: 'mx', key: `mx:${domain}`, domain };
}

export function groupByDestination(recipients: readonly string[], delivery: DeliveryConfig): DestinationGroup[] {
  const groups = new Map<string, DestinationGroup>();
  for (const rcpt of recipients) {
    const destination = destinationFor(rcpt, delivery);
    const group = groups.get(destination.key);
    if (group) {
      if (!group.recipients.includes(rcpt)) group.recipients.push(rcpt);
    } else {
      groups.set(destination.key, { destination, recipients: [rcpt] });
    }
  }
  return [...groups.values()];
}
