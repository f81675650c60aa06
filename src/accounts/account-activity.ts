// PURE (no I/O, no clock: times are passed in). One authenticated user's
// recent activity and baseline, and the triggers of [accounts] judged on it
// (issue 19 item 2). account-monitor.ts owns one of these per user and turns
// what fires here into Decisions, holds and locks.
//
// The baseline is per hour: the user's busiest hour of messages and of
// distinct recipient domains, decaying with `baseline_half_life` (a peak, not
// a mean, so a weekly newsletter or a Monday morning is part of "normal"
// once seen), plus an exponentially weighted mean for the evidence. The hour
// being counted is not part of it (a burst does not raise its own bar), and
// nothing is learnt while the user is suspect. A new user has a baseline of
// 0, so only the absolute floors apply: that is the warm-up.
import type { AccountsConfig } from '../config/schema.ts';
import type { AccountAction } from './account-control.ts';
import { clientKey } from '../facts/limits/client-key.ts';

export const HOUR_MS = 3_600_000;
/** Bounds per user, so a bot cannot grow the detector's memory without end. */
const MAX_EVENTS = 100_000;
const MAX_DOMAINS = 20_000;
const MAX_SENDERS = 200;

export type TriggerName = 'volume' | 'recipient_domains' | 'login_networks' | 'remote_refusals' | 'new_sender';
export const TRIGGERS: readonly TriggerName[] = ['volume', 'recipient_domains', 'login_networks', 'remote_refusals', 'new_sender'];

/** A trigger whose condition holds now, with its evidence (the monitor decides whether it is new). */
export interface TriggerFired {
  readonly trigger: TriggerName;
  readonly action: AccountAction;
  readonly reason: string;
  readonly evidence: Record<string, number | string>;
}

/** What survives a restart (account-store.ts). */
export interface BaselineState {
  /** The hour (epoch ms / 1 h) being counted. */
  hour: number;
  messages: number;
  /** Decayed busiest completed hour, as of `hour`. */
  peakMessages: number;
  peakDomains: number;
  /** Exponentially weighted mean per hour, as of `hour`. */
  meanMessages: number;
  meanDomains: number;
  /** Completed hours seen since the user's first message (for the evidence). */
  hoursSeen: number;
}

export interface UserActivity {
  readonly user: string;
  baseline: BaselineState;
  /** Distinct recipient domains of the hour being counted. */
  hourDomains: Set<string>;
  /** Times of accepted messages (oldest first), for the volume window. */
  messageTimes: number[];
  /** Recipient domain -> last time seen. */
  domains: Map<string, number>;
  /** Client network (/24, /48) -> last successful login. */
  networks: Map<string, number>;
  /** Remote answers for the user's mail (oldest first): refused = 5xx. */
  answers: Array<{ at: number; refused: boolean }>;
  /** Sender addresses the user has used while not suspect (lower case). */
  senders: Set<string>;
  /**
   * The most messages and distinct domains per hour seen since the episode
   * began (while suspect or firing): learnt into the baseline if an
   * administrator releases the episode with its mail (a false positive).
   */
  episode: { messages: number; domains: number };
  /** When the domain map was last pruned (at most once a minute: it is walked per message otherwise). */
  prunedAt: number;
}

export function newActivity(user: string, now: number, saved?: { baseline: BaselineState; senders: readonly string[] }): UserActivity {
  const baseline = saved ? { ...saved.baseline } : { hour: Math.floor(now / HOUR_MS), messages: 0, peakMessages: 0, peakDomains: 0, meanMessages: 0, meanDomains: 0, hoursSeen: 0 };
  return { user, baseline, hourDomains: new Set(), messageTimes: [], domains: new Map(), networks: new Map(), answers: [], senders: new Set(saved?.senders ?? []), episode: { messages: 0, domains: 0 }, prunedAt: 0 };
}

/** Closes the hours before `now`'s into the baseline (decay of the peaks and the mean per elapsed hour). */
export function rollBaseline(a: UserActivity, now: number, halfLifeMs: number, learn: boolean): void {
  const hour = Math.floor(now / HOUR_MS);
  const b = a.baseline;
  if (hour <= b.hour) return;
  const gap = hour - b.hour;
  const keep = Math.pow(0.5, HOUR_MS / Math.max(halfLifeMs, HOUR_MS));
  const alpha = 1 - keep;
  const messages = learn ? b.messages : 0;
  const domains = learn ? a.hourDomains.size : 0;
  const decay = Math.pow(keep, gap);
  b.peakMessages = Math.max(b.peakMessages, messages) * decay;
  b.peakDomains = Math.max(b.peakDomains, domains) * decay;
  b.meanMessages = (b.meanMessages * keep + messages * alpha) * Math.pow(keep, gap - 1);
  b.meanDomains = (b.meanDomains * keep + domains * alpha) * Math.pow(keep, gap - 1);
  b.hoursSeen += gap;
  b.hour = hour;
  b.messages = 0;
  a.hourDomains = new Set();
}

