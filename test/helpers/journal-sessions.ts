// Closed sessions for the decision journal's encoder: the one the throughput
// bench makes (every policy on, one message) and a seeded, varied set that
// sets every optional key of a record in many combinations, with strings
// JSON must escape (quotes, backslashes, control characters, non-ASCII,
// lone surrogates).
import type { Decision } from '../../src/policy/decision.ts';
import type { Facts } from '../../src/policy/facts.ts';
import type { ZoneResult } from '../../src/policy/dnsbl-rule.ts';
import type { SessionRecord, SessionStep, StepCall } from '../../src/session/session-record.ts';
import { MAX_SESSION_STEPS } from '../../src/session/session-driver.ts';
import { testSnapshot } from './policy-snapshot.ts';
import { seededRandom } from './seeded-random.ts';

const snapshot = testSnapshot();
const listener = { ...snapshot.config.listeners[0]!, name: 'mx', authOffered: false };

function base(id: string, steps: SessionStep[] | undefined): SessionRecord {
  return {
    sessionId: id,
    listener,
    clientIp: '127.0.0.1',
    clientPort: 40000,
    peerIp: '127.0.0.1',
    localIp: listener.address.host,
    localPort: 25,
    connectedAt: 1_796_580_420_904,
    snapshot,
    tls: false,
    esmtp: false,
    recipients: [],
    rejectedRecipients: 0,
    errors: 0,
    messages: 1,
    ...(steps ? { steps } : {}),
  };
}

const permit = (stage: Decision['stage'], rule = 'default', reason: Decision['reason'] = 'ok'): Decision => ({ verdict: 'permit', stage, rule, reason });

function zone(zone: string, target: ZoneResult['target'], status: ZoneResult['status'] = 'clean', extra: Partial<ZoneResult> = {}): ZoneResult {
  return { zone, kind: target === 'client' ? 'ip' : 'domain', target, subject: 'x', weight: 1, onError: 'ignore', status, ...extra };
}

/** The session of one smtp-source message through the bench relay (as its journal recorded it). */
export function benchSession(n: number): SessionRecord {
  const counted = 7 + (n % 50);
  return base(`2iiW7dBP${String(n).padStart(4, '0')}`, [
    { call: 'connect', facts: { connection: { counts: { global: counted, ip: counted, ipRates: [{ windowMs: 60000, count: counted }] } } }, decisions: [permit('connect')] },
    {
      call: 'mail',
      input: 'sender@client.example',
      tls: false,
      helo: 'client.example',
      esmtp: false,
      facts: {
        rate: { exceeded: [], counts: [{ scope: 'ip', name: 'ip.messages', windowMs: 3600000, count: counted }, { scope: 'sender_domain', name: 'sender_domain.messages', windowMs: 3600000, count: counted }] },
        senderDomain: { status: 'ok' },
      },
      decisions: [permit('helo'), permit('mail')],
    },
    {
      call: 'rcpt',
      input: `${n}warm@bench.test`,
      facts: {
        dnsbl: { clientIp: '127.0.0.1', results: [zone('zen.dnsbl.bench', 'client'), zone('bl.dnsbl.bench', 'client'), zone('dbl.dnsbl.bench', 'helo'), zone('dbl.dnsbl.bench', 'sender')] },
        rate: { exceeded: [], counts: [{ scope: 'ip', name: 'ip.recipients', windowMs: 3600000, count: counted }, { scope: 'sender_domain', name: 'sender_domain.recipients', windowMs: 3600000, count: counted }] },
      },
      decisions: [permit('rcpt', 'local-domains', 'rcpt.local_domain')],
    },
    { call: 'data', facts: {}, decisions: [permit('data')] },
    { call: 'eod', facts: { message: { size: 1172, bareLineEnding: false, nul: false, longestLine: 80 } }, decisions: [permit('data')] },
  ]);
}

const AWKWARD = ['plain', '', 'quo"te', 'back\\slash', 'tab\there', 'nl\nx', '\u0000\u001f\u007f', 'ünïcödé@exämple.de', '用户@例子.广告', '😀@emoji.example', 'lone\ud800', '\udc00lone', '</script>', '\u2028\u2029'];

