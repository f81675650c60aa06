// Connection and rate facts for a live session, from the counters compared
// with limits.toml. When what is counted:
//   connect  the connection is open (global, and per client prefix) until
//            close(); a new connection counts in the client's connection rate.
//   MAIL     the message counts in the per-IP, per-user and per-sender-domain
//            message windows, provisionally: it stays counted once DATA is
//            accepted, and is taken back if the transaction ends without DATA
//            (RSET, a new MAIL, the client leaves).
//   RCPT     the recipient counts in the recipient windows; it stays counted
//            once accepted (whether or not a message follows).
// Whatever the engine refuses (421 at connect, 4xx/5xx at MAIL/RCPT, for any
// reason) is taken back at once, so refused attempts never push an honest
// client's counts up, and a client held at its limit stays exactly there.
// Counting first and refunding later (rather than reading, deciding, then
// counting) keeps the limit exact when one client runs many sessions at once,
// in this process or, with a shared store, across instances.
//
// A policy-service session (ctx.listener.source, src/policy-service) counts in
// the connection rate windows once, at its first request, but never as open:
// Postfix does not say when its SMTP session ends, so an open count would
// stay up long after the client left (300 sequential sessions from one host
// would hit ip.max_connections). Postfix's anvil limits concurrency there
// (smtpd_client_connection_count_limit), knowing when each session ends.
//
// Exempt clients are not counted in the scopes they are exempt from (the
// rules in policy/rules/connection-limits.ts and rate-limits.ts apply the same
// exemptions): relay networks and the allowlist skip every per-IP and
// per-sender-domain count, authenticated users the per-IP ones (their own
// windows apply). The global connection cap counts everyone.
//
// A counter that fails (a shared store down) fails open by default: reported,
// no facts. With failOpen false the stage gets `unavailable` facts instead,
// which the rules turn into a 4xx (limits.unavailable).
import { NO_STAGE_FACTS, type FactsProvider, type SessionFacts } from '../session-facts.ts';
import { isPending, type Answer, type ConcurrencyCounter, type RateCounter, type WindowCount } from './counters.ts';
import type { LimitsPolicy, RateWindows } from '../../config/limits-file.ts';
import { clientKey } from './client-key.ts';
import { connectionExceeded, named, rateExceeded, userWindows, type ApplicableWindow, type ConnectionCounts, type CountedKind, type CountedWindow } from './compare-limits.ts';
import type { Decision, Stage } from '../../policy/decision.ts';
import type { SessionContext } from '../../policy/context.ts';
import type { Facts } from '../../policy/facts.ts';
import type { PolicySnapshot } from '../../config/snapshot.ts';
import { inRelayNetworks, isAllowlisted } from '../../config/trust.ts';
import { normalizeUserName } from '../../config/users-file.ts';
import type { Logger } from '../../log/logger.ts';

export interface LimitsCounters {
  readonly rates: RateCounter;
  readonly connections: ConcurrencyCounter;
}

/** The concurrency key of all connections of the process. */
export const GLOBAL_KEY = 'global';

interface Counted {
  readonly key: string;
  readonly windowMs: number;
  readonly added: WindowCount;
}

/** The stages that count something. */
type CountingStage = 'connect' | 'mail' | 'rcpt';

const refused = (decision: Decision): boolean => decision.verdict === 'reject' || decision.verdict === 'defer';

/**
 * The windows of limits.toml named for the facts, built once per policy (the
 * windows arrays are the snapshot's, frozen) rather than at every stage.
 */
const namedWindows = new WeakMap<RateWindows, Map<string, readonly ApplicableWindow[]>>();

function namedOnce(scope: ApplicableWindow['scope'], name: string, windows: RateWindows): readonly ApplicableWindow[] {
  let byName = namedWindows.get(windows);
  if (!byName) namedWindows.set(windows, (byName = new Map()));
  let applicable = byName.get(name);
  if (!applicable) byName.set(name, (applicable = Object.freeze(named(scope, name, windows))));
  return applicable;
}

