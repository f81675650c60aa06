// One delivery attempt for the recipients of one message that share a
// destination: find the hosts (route / smarthost list, or MX resolution),
// then try them in order until every recipient has a final answer. A
// recipient that gets a temporary answer (4xx, no connection, TLS trouble)
// from one host is carried to the next one; 2xx and 5xx are final. All the
// recipients go over one connection per host, reused from the connection
// cache when one is idle.
import type { Readable } from 'node:stream';
import type { Logger } from '../log/logger.ts';
import type { EsmtpParameters, RecipientDsn } from '../spool/types.ts';
import type { ConnectionCache } from './connection-cache.ts';
import type { DeliveryError } from './errors.ts';
import type { MxResolution } from './mx-resolver.ts';
import type { Destination } from './routing.ts';
import { cleanReply, localDeferral, localFailure, outcomeOfReply, type RecipientResult } from './smtp-reply.ts';
import { describeHost, peerName, SmtpSession, type SendOutcome, type SessionSettings, type SessionTarget, type TlsLevel } from './smtp-session.ts';
import type { TlsMemory } from './tls-memory.ts';
import type { TlsTrust } from './tls-trust.ts';
import { MessageForms, prepareTransaction } from './transaction.ts';

export interface JobInput {
  readonly queueId: string;
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly destination: Destination;
  readonly size: number;
  /** A fresh body for each try: the same Buffer, or a new file stream. */
  readonly body: () => Buffer | Readable;
  /** The MAIL FROM parameters the message came with (issue 21). */
  readonly esmtp?: EsmtpParameters;
  /** Per-recipient DSN parameters, parallel to `recipients`. */
  readonly dsn?: readonly (RecipientDsn | null)[];
}

export interface JobDeps {
  readonly settings: SessionSettings;
  readonly mxPort: number;
  readonly resolveMx: (domain: string) => Promise<MxResolution>;
  readonly cache: ConnectionCache;
  readonly tlsMemory: TlsMemory;
  /** TLS for MX delivery (delivery.tls) and the CA file level "verify" uses when a route names none (delivery.tls_ca_file). */
  readonly tls?: { readonly level: TlsLevel; readonly caFile?: string | undefined };
  /** Reads CA files for level "verify". */
  readonly trust?: TlsTrust;
  readonly logger: Logger;
  /** Sessions in use, so stop() can cut them when its grace runs out. */
  readonly active: Set<SmtpSession>;
  /** Hosts tried at most in one attempt. */
  readonly maxHosts?: number;
}

export interface JobReport {
  readonly results: RecipientResult[];
  readonly tried: string[];
}

/**
 * PURE. The connection cache key: a session is reused only for the same host,
 * port, TLS level and login, and at "verify" only for the same name and CA
 * file (a connection verified for one MX name says nothing about another
 * name on the same address).
 */
export function sessionKey(t: SessionTarget): string {
  const verified = t.tls === 'verify' ? `|${peerName(t)}|${t.ca?.file ?? ''}` : '';
  return `${t.host}:${t.port}|${t.tls}${verified}|${t.auth?.user ?? ''}`;
}

