// Account anomaly detection (issue 19 item 2) on generated traffic, fed to the
// real detector (src/accounts/account-monitor.ts) with a simulated clock.
//  (a) false positives: a normal week of many users (diurnal rates,
//      weekday/weekend, phones changing networks, aliases, a few bounces,
//      weekly newsletters), with the default [accounts] settings: how many
//      users are held, by trigger. Twice: with no history (the week the
//      detector is switched on) and after a generated warm-up week.
//  (b) burst to hold: a user with a normal history is taken over; for several
//      bot behaviours, how many messages and recipients were accepted (and
//      would have gone out) before the first held one, and after how long.
// Deterministic (seeded). Run: node --import tsx bench/anomaly-week.ts [users] [seed]
import { accountsSection, type AccountsConfig } from '../src/config/schema.ts';
import { AccountMonitor } from '../src/accounts/account-monitor.ts';
import { silentLogger } from '../src/log/logger.ts';
import { seededRandom } from '../test/helpers/seeded-random.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const USERS = Number(process.argv[2] ?? 2000);
const SEED = Number(process.argv[3] ?? 19);

const rand = seededRandom(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
/** Poisson-ish count with mean m (normal approximation for large m). */
function count(m: number): number {
  if (m <= 0) return 0;
  if (m > 30) return Math.max(0, Math.round(m + Math.sqrt(m) * gauss()));
  let k = 0;
  let p = Math.exp(-m);
  let s = p;
  const u = rand();
  while (u > s && k < 200) {
    k++;
    p *= m / k;
    s += p;
  }
  return k;
}
function gauss(): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}
/** A lognormal with the given median. */
const lognormal = (median: number, sigma: number): number => median * Math.exp(sigma * gauss());

/** Share of a weekday's mail sent in each hour (UTC = local here): office hours, a lunch dip, a little evening. */
const DIURNAL = [0, 0, 0, 0, 0, 0.005, 0.01, 0.04, 0.1, 0.13, 0.13, 0.11, 0.06, 0.1, 0.11, 0.1, 0.07, 0.04, 0.02, 0.02, 0.015, 0.01, 0.005, 0.005];

type Kind = 'office' | 'heavy' | 'system' | 'newsletter';
interface User {
  readonly name: string;
  readonly kind: Kind;
  readonly perWeekday: number;
  readonly weekendShare: number;
  readonly contacts: string[];
  readonly senders: string[];
  readonly home: string;
  readonly office: string;
  readonly mobile: boolean;
  /** Newsletter: weekday and hour of the weekly send, list size. */
  readonly newsletter?: { day: number; hour: number; size: number };
}

const BIG = ['gmail.com', 'outlook.com', 'yahoo.com', 'icloud.com', 'gmx.de', 'web.de', 'orange.fr', 'hotmail.com'];
const net = (): string => `${10 + Math.floor(rand() * 200)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`;

function makeUser(i: number): User {
  const r = rand();
  const kind: Kind = r < 0.72 ? 'office' : r < 0.9 ? 'heavy' : r < 0.95 ? 'system' : 'newsletter';
  const pool = kind === 'heavy' ? 50 + Math.floor(rand() * 250) : kind === 'system' ? 3 : 5 + Math.floor(rand() * 40);
  const contacts = Array.from({ length: pool }, (_, k) => (k < 3 ? pick(BIG) : `c${i}-${k}.example`));
  const name = `user${i}@corp.example`;
  const perWeekday = kind === 'office' ? lognormal(12, 0.7) : kind === 'heavy' ? lognormal(80, 0.5) : kind === 'system' ? lognormal(200, 0.8) : lognormal(10, 0.5);
  return {
    name,
    kind,
    perWeekday,
    weekendShare: kind === 'system' ? 1 : 0.08,
    contacts,
    senders: rand() < 0.2 ? [name, `alias${i}@corp.example`] : [name],
    home: net(),
    office: '192.0.2',
    mobile: rand() < 0.6,
    ...(kind === 'newsletter' ? { newsletter: { day: 1 + Math.floor(rand() * 5), hour: 9 + Math.floor(rand() * 6), size: Math.round(lognormal(1500, 0.6)) } } : {}),
  };
}

type Event =
  | { at: number; type: 'login'; user: string; ip: string }
  | { at: number; type: 'message'; user: string; sender: string; to: string[]; ip: string; bounces: number };