/**
 * The window with its count. Hot path (every counted window): written out
 * rather than `{ ...applicable, count }`, which V8 (Node 20) does not clone
 * fast when a property is added to the spread: over 1 µs each.
 */
function withCount(applicable: ApplicableWindow, count: number): CountedWindow {
  const { scope, name, window, quota } = applicable;
  return quota === undefined ? { scope, name, window, count } : { scope, name, window, quota, count };
}

export interface LimitsProviderOptions {
  /** A counter that fails: true (default) decides without it; false defers the client. */
  readonly failOpen?: boolean;
  /**
   * Told about every failed count (default: a warn line each). A shared store
   * reports its outages itself (once each), so the cluster passes a quieter one.
   */
  readonly onCounterError?: (error: unknown, what: { stage: Stage; client: string }) => void;
}

export function limitsProvider(counters: LimitsCounters, logger: Logger, options: LimitsProviderOptions = {}): FactsProvider {
  const settings: Required<LimitsProviderOptions> = {
    failOpen: options.failOpen ?? true,
    onCounterError:
      options.onCounterError ??
      ((error, { stage, client }) => logger.warn({ err: error, stage, client }, 'rate counters failed; limits not applied to this command')),
  };
  return {
    name: 'limits',
    open: (ctx, snapshot) => new LimitsSession(counters, logger, settings, ctx, snapshot),
  };
}

class LimitsSession implements SessionFacts {
  readonly #counters: LimitsCounters;
  readonly #logger: Logger;
  readonly #settings: Required<LimitsProviderOptions>;
  readonly #snapshot: PolicySnapshot;
  readonly #limits: LimitsPolicy;
  /** Counting key of the client (address or prefix). */
  readonly #client: string;
  /** Relay networks and allowlist: no per-IP or per-sender-domain counting. */
  readonly #trusted: boolean;
  /** Open connections are counted (not for a policy-service session: see the header). */
  readonly #countOpen: boolean;
  readonly #held: string[] = [];
  /**
   * What the last gather of each counting stage counted, until the engine's
   * decision settles it. Fields, not a Map: a Map set and emptied at every
   * stage reallocates its table each time (about 0.8 KB per session).
   */
  readonly #pending: Record<CountingStage, Counted[] | undefined> = { connect: undefined, mail: undefined, rcpt: undefined };
  /** The current transaction's message, counted at MAIL, kept once DATA is accepted. */
  #message: Counted[] = [];
  #closed = false;

  constructor(counters: LimitsCounters, logger: Logger, settings: Required<LimitsProviderOptions>, ctx: SessionContext, snapshot: PolicySnapshot) {
    this.#counters = counters;
    this.#logger = logger;
    this.#settings = settings;
    this.#snapshot = snapshot;
    this.#limits = snapshot.limits;
    this.#client = clientKey(ctx.clientIp, this.#limits.ip.ipv4Prefix, this.#limits.ip.ipv6Prefix);
    this.#trusted = inRelayNetworks(ctx, snapshot) || isAllowlisted(ctx, snapshot);
    this.#countOpen = ctx.listener.source !== 'policy service';
  }

