// PURE. The Received: trace header we prepend (RFC 5321 §4.4), in the form
// Postfix writes it, with the protocol keyword from RFC 3848 (ESMTP, ESMTPS,
// ESMTPA, ESMTPSA) so a reader can see TLS and AUTH at a glance, and its
// UTF8SMTP forms (RFC 6531 3.7.3) when the transaction declared SMTPUTF8.

export interface ReceivedInfo {
  readonly helo: string;
  readonly clientIp: string;
  readonly clientHostname?: string;
  readonly ourHostname: string;
  readonly esmtp: boolean;
  readonly tls: boolean;
  readonly authenticated: boolean;
  /** The transaction declared SMTPUTF8. */
  readonly smtputf8?: boolean;
  readonly queueId: string;
  /** Named only when there is exactly one recipient, to avoid leaking Bcc lists. */
  readonly recipients: readonly string[];
  readonly date: Date;
}

export function protocolKeyword(info: Pick<ReceivedInfo, 'esmtp' | 'tls' | 'authenticated' | 'smtputf8'>): string {
  if (!info.esmtp) return 'SMTP';
  return `${info.smtputf8 ? 'UTF8SMTP' : 'ESMTP'}${info.tls ? 'S' : ''}${info.authenticated ? 'A' : ''}`;
}

/** RFC 5322 date-time, e.g. "Sun, 29 Nov 2026 11:28:49 +0000". */
export function rfc5322Date(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${days[date.getUTCDay()]}, ${date.getUTCDate()} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

const safe = (text: string) => text.replace(/[^\x21-\x7e]/g, '?').replace(/[()\\]/g, '?');

export function formatReceivedHeader(info: ReceivedInfo): string {
  const ipLiteral = info.clientIp.includes(':') ? `IPv6:${info.clientIp}` : info.clientIp;
  const from = `from ${safe(info.helo || 'unknown')} (${info.clientHostname ? `${safe(info.clientHostname)} ` : ''}[${ipLiteral}])`;
  const by = `by ${info.ourHostname} (relayguard) with ${protocolKeyword(info)} id ${safe(info.queueId)}`;
  const forPart = info.recipients.length === 1 ? `\r\n\tfor <${safe(info.recipients[0] as string)}>` : '';
  return `Received: ${from}\r\n\t${by}${forPart};\r\n\t${rfc5322Date(info.date)}\r\n`;
}