async function targetsFor(job: JobInput, deps: JobDeps): Promise<SessionTarget[] | RecipientResult[]> {
  const d = job.destination;
  const mxLevel = deps.tls?.level ?? 'opportunistic';
  // A REQUIRETLS message raises the level of its destination to verify, whatever is configured.
  const level = requiresTls(job) ? 'verify' : d.kind === 'mx' ? mxLevel : d.upstream.tls;
  const caFile = d.kind === 'mx' ? deps.tls?.caFile : (d.upstream.tls_ca_file ?? deps.tls?.caFile);
  let ca: SessionTarget['ca'];
  if (level === 'verify' && caFile !== undefined) {
    const load = (deps.trust ?? missingTrust).load(caFile);
    if ('error' in load) {
      const reason = `TLS required (level verify) but the CA file ${load.file} is unusable: ${load.error}`;
      return job.recipients.map((r) => localDeferral(r, reason, '4.3.5'));
    }
    ca = load;
  }
  const tls = { tls: level, ...(ca ? { ca } : {}) };
  if (d.kind !== 'mx') {
    const auth = d.upstream.auth_user !== undefined ? { user: d.upstream.auth_user, pass: d.upstream.auth_password ?? '' } : undefined;
    return d.upstream.hosts.map((h) => ({ host: h.host, port: h.port, name: h.host, ...tls, ...(auth ? { auth } : {}) }));
  }
  const resolution = await deps.resolveMx(d.domain);
  if (resolution.kind === 'permanent') return job.recipients.map((r) => localFailure(r, resolution.reason, resolution.enhanced));
  if (resolution.kind === 'temporary') return job.recipients.map((r) => localDeferral(r, resolution.reason, '4.4.3'));
  return resolution.hosts.map((h) => ({ host: h.address, port: deps.mxPort, name: h.name, ...tls }));
}

const missingTrust = { load: (file: string) => ({ file, error: 'no CA loader in this deliverer' }) };

async function openFresh(target: SessionTarget, deps: JobDeps): Promise<SmtpSession> {
  const key = `${target.host}:${target.port}`;
  const skipTls = deps.tlsMemory.skipTls(key, target.tls);
  try {
    return await SmtpSession.open(target, { ...deps.settings, skipTls });
  } catch (error) {
    const e = error as DeliveryError;
    if (e.code === 'DELIVERY_TLS' && target.tls === 'opportunistic' && !skipTls) {
      // The handshake failed: this level allows plain text (Postfix "may" does the same),
      // so try again without TLS and remember it for a while so the next messages go
      // straight to plain text. Never at encrypt or verify.
      deps.tlsMemory.remember(key, target.tls);
      deps.logger.warn({ host: describeHost(target), err: e.message }, 'TLS failed, retrying without TLS');
      return await SmtpSession.open(target, { ...deps.settings, skipTls: true });
    }
    throw error;
  }
}

/**
 * Whether the destination is the last SMTP hop for RFC 8689: MX delivery
 * (the recipient domain's own servers), or a route/smarthost configured with
 * last_hop = true (it delivers into mailboxes). REQUIRETLS goes to a last hop
 * when it offers it; a last hop that does not may still take the message at
 * level verify. Every other hop must offer REQUIRETLS.
 */
export function isLastHop(destination: Destination): boolean {
  return destination.kind === 'mx' || destination.upstream.last_hop;
}

/** REQUIRETLS could not be honoured with this host: the recipients fail with 5.7.10 (carried on to the next host, if any). */
function requireTlsFailure(recipient: string, reason: string, host: string): RecipientResult {
  return { recipient, status: 'failed', reply: cleanReply(`REQUIRETLS (RFC 8689): ${reason}`), enhanced: '5.7.10', host };
}

/** The message carries REQUIRETLS (RFC 8689): level verify at least, and REQUIRETLS at every hop but the last. */
function requiresTls(job: JobInput): boolean {
  return job.esmtp?.requiretls === true;
}

/** One transaction on an open session, shaped by what its server offered (transaction.ts). */
async function sendTo(session: SmtpSession, job: JobInput, recipients: readonly string[], forms: MessageForms, requireTls: boolean): Promise<SendOutcome> {
  const hop = session.extensions;
  const tx = await prepareTransaction(job, recipients, hop, forms, session.label);
  if (tx.recipients.length === 0) return { results: tx.refused, connectionLost: false };
  const outcome = await session.send(tx.sender, tx.recipients, tx.body(), tx.size, { ...tx.parameters, ...(requireTls ? { requireTls: true } : {}) });
  const results = outcome.results.map((r) => {
    const recipient = tx.original.get(r.recipient) ?? r.recipient;
    const passed = hop.dsn && r.status === 'delivered';
    return recipient === r.recipient && !passed ? r : { ...r, recipient, ...(passed ? { dsnPassed: true as const } : {}) };
  });
  if (tx.refused.length > 0) results.push(...tx.refused);
  return { results, connectionLost: outcome.connectionLost, ...(outcome.requireTlsNotOffered ? { requireTlsNotOffered: true as const } : {}) };
}