/** A week of one user's traffic from `start` (a Monday 00:00). */
function weekOf(u: User, start: number, events: Event[]): void {
  for (let day = 0; day < 7; day++) {
    const weekend = day >= 5;
    const dayTotal = u.perWeekday * (weekend ? u.weekendShare : 1) * lognormal(1, 0.3);
    for (let h = 0; h < 24; h++) {
      const share = u.kind === 'system' ? 1 / 24 : DIURNAL[h] as number;
      const n = count(dayTotal * share);
      if (n === 0) continue;
      // Where the user is this hour: office on weekdays 8-17, else home or the phone.
      // A phone on a mobile network gets a new address (often a new /24) per session.
      const onPhone = u.mobile && rand() < 0.3;
      const fixed = !weekend && h >= 8 && h < 18 ? u.office : u.home;
      const where = () => `${onPhone ? net() : fixed}.${1 + Math.floor(rand() * 250)}`;
      const ip = where();
      const hourStart = start + day * DAY + h * HOUR;
      // A mail client logs in per sending session: one to three sessions an hour.
      const sessions = Math.min(n, 1 + Math.floor(rand() * 3));
      for (let s = 0; s < sessions; s++) events.push({ at: hourStart + Math.floor((s * HOUR) / sessions), type: 'login', user: u.name, ip: s === 0 ? ip : where() });
      for (let k = 0; k < n; k++) {
        const rcpts = rand() < 0.8 ? 1 : 1 + Math.floor(rand() * 5);
        const to = Array.from({ length: rcpts }, () => (rand() < 0.1 ? `x@new${Math.floor(rand() * 1e9)}.example` : `x@${pick(u.contacts)}`));
        events.push({ at: hourStart + Math.floor(rand() * HOUR), type: 'message', user: u.name, sender: pick(u.senders), to, ip, bounces: rand() < 0.02 ? 1 : 0 });
      }
    }
    if (u.newsletter && day === u.newsletter.day) {
      // The list goes out in 30 minutes, 50 recipients (BCC) a message; 3% of its addresses bounce.
      const at0 = start + day * DAY + u.newsletter.hour * HOUR;
      const ip = `${u.office}.${1 + Math.floor(rand() * 250)}`;
      events.push({ at: at0, type: 'login', user: u.name, ip });
      const messages = Math.ceil(u.newsletter.size / 50);
      for (let k = 0; k < messages; k++) {
        const to = Array.from({ length: 50 }, (_, r) => (rand() < 0.5 ? `s${k}-${r}@${pick(BIG)}` : `s${k}-${r}@sub${(k * 50 + r) % Math.ceil(u.newsletter!.size * 0.4)}-${u.name.split('@')[0]}.example`));
        events.push({ at: at0 + Math.floor((k * 30 * 60_000) / messages), type: 'message', user: u.name, sender: u.senders[0] as string, to, ip, bounces: count(1.5) });
      }
    }
  }
}

function feed(monitor: AccountMonitor, clock: { now: number }, events: Event[]): void {
  events.sort((a, b) => a.at - b.at);
  let id = 0;
  for (const e of events) {
    clock.now = e.at;
    if (e.type === 'login') {
      monitor.login(e.user, e.ip);
      continue;
    }
    const hold = monitor.message(e.user, e.sender, e.to, e.ip);
    const queueId = `Q${id++}`;
    monitor.queued(queueId, e.user, hold?.by);
    const answers = e.to.map((_, k) => k < e.bounces);
    monitor.answers(queueId, answers, e.at + 60_000);
  }
}

function report(title: string, monitor: AccountMonitor, users: readonly User[], messages: number): void {
  const suspects = monitor.suspects();
  const byKind = new Map<Kind, number>();
  const kindOf = new Map(users.map((u) => [u.name, u.kind]));
  for (const s of suspects) byKind.set(kindOf.get(s.user) ?? 'office', (byKind.get(kindOf.get(s.user) ?? 'office') ?? 0) + 1);
  const byTrigger = new Map<string, number>();
  for (const s of suspects) for (const t of s.triggers) byTrigger.set(t.trigger, (byTrigger.get(t.trigger) ?? 0) + 1);
  const kinds = new Map<Kind, number>();
  for (const u of users) kinds.set(u.kind, (kinds.get(u.kind) ?? 0) + 1);
  console.log(`${title}: ${suspects.length} of ${users.length} users held (${(100 * suspects.length / users.length).toFixed(2)}%), ${messages} messages`);
  console.log(`  by user kind: ${[...kinds].map(([k, n]) => `${k} ${byKind.get(k) ?? 0}/${n}`).join(', ')}`);
  console.log(`  by trigger:   ${[...byTrigger].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}`);
}

