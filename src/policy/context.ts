// PURE. What the policy knows about an SMTP session at the moment it decides.
// The front door builds a SessionContext once per connection and derives a new
// one (immutable, spread) as HELO, AUTH, MAIL and RCPT succeed. Addresses in
// it are already parsed and normalised (address.ts).
import { normalizeIp } from '../net/ip-text.ts';
import type { Mailbox, Sender } from './address.ts';
import type { ListenerConfig } from '../config/schema.ts';

export type ListenerRole = 'mx' | 'submission';

export interface ListenerInfo {
  /** As named in config.toml (listeners[].name), else "<role>:<port>". */
  readonly name: string;
  readonly role: ListenerRole;
  readonly tls: 'none' | 'starttls' | 'implicit';
  /** Whether SMTP AUTH is offered on this listener at all. */
  readonly authOffered: boolean;
  /**
   * Who asks: absent for relayguard's own SMTP listeners; "policy service" for
   * a Postfix asking through check_policy_service (src/policy-service). Postfix
   * never says when its SMTP session ends, so open connections are not counted
   * for it (its anvil does that: smtpd_client_connection_count_limit).
   */
  readonly source?: SessionSource;
}

/** The protocol front a session came through, when it is not relayguard's own SMTP listener. */
export type SessionSource = 'policy service';

export interface OurIdentity {
  /** config.hostname: the greeting name, compared with HELO by anti-abuse rules. */
  readonly hostname: string;
  /** Our IP addresses (canonical, see normalizeIp): recipient literals must be one of them. */
  readonly addresses: ReadonlySet<string>;
}

export interface SessionContext {
  readonly listener: ListenerInfo;
  /** Canonical client IP (IPv4-mapped IPv6 as IPv4). */
  readonly clientIp: string;
  /** True once the session is encrypted (implicit TLS or after STARTTLS). */
  readonly tls: boolean;
  readonly helo?: string;
  /** The SASL user name after a successful AUTH. */
  readonly user?: string;
  /** Set after MAIL FROM was accepted. */
  readonly sender?: Sender;
  /** Recipients accepted so far in this transaction. */
  readonly recipients: readonly Mailbox[];
  /** The current transaction declared SMTPUTF8 on MAIL FROM (RFC 6531). */
  readonly smtputf8?: boolean;
  readonly ours: OurIdentity;
}

/** The context MAIL-stage rules see: the sender under decision and its declared SIZE. */
export interface MailContext extends SessionContext {
  readonly sender: Sender;
  readonly declaredSize?: number;
}

/** The context RCPT-stage rules see: the recipient under decision. */
export interface RcptContext extends SessionContext {
  readonly sender: Sender;
  readonly recipient: Mailbox;
}

/** The context AUTH-stage rules see: who tries to log in (never the password). */
export interface AuthContext extends SessionContext {
  readonly attempt: { readonly user: string; readonly mechanism: string };
}

export function listenerInfo(listener: ListenerConfig & { readonly source?: SessionSource }): ListenerInfo {
  return {
    name: listener.name ?? `${listener.role}:${listener.address.port}`,
    role: listener.role,
    tls: listener.tls,
    authOffered: listener.auth ?? listener.role === 'submission',
    ...(listener.source !== undefined ? { source: listener.source } : {}),
  };
}

export interface SessionStart {
  readonly listener: ListenerInfo;
  readonly clientIp: string;
  readonly tls: boolean;
  readonly hostname: string;
  /** Our addresses in any spelling; unparsable entries are ignored. */
  readonly ourAddresses: Iterable<string>;
}

/** A fresh context at connect, with the client IP and our addresses canonical. */
export function createSessionContext(start: SessionStart): SessionContext {
  const addresses = new Set<string>();
  for (const text of start.ourAddresses) {
    const ip = normalizeIp(text);
    if (ip !== undefined) addresses.add(ip);
  }
  return {
    listener: start.listener,
    clientIp: normalizeIp(start.clientIp) ?? start.clientIp,
    tls: start.tls,
    recipients: [],
    ours: { hostname: start.hostname.toLowerCase(), addresses },
  };
}