async function sendOnce(session: SmtpSession, job: JobInput, recipients: readonly string[], forms: MessageForms): Promise<SendOutcome> {
  if (!requiresTls(job)) return sendTo(session, job, recipients, forms, false);
  const outcome = await sendTo(session, job, recipients, forms, true);
  // The last hop may take it without REQUIRETLS: the session is already TLS at level verify.
  if (outcome.requireTlsNotOffered && isLastHop(job.destination)) return sendTo(session, job, recipients, forms, false);
  return outcome;
}

export async function deliverJob(job: JobInput, deps: JobDeps): Promise<JobReport> {
  const forms = new MessageForms(job, deps.logger);
  const targets = await targetsFor(job, deps);
  if (targets.length > 0 && 'status' in (targets[0] as object)) return { results: targets as RecipientResult[], tried: [] };
  const hosts = (targets as SessionTarget[]).slice(0, deps.maxHosts ?? 10);
  const tried: string[] = [];
  const final = new Map<string, RecipientResult>();
  const lastTemporary = new Map<string, RecipientResult>();
  let open = [...job.recipients];

  for (const target of hosts) {
    if (open.length === 0) break;
    const label = describeHost(target);
    tried.push(label);
    const key = sessionKey(target);
    let session = deps.cache.take(key);
    const reused = session !== undefined;
    let results: RecipientResult[];
    try {
      session ??= await openFresh(target, deps);
      deps.active.add(session);
      let outcome = await sendOnce(session, job, open, forms);
      if (outcome.connectionLost && reused) {
        // An idle connection the server had already dropped: not this host's answer.
        deps.active.delete(session);
        session.close();
        session = await openFresh(target, deps);
        deps.active.add(session);
        outcome = await sendOnce(session, job, open, forms);
      }
      results = outcome.results;
      // Without REQUIRETLS here, another host of the list may have it (RFC 8689 4.2.1).
      if (outcome.requireTlsNotOffered && target !== hosts[hosts.length - 1]) {
        results = results.map((r) => ({ ...r, status: 'deferred' as const }));
      }
      deps.active.delete(session);
      deps.cache.put(key, session);
    } catch (error) {
      if (session) {
        deps.active.delete(session);
        session.close();
      }
      const e = error as DeliveryError;
      // A refusal at greeting/EHLO/AUTH: this host will not take the mail, the next may.
      results = open.map((r) => {
        if (e.code === 'DELIVERY_TLS' && requiresTls(job)) return requireTlsFailure(r, e.message, label);
        if (e.code === 'DELIVERY_TLS') return localDeferral(r, e.enhanced ? e.message : `TLS negotiation failed: ${e.message}`, e.enhanced ?? '4.7.5', label);
        if (!e.reply) return localDeferral(r, e.message, '4.4.1', label);
        const outcome = outcomeOfReply(r, e.reply, label);
        return e.temporary ? { ...outcome, status: 'deferred' as const } : outcome;
      });
      // A 5xx greeting only counts as final when no other host is left to ask.
      const last = target === hosts[hosts.length - 1];
      if (!last) results = results.map((r) => (r.status === 'failed' ? { ...r, status: 'deferred' as const } : r));
    }
    const next: string[] = [];
    for (const result of results) {
      if (result.status === 'deferred') {
        lastTemporary.set(result.recipient, result);
        next.push(result.recipient);
      } else {
        final.set(result.recipient, result);
      }
    }
    open = next;
  }
  for (const rcpt of open) final.set(rcpt, lastTemporary.get(rcpt) ?? localDeferral(rcpt, 'no host could be tried'));
  return { results: job.recipients.map((r) => final.get(r) as RecipientResult), tried };
}