const config: AccountsConfig = accountsSection.parse({});
const MONDAY = Date.UTC(2026, 0, 5);
const users = Array.from({ length: USERS }, (_, i) => makeUser(i));

function run(warmWeeks: number): { monitor: AccountMonitor; messages: number } {
  const clock = { now: MONDAY };
  const monitor = new AccountMonitor({ config: () => config, now: () => clock.now, logger: silentLogger() });
  for (let w = 0; w < warmWeeks; w++) {
    const events: Event[] = [];
    for (const u of users) weekOf(u, MONDAY + w * 7 * DAY, events);
    feed(monitor, clock, events);
    // The admin judged the warm-up's findings (all of them normal mail here) and released them with their mail:
    // the episode's busiest hour becomes part of the user's baseline.
    for (const s of monitor.suspects()) void monitor.release(s.user, 'bench', true);
  }
  const events: Event[] = [];
  for (const u of users) weekOf(u, MONDAY + warmWeeks * 7 * DAY, events);
  feed(monitor, clock, events);
  return { monitor, messages: events.filter((e) => e.type === 'message').length };
}

console.log(`(a) false positives, default [accounts] settings, ${USERS} users, seed ${SEED}`);
const cold = run(0);
report('  week 1, no history', cold.monitor, users, cold.messages);
const warm = run(1);
report('  week 2, after a warm-up week', warm.monitor, users, warm.messages);

// (b) burst to hold.
console.log('\n(b) burst to hold: a user with one normal week of history is taken over on Tuesday 10:00');
interface Bot { readonly name: string; readonly perMessage: number; readonly intervalMs: number; readonly domains: 'distinct' | 'big'; readonly newNetworkEach: number }
const BOTS: Bot[] = [
  { name: '1 rcpt/msg, distinct domains, 1 msg/s, one new IP', perMessage: 1, intervalMs: 1000, domains: 'distinct', newNetworkEach: 0 },
  { name: '50 rcpt/msg (BCC), distinct domains, 1 msg/5 s, one new IP', perMessage: 50, intervalMs: 5000, domains: 'distinct', newNetworkEach: 0 },
  { name: '1 rcpt/msg to 8 big providers only, 1 msg/s, one new IP', perMessage: 1, intervalMs: 1000, domains: 'big', newNetworkEach: 0 },
  { name: '1 rcpt/msg, distinct domains, botnet: new /24 per message', perMessage: 1, intervalMs: 2000, domains: 'distinct', newNetworkEach: 1 },
  { name: '1 rcpt/msg to big providers, 1 msg/20 s (slow), one new IP', perMessage: 1, intervalMs: 20_000, domains: 'big', newNetworkEach: 0 },
];
const victim = users.find((u) => u.kind === 'office' && !u.newsletter) as User;
for (const bot of BOTS) {
  const clock = { now: MONDAY };
  const monitor = new AccountMonitor({ config: () => config, now: () => clock.now, logger: silentLogger() });
  const history: Event[] = [];
  weekOf(victim, MONDAY, history);
  feed(monitor, clock, history);
  const start = MONDAY + 8 * DAY + 10 * HOUR;
  let out = 0;
  let outRecipients = 0;
  let heldAt: number | undefined;
  let trigger = '';
  let ip = `${net()}.9`;
  for (let k = 0; k * bot.intervalMs < DAY && heldAt === undefined; k++) {
    clock.now = start + k * bot.intervalMs;
    if (k === 0 || (bot.newNetworkEach > 0 && k % bot.newNetworkEach === 0)) {
      if (k > 0) ip = `${net()}.9`;
      monitor.login(victim.name, ip);
    }
    const to = Array.from({ length: bot.perMessage }, (_, r) => (bot.domains === 'big' ? `v${k}-${r}@${pick(BIG)}` : `v${k}-${r}@t${k}-${r}.example`));
    const hold = monitor.message(victim.name, `billing@corp.example`, to, ip);
    if (hold) {
      heldAt = clock.now;
      trigger = monitor.suspects()[0]?.triggers.map((t) => t.trigger).join('+') ?? '';
    } else {
      out++;
      outRecipients += to.length;
    }
  }
    const when = heldAt === undefined ? 'never held within 24 h' : `held after ${(heldAt - start) / 1000} s (${trigger})`;
  console.log(`  ${bot.name}: ${out} messages / ${outRecipients} recipients accepted before the hold, ${when}`);
}