/** `count` sessions from `seed`, together covering every optional key of a record, step and facts. */
export function variedSessions(seed: number, count: number): SessionRecord[] {
  const r = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(r() * items.length)] as T;
  const maybe = (p = 0.5): boolean => r() < p;
  const text = (): string => (maybe(0.7) ? pick(['a@b.example', 'client.example', 'x', '192.0.2.1', 'rule-1']) : pick(AWKWARD));
  const decision = (): Decision => ({
    verdict: pick(['permit', 'dunno', 'reject', 'defer'] as const),
    stage: pick(['connect', 'helo', 'auth', 'mail', 'rcpt', 'data'] as const),
    rule: text(),
    reason: pick(['ok', 'rcpt.local_domain', 'dnsbl.listed'] as Decision['reason'][]),
    ...(maybe(0.2) ? { reply: { code: 550, enhanced: '5.7.1', text: 'no' } } : {}),
    ...(maybe(0.2) ? { detail: { a: 1 } } : {}),
  });
  const facts = (): Facts => {
    const f: { -readonly [K in keyof Facts]: Facts[K] } = {};
    if (maybe(0.3)) {
      f.connection = {
        ...(maybe() ? { counts: { ...(maybe() ? { global: Math.floor(r() * 100) } : {}), ...(maybe() ? { ip: 3 } : {}), ...(maybe() ? { ipRates: [{ windowMs: 60000, count: 2 }] } : {}) } } : {}),
        ...(maybe(0.3) ? { exceeded: pick(['conn.limit', 'conn.rate', 'conn.global_limit'] as const) } : {}),
        ...(maybe(0.2) ? { unavailable: true as const } : {}),
      };
    }
    if (maybe(0.3)) {
      const results: ZoneResult[] = [];
      for (let i = Math.floor(r() * 4); i > 0; i--) {
        const status = pick(['listed', 'clean', 'failed', 'zone_problem', 'suspended', 'skipped'] as const);
        results.push(
          zone(text(), pick(['client', 'helo', 'sender'] as const), status, {
            ...(maybe(0.4) ? { codes: maybe(0.3) ? [] : ['127.0.0.2', text()] } : {}),
            ...(maybe(0.3) ? { problem: text() } : {}),
            ...(maybe(0.2) ? { text: 'listed', cached: true } : {}),
          }),
        );
      }
      f.dnsbl = { clientIp: '192.0.2.1', results };
    }
    if (maybe(0.4)) {
      f.rate = {
        exceeded: maybe(0.3) ? [{ scope: 'ip', limit: 'ip.messages' }, ...(maybe() ? [{ scope: 'user' as const, limit: 'u', quota: true }] : [])] : [],
        ...(maybe(0.8) ? { counts: Array.from({ length: Math.floor(r() * 3) }, () => ({ scope: pick(['ip', 'user', 'sender_domain'] as const), name: text(), windowMs: pick([60000, 3600000, 0.5]), count: Math.floor(r() * 1e6) })) } : {}),
        ...(maybe(0.2) ? { unavailable: true as const } : {}),
      };
    }
    if (maybe(0.3)) f.senderDomain = { status: pick(['ok', 'nxdomain', 'null_mx', 'temp_fail'] as const) };
    if (maybe(0.2)) f.auth = { outcome: pick(['ok', 'failed', 'locked', 'unavailable'] as const), ...(maybe() ? { detail: { tries: 2 } } : {}) };
    if (maybe(0.3)) f.message = { size: Math.floor(r() * 1e7), bareLineEnding: maybe(), ...(maybe() ? { nul: maybe() } : {}), ...(maybe() ? { longestLine: 998 } : {}) };
    if (maybe(0.3)) {
      f.recipientProbe = {
        outcome: pick(['accepted', 'refused', 'unavailable', 'not_probed'] as const),
        hop: 'mx.example',
        source: pick(['cache', 'probe', 'shared', 'none'] as const),
        ...(maybe() ? { reply: `550 5.1.1 ${text()}` } : {}),
        ...(maybe(0.2) ? { timedOut: true } : {}),
      };
    }
    if (maybe(0.1)) f.account = { locked: false };
    return f;
  };
  const step = (): SessionStep => ({
    call: pick(['connect', 'auth', 'mail', 'rcpt', 'data', 'eod'] as StepCall[]),
    ...(maybe(0.4) ? { input: text() } : {}),
    ...(maybe(0.1) ? { mechanism: pick(['PLAIN', 'LOGIN']) } : {}),
    ...(maybe(0.2) ? { params: maybe() ? { SIZE: '1024', BODY: '8BITMIME', SMTPUTF8: true as const } : { [text()]: text() } } : {}),
    ...(maybe(0.3) ? { tls: maybe() } : {}),
    ...(maybe(0.3) ? { helo: text() } : {}),
    ...(maybe(0.3) ? { esmtp: maybe() } : {}),
    ...(maybe(0.1) ? { user: text() } : {}),
    facts: maybe(0.8) ? facts() : {},
    decisions: Array.from({ length: Math.floor(r() * 3) }, decision),
  });
  const sessions: SessionRecord[] = [];
  for (let n = 0; n < count; n++) {
    const steps = maybe(0.05) ? undefined : Array.from({ length: maybe(0.004) ? MAX_SESSION_STEPS + (maybe() ? 0 : -1) : Math.floor(r() * 8) }, step);
    const session = base(maybe(0.9) ? `s${seed}-${n}` : text(), steps);
    const ip = maybe(0.8) ? '192.0.2.7' : pick(['2001:db8::1', '::ffff:192.0.2.7', text()]);
    sessions.push({
      ...session,
      listener: maybe(0.2) ? { ...listener, name: text(), role: 'submission', ...(maybe() ? { source: 'policy service' as const } : {}) } : listener,
      clientIp: ip,
      peerIp: maybe(0.8) ? ip : '198.51.100.1',
      localIp: pick([listener.address.host, '', '198.51.100.25', '::1']),
      connectedAt: maybe(0.9) ? session.connectedAt + Math.floor(r() * 1e6) : pick([0, 1.5, -1]),
    });
  }
  return sessions;
}

/** Close times for the varied sessions: after, at, before their connect, and fractional. */
export function closedAtOf(session: SessionRecord, n: number): number {
  return [session.connectedAt + 345, session.connectedAt, session.connectedAt - 10, session.connectedAt + 0.25][n % 4] as number;
}
