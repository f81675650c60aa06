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
import { localDeferral, localFailure, outcomeOfReply, type RecipientResult } from './smtp-reply.ts';
import { describeHost, SmtpSession, type SessionSettings, type SessionTarget } from './smtp-session.ts';
import type { TlsMemory } from './tls-memory.ts';
import { MessageForms, prepareTransaction } from './transaction.ts';
import type { SendOutcome } from './smtp-session.ts';

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

const sessionKey = (t: SessionTarget) => `${t.host}:${t.port}|${t.tls}|${t.auth?.user ?? ''}`;

async function targetsFor(job: JobInput, deps: JobDeps): Promise<SessionTarget[] | RecipientResult[]> {
  const d = job.destination;
  if (d.kind !== 'mx') {
    const auth = d.upstream.auth_user !== undefined ? { user: d.upstream.auth_user, pass: d.upstream.auth_password ?? '' } : undefined;
    return d.upstream.hosts.map((h) => ({ host: h.host, port: h.port, name: h.host, tls: d.upstream.tls, ...(auth ? { auth } : {}) }));
  }
  const resolution = await deps.resolveMx(d.domain);
  if (resolution.kind === 'permanent') return job.recipients.map((r) => localFailure(r, resolution.reason, resolution.enhanced));
  if (resolution.kind === 'temporary') return job.recipients.map((r) => localDeferral(r, resolution.reason, '4.4.3'));
  return resolution.hosts.map((h) => ({ host: h.address, port: deps.mxPort, name: h.name, tls: 'opportunistic' as const }));
}

async function openFresh(target: SessionTarget, deps: JobDeps): Promise<SmtpSession> {
  const key = `${target.host}:${target.port}`;
  const skipTls = target.tls === 'opportunistic' && deps.tlsMemory.failedRecently(key);
  try {
    return await SmtpSession.open(target, { ...deps.settings, skipTls });
  } catch (error) {
    const e = error as DeliveryError;
    if (e.code === 'DELIVERY_TLS' && target.tls === 'opportunistic' && !skipTls) {
      // The handshake failed: this route allows plain text, so try again without TLS and
      // remember it for a while so the next messages go straight to plain text.
      deps.tlsMemory.remember(key);
      deps.logger.warn({ host: describeHost(target), err: e.message }, 'TLS failed, retrying without TLS');
      return await SmtpSession.open(target, { ...deps.settings, skipTls: true });
    }
    throw error;
  }
}

/** One transaction on an open session, shaped by what its server offered (transaction.ts). */
async function sendTo(session: SmtpSession, job: JobInput, recipients: readonly string[], forms: MessageForms): Promise<SendOutcome> {
  const hop = session.extensions;
  const tx = await prepareTransaction(job, recipients, hop, forms, session.label);
  if (tx.recipients.length === 0) return { results: tx.refused, connectionLost: false };
  const outcome = await session.send(tx.sender, tx.recipients, tx.body(), tx.size, tx.parameters);
  const results = outcome.results.map((r) => {
    const recipient = tx.original.get(r.recipient) ?? r.recipient;
    const passed = hop.dsn && r.status === 'delivered';
    return recipient === r.recipient && !passed ? r : { ...r, recipient, ...(passed ? { dsnPassed: true as const } : {}) };
  });
  if (tx.refused.length > 0) results.push(...tx.refused);
  return { results, connectionLost: outcome.connectionLost };
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
      let outcome = await sendTo(session, job, open, forms);
      if (outcome.connectionLost && reused) {
        // An idle connection the server had already dropped: not this host's answer.
        deps.active.delete(session);
        session.close();
        session = await openFresh(target, deps);
        deps.active.add(session);
        outcome = await sendTo(session, job, open, forms);
      }
      results = outcome.results;
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
        if (e.code === 'DELIVERY_TLS') return localDeferral(r, `TLS negotiation failed: ${e.message}`, '4.7.5', label);
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
