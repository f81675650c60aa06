// recipientProbe facts for a live session: at RCPT, when config.toml
// [recipient_verification] is enabled, a recipient in a local domain is
// verified against the next hop that would carry its mail
// (recipient-verifier.ts) unless:
//   - the client is in relay-networks or authenticated (their bounces go to
//     our own users; the rule exempts them too);
//   - it is postmaster (bare, or postmaster@ a local domain: always accepted);
//   - its domain is not selected (recipient_verification.domains, empty = all);
//   - policies/recipients already says "unknown" (the static rule refuses it
//     without asking anyone), or lists it / catches all: then the probe still
//     runs, so the two sources combine as Postfix's relay_recipient_maps and
//     reject_unverified_recipient do (both must pass);
//   - the domain is delivered by MX lookup: there is no fixed next hop to ask
//     (Postfix would probe the MX, which on the internet is usually us or a
//     stranger); such domains are not verified live.
// With verification off the provider costs nothing per RCPT (a shared empty value, no promise).
import type { Config } from '../../config/schema.ts';
import type { PolicySnapshot } from '../../config/snapshot.ts';
import { normaliseDomain } from '../../net/domain-set.ts';
import type { Logger } from '../../log/logger.ts';
import type { RcptContext } from '../../policy/context.ts';
import { NO_STAGE_FACTS, type FactsProvider, type SessionFacts } from '../session-facts.ts';
import type { NextHop } from './hop-pool.ts';
import type { RecipientVerifier, VerifySettings } from './recipient-verifier.ts';

/** Where the mail for `address` would go; undefined when delivered by MX lookup (not verified). */
export type NextHopResolver = (address: string, config: Config) => NextHop | undefined;

export interface RecipientProbeOptions {
  readonly verifier: RecipientVerifier;
  readonly nextHop: NextHopResolver;
  readonly logger: Logger;
  /**
   * false (explain without --probe-recipients): do not ask the next hop;
   * the fact says not_probed and `notProbed` hears which recipient and hop.
   */
  readonly live?: boolean;
  readonly notProbed?: (address: string, hop: string) => void;
}


interface Prepared {
  readonly settings: VerifySettings;
  /** undefined: every local domain. */
  readonly domains: ReadonlySet<string> | undefined;
}

const prepared = new WeakMap<Config, Prepared>();

/** The verifier's settings for a config (computed once per snapshot). */
export function verifySettings(config: Config): VerifySettings {
  return prepare(config).settings;
}

function prepare(config: Config): Prepared {
  let entry = prepared.get(config);
  if (entry) return entry;
  const v = config.recipient_verification;
  const names = v.domains.map((d) => normaliseDomain(d)).filter((d) => d.ok).map((d) => d.domain);
  entry = {
    settings: {
      heloName: config.hostname,
      connections: v.connections_per_hop,
      idleTimeout: v.idle_timeout,
      commandTimeout: v.command_timeout,
      timeout: v.timeout,
      positiveTtl: v.positive_ttl,
      positiveRefresh: v.positive_refresh,
      negativeTtl: v.negative_ttl,
      negativeRefresh: v.negative_refresh,
    },
    domains: names.length > 0 ? new Set(names) : undefined,
  };
  prepared.set(config, entry);
  return entry;
}

/** Whether a recipient of a local domain from this client would be verified live (the hop), or not. */
export function probeTarget(ctx: RcptContext, snapshot: PolicySnapshot, nextHop: NextHopResolver): NextHop | undefined {
  const { recipient } = ctx;
  if (recipient.literal !== undefined || !snapshot.localDomains.has(recipient.domain)) return undefined;
  if (ctx.user !== undefined || snapshot.relayNetworks.lookup(ctx.clientIp) !== undefined) return undefined;
  if (recipient.barePostmaster === true || (!recipient.quoted && recipient.localText.toLowerCase() === 'postmaster')) return undefined;
  const { domains } = prepare(snapshot.config);
  if (domains !== undefined && !domains.has(recipient.domain)) return undefined;
  if (snapshot.recipients.lookup(recipient.localText, recipient.domain) === 'unknown') return undefined;
  return nextHop(recipient.address, snapshot.config);
}

export function recipientProbeProvider(options: RecipientProbeOptions): FactsProvider {
  const { verifier, nextHop, logger } = options;
  return {
    name: 'recipient-probe',
    open(_ctx, snapshot): SessionFacts {
      const enabled = snapshot.config.recipient_verification.enabled;
      return {
        gather(stage, ctx) {
          if (!enabled || stage !== 'rcpt') return NO_STAGE_FACTS;
          const rcptCtx = ctx as RcptContext;
          if (rcptCtx.recipient === undefined) return NO_STAGE_FACTS;
          const hop = probeTarget(rcptCtx, snapshot, nextHop);
          if (hop === undefined) return NO_STAGE_FACTS;
          if (options.live === false) {
            options.notProbed?.(rcptCtx.recipient.address, hop.label);
            return { recipientProbe: { outcome: 'not_probed', hop: hop.label, source: 'none' } };
          }
          return verifier.verify(hop, rcptCtx.recipient.address, prepare(snapshot.config).settings).then((recipientProbe) => {
            if (recipientProbe.outcome === 'unavailable') {
              logger.warn({ recipient: rcptCtx.recipient.address, hop: hop.label, reply: recipientProbe.reply, client: ctx.clientIp }, 'recipient verification: no answer from the next hop');
            }
            return { recipientProbe };
          });
        },
        close: () => undefined,
      };
    },
  };
}
