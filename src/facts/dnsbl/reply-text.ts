// PURE. The text a listing adds to the SMTP refusal: the zone's configured
// `reply` template ({ip}, {domain}, {zone}, {txt}) or else its TXT record.
// The text goes to the client, so it is made safe here: printable ASCII on one
// line, bounded length, and any trace of the zone's secret access key replaced
// by the zone's display name (some lists echo the query name in their TXT).
import type { DnsblZone } from '../../config/dnsbl-file.ts';

const MAX_LENGTH = 200;

export interface ReplyVars {
  readonly ip: string;
  readonly domain?: string;
  readonly txt?: string;
}

/** Does this zone need the TXT record for its reply? */
export function wantsTxt(zone: DnsblZone): boolean {
  return zone.txt && (zone.reply === undefined || zone.reply.includes('{txt}'));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** One line of printable ASCII without the zone's key; '' when nothing is left. */
export function sanitizeText(text: string, zone: DnsblZone): string {
  let safe = text.replace(/[^\x20-\x7e]+/g, ' ');
  if (zone.key) {
    safe = safe.replace(new RegExp(`${escapeRegExp(zone.key)}\\.${escapeRegExp(zone.zone)}`, 'gi'), zone.name);
    safe = safe.replace(new RegExp(escapeRegExp(zone.key), 'gi'), '...');
  }
  safe = safe.replace(/\s+/g, ' ').trim();
  return safe.length > MAX_LENGTH ? `${safe.slice(0, MAX_LENGTH - 3)}...` : safe;
}

/** The reply text for a listing, or undefined when there is none. */
export function renderReplyText(zone: DnsblZone, vars: ReplyVars): string | undefined {
  const template = zone.reply ?? '{txt}';
  const values: Record<string, string> = { ip: vars.ip, domain: vars.domain ?? '', zone: zone.name, txt: vars.txt ?? '' };
  const text = sanitizeText(
    template.replace(/\{(ip|domain|zone|txt)\}/g, (_, name: string) => values[name] ?? ''),
    zone,
  );
  return text === '' ? undefined : text;
}