function pruneTimes(times: number[], since: number): void {
  let drop = 0;
  while (drop < times.length && (times[drop] as number) <= since) drop++;
  if (drop > 0) times.splice(0, drop);
  if (times.length > MAX_EVENTS) times.splice(0, times.length - MAX_EVENTS);
}

function pruneMap(map: Map<string, number>, since: number): void {
  for (const [key, at] of map) if (at <= since) map.delete(key);
}

function countSince(times: readonly number[], since: number): number {
  let n = 0;
  for (let i = times.length - 1; i >= 0 && (times[i] as number) > since; i--) n++;
  return n;
}

function distinctSince(map: ReadonlyMap<string, number>, since: number): number {
  let n = 0;
  for (const at of map.values()) if (at > since) n++;
  return n;
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** The bar of a threshold trigger: its floor, or factor x the baseline (per hour, scaled to the window). */
export function threshold(floor: number, factor: number, perHour: number, windowMs: number): number {
  return Math.max(floor, factor * perHour * (windowMs / HOUR_MS));
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export interface MessageSeen {
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly at: number;
  /** The user is suspect already (an episode is open): nothing is learnt, a new sender counts. */
  readonly suspect: boolean;
}

/** Counts a message into the user's windows and hour (no judging): the first half of recordMessage, and absorbMessage. */
function countMessage(a: UserActivity, m: { readonly recipients: readonly string[]; readonly at: number; readonly suspect: boolean }, config: AccountsConfig): void {
  rollBaseline(a, m.at, config.baseline_half_life, !m.suspect);
  a.baseline.messages++;
  // Another instance's message may arrive a little after a later one of ours: the times stay sorted.
  let i = a.messageTimes.length;
  while (i > 0 && (a.messageTimes[i - 1] as number) > m.at) i--;
  a.messageTimes.splice(i, 0, m.at);
  for (const recipient of m.recipients) {
    const domain = domainOf(recipient);
    if (a.hourDomains.size < MAX_DOMAINS) a.hourDomains.add(domain);
    if (a.domains.size < MAX_DOMAINS || a.domains.has(domain)) a.domains.set(domain, m.at);
  }
  const longest = Math.max(config.volume.window, config.recipient_domains.window);
  pruneTimes(a.messageTimes, m.at - longest);
  if (m.at - a.prunedAt >= 60_000 || a.domains.size >= MAX_DOMAINS) {
    pruneMap(a.domains, m.at - longest);
    a.prunedAt = m.at;
  }
}

/**
 * A message another instance of the cluster took for this user (its
 * recipients' domains; the sender when it raised nothing there): counted into
 * the windows and the hour like one of ours, and never judged here (the
 * instance that took it judged it), so a bot spreading its mail over several
 * relays meets one bar.
 */
export function absorbMessage(a: UserActivity, m: { readonly domains: readonly string[]; readonly at: number; readonly suspect: boolean; readonly cleanSender?: string }, config: AccountsConfig): void {
  countMessage(a, { recipients: m.domains.map((d) => `@${d}`), at: m.at, suspect: m.suspect }, config);
  const sender = m.cleanSender?.toLowerCase();
  if (sender !== undefined && !m.suspect && !a.senders.has(sender) && a.senders.size < MAX_SENDERS) a.senders.add(sender);
}

/** A message the user is about to send: counted, then the message triggers judged (this message included). */
export function recordMessage(a: UserActivity, m: MessageSeen, config: AccountsConfig): TriggerFired[] {
  countMessage(a, m, config);
  const b = a.baseline;
  const fired: TriggerFired[] = [];
  const v = config.volume;
  const messages = countSince(a.messageTimes, m.at - v.window);
  const volumeBar = threshold(v.floor, v.factor, b.peakMessages, v.window);
  if (messages > volumeBar) {
    fired.push({
      trigger: 'volume', action: v.action,
      reason: `${messages} messages in ${minutes(v.window)} (bar ${Math.floor(volumeBar)}: floor ${v.floor}, ${v.factor} x baseline ${round(b.peakMessages)}/h)`,
      evidence: { messages_in_window: messages, window_minutes: v.window / 60_000, bar: Math.floor(volumeBar), baseline_peak_per_hour: round(b.peakMessages), baseline_mean_per_hour: round(b.meanMessages) },
    });
  }
  const d = config.recipient_domains;
  const domains = distinctSince(a.domains, m.at - d.window);
  const domainBar = threshold(d.floor, d.factor, b.peakDomains, d.window);
  if (domains > domainBar) {
    fired.push({
      trigger: 'recipient_domains', action: d.action,
      reason: `${domains} distinct recipient domains in ${minutes(d.window)} (bar ${Math.floor(domainBar)}: floor ${d.floor}, ${d.factor} x baseline ${round(b.peakDomains)}/h)`,
      evidence: { domains_in_window: domains, window_minutes: d.window / 60_000, bar: Math.floor(domainBar), baseline_peak_domains_per_hour: round(b.peakDomains), baseline_mean_domains_per_hour: round(b.meanDomains) },
    });
  }
  if (m.suspect || fired.length > 0) {
    a.episode.messages = Math.max(a.episode.messages, messages * (HOUR_MS / v.window));
    a.episode.domains = Math.max(a.episode.domains, domains * (HOUR_MS / d.window));
  }
  const sender = m.sender.toLowerCase();
  const newSender = a.senders.size > 0 && !a.senders.has(sender);
  if (newSender && (fired.length > 0 || m.suspect)) {
    fired.push({
      trigger: 'new_sender', action: config.new_sender.action,
      reason: `sender <${sender}> never used before by ${a.user}, with another trigger in force`,
      evidence: { sender: `<${sender}>`, known_senders: a.senders.size },
    });
  }
  // Senders are learnt only from mail that raised nothing.
  if (fired.length === 0 && !m.suspect && !a.senders.has(sender) && a.senders.size < MAX_SENDERS) a.senders.add(sender);
  return fired;
}

/** The client network a login counts as (/24 IPv4, /48 IPv6). */
export function loginNetwork(clientIp: string): string {
  return clientKey(clientIp, 24, 48);
}

/** A successful login's network counted, not judged (ours in recordLogin, or another instance's). */
export function absorbLogin(a: UserActivity, network: string, at: number, config: AccountsConfig): void {
  a.networks.set(network, at);
  pruneMap(a.networks, at - config.login_networks.window);
}

/** A successful login: the client's network counted, the login trigger judged. */
export function recordLogin(a: UserActivity, clientIp: string, at: number, config: AccountsConfig): TriggerFired[] {
  const n = config.login_networks;
  absorbLogin(a, loginNetwork(clientIp), at, config);
  const networks = a.networks.size;
  if (networks <= n.floor) return [];
  return [{
    trigger: 'login_networks', action: n.action,
    reason: `logins from ${networks} distinct client networks in ${minutes(n.window)} (more than ${n.floor})`,
    evidence: { networks_in_window: networks, window_minutes: n.window / 60_000, floor: n.floor, networks: [...a.networks.keys()].slice(-10).join(' ') },
  }];
}

/** Remote answers counted, not judged (ours in recordAnswers, or another instance's). */
export function absorbAnswers(a: UserActivity, refused: readonly boolean[], at: number, config: AccountsConfig): void {
  for (const one of refused) a.answers.push({ at, refused: one });
  let drop = 0;
  while (drop < a.answers.length && (a.answers[drop] as { at: number }).at <= at - config.remote_refusals.window) drop++;
  if (drop > 0) a.answers.splice(0, drop);
  if (a.answers.length > MAX_EVENTS) a.answers.splice(0, a.answers.length - MAX_EVENTS);
}

/** Remote answers for one delivery attempt of the user's mail (per recipient: 5xx or not). */
export function recordAnswers(a: UserActivity, refused: readonly boolean[], at: number, config: AccountsConfig): TriggerFired[] {
  const r = config.remote_refusals;
  absorbAnswers(a, refused, at, config);
  const total = a.answers.length;
  const refusedCount = a.answers.filter((x) => x.refused).length;
  if (total < r.floor || refusedCount / total < r.share) return [];
  return [{
    trigger: 'remote_refusals', action: r.action,
    reason: `${refusedCount} of ${total} remote answers for the user's mail in ${minutes(r.window)} were 5xx refusals (share ${round(refusedCount / total)} >= ${r.share})`,
    evidence: { refused: refusedCount, answers: total, window_minutes: r.window / 60_000, share: round(refusedCount / total) },
  }];
}

/**
 * An episode ended (release): the windows start afresh; the baseline goes on
 * from now. `learn`: the administrator released the episode's mail as
 * legitimate (a first newsletter), so its busiest hour becomes part of the
 * baseline; otherwise (a real compromise, mail deleted) nothing of it is.
 */
export function resetWindows(a: UserActivity, now: number, learn = false): void {
  if (learn) {
    a.baseline.peakMessages = Math.max(a.baseline.peakMessages, a.episode.messages);
    a.baseline.peakDomains = Math.max(a.baseline.peakDomains, a.episode.domains);
  }
  a.episode = { messages: 0, domains: 0 };
  a.messageTimes = [];
  a.domains = new Map();
  a.networks = new Map();
  a.answers = [];
  a.baseline.hour = Math.floor(now / HOUR_MS);
  a.baseline.messages = 0;
  a.hourDomains = new Set();
}

function minutes(ms: number): string {
  return ms % HOUR_MS === 0 ? `${ms / HOUR_MS} h` : `${Math.round(ms / 60_000)} min`;
}