  // Not async: the stages that count nothing (HELO, AUTH, DATA) answer with a
  // value, and so do the others when every counter answers at once (the
  // in-process ones); a counter that must wait (a shared store) makes it a
  // promise (one per counted window, see #count).
  gather(stage: Stage, ctx: SessionContext): Facts | Promise<Facts> {
    if (stage !== 'connect' && stage !== 'mail' && stage !== 'rcpt') return NO_STAGE_FACTS;
    let counting: Answer<Facts>;
    try {
      if (stage === 'connect') counting = this.#connect();
      else if (stage === 'mail') {
        const refunding = this.#takeBack(this.#message); // the previous transaction never reached DATA
        this.#message = [];
        // Counted once that message is taken back, so it never counts against this one
        // (a store that answers later used to count this one first: MAIL, RSET, MAIL at the limit was refused).
        counting = refunding === undefined ? this.#rates('mail', 'messages', ctx) : refunding.then(() => this.#rates('mail', 'messages', ctx));
      } else counting = this.#rates('rcpt', 'recipients', ctx);
    } catch (error) {
      counting = Promise.reject(error);
    }
    return isPending(counting) ? counting.catch((error: unknown) => this.#failed(error, stage, ctx)) : counting;
  }

  #failed(error: unknown, stage: Stage, ctx: SessionContext): Facts {
    this.#settings.onCounterError(error, { stage, client: ctx.clientIp });
    if (this.#settings.failOpen) return {};
    return stage === 'connect' ? { connection: { unavailable: true } } : { rate: { exceeded: [], unavailable: true } };
  }

  decided(stage: Stage, _ctx: SessionContext, decision: Decision): void {
    let counted: Counted[] = [];
    if (stage === 'connect' || stage === 'mail' || stage === 'rcpt') {
      counted = this.#pending[stage] ?? [];
      this.#pending[stage] = undefined;
    }
    if (stage === 'data') {
      if (!refused(decision)) this.#message = []; // the message stays counted
      return;
    }
    if (refused(decision)) {
      this.#takeBack(counted);
      if (stage === 'mail') this.#message = [];
    } else if (stage === 'mail') {
      this.#message = counted;
    }
  }

  close(): void {
    this.#closed = true;
    for (const key of this.#held.splice(0)) this.#release(key);
    this.#takeBack(this.#message);
    this.#message = [];
  }

  #connect(): Answer<Facts> {
    const { ip } = this.#limits;
    const global = this.#countOpen ? this.#acquire(GLOBAL_KEY) : undefined;
    const perIp = this.#trusted || !this.#countOpen ? undefined : this.#acquire(`ip:${this.#client}`);
    const windows = this.#trusted ? [] : namedOnce('ip', 'ip.connections', ip.connections);
    const rates = this.#count('connect', `conn:${this.#client}`, windows);
    if (isPending(global) || isPending(perIp) || isPending(rates)) {
      return Promise.all([global, perIp, rates]).then(([globalCount, ipCount, ipRates]) => this.#connectionFacts(globalCount, ipCount, ipRates));
    }
    return this.#connectionFacts(global, perIp, rates);
  }

  #connectionFacts(globalCount: number | undefined, ipCount: number | undefined, ipRates: CountedWindow[]): Facts {
    // Built field by field in the order the facts have always had (the journal records them).
    const measured: { -readonly [K in keyof ConnectionCounts]: ConnectionCounts[K] } = {};
    if (globalCount !== undefined) measured.global = globalCount;
    if (ipCount !== undefined) measured.ip = ipCount;
    measured.ipRates = ipRates;
    const exceeded = connectionExceeded(measured, this.#limits);
    const counts: { global?: number; ip?: number; ipRates?: Array<{ windowMs: number; count: number }> } = {};
    if (globalCount !== undefined) counts.global = globalCount;
    if (ipCount !== undefined) counts.ip = ipCount;
    if (ipRates.length > 0) counts.ipRates = ipRates.map(({ window, count }) => ({ windowMs: window.windowMs, count }));
    return { connection: exceeded ? { exceeded, counts } : { counts } };
  }

  #rates(stage: 'mail' | 'rcpt', kind: CountedKind, ctx: SessionContext): Answer<Facts> {
    const prefix = kind === 'messages' ? 'msg' : 'rcpt';
    const parts: Array<Answer<CountedWindow[]>> = [];
    if (!this.#trusted && ctx.user === undefined) {
      parts.push(this.#count(stage, `${prefix}:ip:${this.#client}`, namedOnce('ip', `ip.${kind}`, this.#limits.ip[kind])));
    }
    if (ctx.user !== undefined) {
      const quota = this.#snapshot.users.get(ctx.user)?.quota;
      parts.push(this.#count(stage, `${prefix}:user:${normalizeUserName(ctx.user)}`, userWindows(kind, quota, this.#limits)));
    }
    if (!this.#trusted && ctx.sender?.kind === 'mailbox') {
      parts.push(this.#count(stage, `${prefix}:domain:${ctx.sender.domain}`, namedOnce('sender_domain', `sender_domain.${kind}`, this.#limits.senderDomain[kind])));
    }
    return parts.some(isPending) ? Promise.all(parts).then(rateFacts) : rateFacts(parts as CountedWindow[][]);
  }

  /** Counts one event under `key` in each window, remembering it for the stage's decision. */
  #count(stage: CountingStage, key: string, windows: readonly ApplicableWindow[]): Answer<CountedWindow[]> {
    // A counter that answers at once: the counts, no promise. One that waits:
    // one promise per window (its count noted as soon as it is known, so a
    // failing window never hides one that counted), no async closure each.
    const counted = new Array<Answer<CountedWindow>>(windows.length);
    let waiting = false;
    for (let i = 0; i < windows.length; i++) {
      const applicable = windows[i] as ApplicableWindow;
      let adding: Answer<WindowCount>;
      try {
        adding = this.#counters.rates.add(key, applicable.window.windowMs);
      } catch (error) {
        adding = Promise.reject(error); // a counter that throws fails like one that rejects
      }
      if (isPending(adding)) {
        waiting = true;
        counted[i] = adding.then((added) => this.#noted(stage, key, applicable, added));
      } else counted[i] = this.#noted(stage, key, applicable, adding);
    }
    return waiting ? Promise.all(counted) : (counted as CountedWindow[]);
  }

  #noted(stage: CountingStage, key: string, applicable: ApplicableWindow, added: WindowCount): CountedWindow {
    let list = this.#pending[stage];
    if (!list) this.#pending[stage] = list = [];
    list.push({ key, windowMs: applicable.window.windowMs, added });
    return withCount(applicable, added.count);
  }

  #acquire(key: string): Answer<number> {
    let acquiring: Answer<number>;
    try {
      acquiring = this.#counters.connections.acquire(key);
    } catch (error) {
      return Promise.reject(error); // fails the stage like a rejection, after the other counts are taken
    }
    return isPending(acquiring) ? acquiring.then((count) => this.#hold(key, count)) : this.#hold(key, acquiring);
  }

  #hold(key: string, count: number): number {
    // The client may have gone while the counter answered: give it back at once.
    if (this.#closed) this.#release(key);
    else this.#held.push(key);
    return count;
  }

  #release(key: string): void {
    try {
      const releasing = this.#counters.connections.release(key);
      if (isPending(releasing)) releasing.catch((error: unknown) => this.#releaseFailed(error, key));
    } catch (error) {
      this.#releaseFailed(error, key);
    }
  }

  #releaseFailed(error: unknown, key: string): void {
    this.#logger.warn({ err: error, key }, 'releasing a connection count failed');
  }

  /** Refunds what was counted; a promise when a counter must be waited for (it never rejects: failures are logged). */
  #takeBack(counted: readonly Counted[]): Promise<unknown> | undefined {
    let waiting: Array<Promise<void>> | undefined;
    for (const { key, windowMs, added } of counted) {
      try {
        const refunding = this.#counters.rates.refund(key, windowMs, added);
        if (isPending(refunding)) (waiting ??= []).push(refunding.catch((error: unknown) => this.#refundFailed(error, key)));
      } catch (error) {
        this.#refundFailed(error, key);
      }
    }
    return waiting && Promise.all(waiting);
  }

  #refundFailed(error: unknown, key: string): void {
    this.#logger.warn({ err: error, key }, 'refunding a rate count failed');
  }
}

function rateFacts(lists: CountedWindow[][]): Facts {
  // A loop rather than lists.flat(), ten times slower on Node 20 for two short lists (MAIL and RCPT with sender-domain windows).
  let counted = lists[0] ?? [];
  if (lists.length > 1) {
    counted = [];
    for (const list of lists) for (const window of list) counted.push(window);
  }
  const counts = counted.map(({ scope, name, window, count }) => ({ scope, name, windowMs: window.windowMs, count }));
  return { rate: { exceeded: rateExceeded(counted), counts } };
}
