// The account anomaly detector at run time (issue 19 item 2): one
// UserActivity per authenticated user (account-activity.ts judges it), the
// suspects with their episodes, and the AccountControl the dashboard and the
// CLI use. It is told about logins and messages by the accounts fact
// provider (account-facts.ts, inside the session driver), about queued
// messages and remote answers by the composition root (main.ts: decision
// log, queue runner events). Each trigger that fires is a Decision
// (rule "account-anomaly", reason "account.<trigger>") handed to `decided`,
// which main.ts publishes on the DecisionLog like any other.
//
// Actions: log (a Decision, nothing else), hold (the user's new messages are
// accepted with the usual 250 and stored held, so the bot is not told), lock
// (AUTH refused with 535 5.7.8 by the account-lock rule; a session already
// logged in has its messages held). An episode lasts until an administrator
// releases it; suspects and baselines survive a restart (account-store.ts).
import type { Logger } from '../log/logger.ts';
import type { AccountsConfig } from '../config/schema.ts';
import type { Decision } from '../policy/decision.ts';
import type { AccountAction, AccountControl, AccountTriggerHit, SuspectAccount } from './account-control.ts';
import {
  absorbAnswers,
  absorbLogin,
  absorbMessage,
  loginNetwork,
  newActivity,
  recordAnswers,
  recordLogin,
  recordMessage,
  resetWindows,
  TRIGGERS,
  domainOf,
  type TriggerFired,
  type UserActivity,
} from './account-activity.ts';
import type { AccountStateStore, AccountsState, SharedAccountEvent, SuspectRecord } from './account-store.ts';

/** The hold a suspect user's messages get (session-record.ts `hold`). */
export const ACCOUNT_HOLD_BY = 'account-anomaly';

const STRENGTH: Record<AccountAction, number> = { log: 0, hold: 1, lock: 2 };
const STATE: Record<AccountAction, SuspectAccount['state']> = { log: 'logged', hold: 'held', lock: 'locked' };
/** Recent queue id -> user, to attribute remote answers; bounded. */
const MAX_RECENT_IDS = 200_000;
/** Baselines are written at most this often (suspect changes are written at once). */
const BASELINE_SAVE_MS = 300_000;

/** What the monitor needs of the queue runner (set once it runs). */
export interface HeldQueue {
  release(id: string): Promise<boolean>;
  isHeld(id: string): boolean;
}

/** A trigger's Decision with whom it is about. */
export interface AccountDecision {
  readonly decision: Decision;
  readonly user: string;
  readonly at: number;
  readonly clientIp?: string;
  readonly sessionId?: string;
  readonly sender?: string;
}

export interface AccountMonitorDeps {
  /** The current [accounts] settings (from the policy snapshot: thresholds reload). */
  readonly config: () => AccountsConfig;
  readonly now: () => number;
  readonly logger: Logger;
  readonly store?: AccountStateStore;
  /** Each trigger that fires, as a Decision (main.ts publishes it on the DecisionLog). */
  readonly decided?: (event: AccountDecision) => void;
}

export interface AccountCounts {
  /** Firings since start per trigger and action. */
  readonly triggers: ReadonlyArray<{ readonly trigger: string; readonly action: AccountAction; readonly count: number }>;
  /** Suspects now per state. */
  readonly byState: Readonly<Record<SuspectAccount['state'], number>>;
  /** Messages stored held by the detector since start. */
  readonly heldMessages: number;
  /** AUTH attempts refused because the account is locked. */
  readonly lockedLogins: number;
}

const key = (user: string): string => user.toLowerCase();

export class AccountMonitor implements AccountControl {
  readonly #d: AccountMonitorDeps;
  readonly #users = new Map<string, UserActivity>();
  readonly #suspects = new Map<string, SuspectRecord>();
  readonly #recentIds = new Map<string, string>();
  readonly #fired = new Map<string, number>();
  #queue: HeldQueue | undefined;
  #heldTotal = 0;
  #lockedLogins = 0;
  #savedBaselinesAt = 0;
  #saved: AccountsState['baselines'] = {};

  constructor(deps: AccountMonitorDeps) {
    this.#d = deps;
  }

  /** Reads suspects and baselines kept by the previous run. */
  async load(): Promise<void> {
    if (!this.#d.store) return;
    const state = await this.#d.store.load();
    for (const s of state.suspects) this.#suspects.set(key(s.user), s);
    this.#saved = state.baselines;
    this.#savedBaselinesAt = this.#d.now();
    this.#d.store.subscribe?.((event) => this.#shared(event));
  }

  /** Another instance's activity or episode change (config [cluster]). */
  #shared(event: SharedAccountEvent): void {
    const config = this.#d.config();
    switch (event.type) {
      case 'message':
        absorbMessage(this.#activity(event.user), { domains: event.domains, at: event.at, suspect: this.#suspects.has(key(event.user)), ...(event.cleanSender !== undefined ? { cleanSender: event.cleanSender } : {}) }, config);
        return;
      case 'login':
        absorbLogin(this.#activity(event.user), event.network, event.at, config);
        return;
      case 'answers':
        absorbAnswers(this.#activity(event.user), event.refused, event.at, config);
        return;
      case 'suspect': {
        const k = key(event.suspect.user);
        const mine = this.#suspects.get(k);
        if (!mine) {
          this.#suspects.set(k, { ...event.suspect, user: k, triggers: event.suspect.triggers.map((t) => ({ ...t })), heldIds: [] });
        } else {
          for (const t of event.suspect.triggers) if (!mine.triggers.some((m) => m.trigger === t.trigger && m.at === t.at)) mine.triggers.push({ ...t });
          if (STRENGTH[stateAction(event.suspect.state)] > STRENGTH[stateAction(mine.state)]) mine.state = event.suspect.state;
          if (event.suspect.since < mine.since) mine.since = event.suspect.since;
        }
        void this.#save();
        return;
      }
      case 'release':
        void this.#released(event.user, event.by, event.releaseHeld, false);
        return;
    }
  }

  attachQueue(queue: HeldQueue): void {
    this.#queue = queue;
  }

  #activity(user: string): UserActivity {
    const k = key(user);
    let a = this.#users.get(k);
    if (!a) {
      const saved = this.#saved[k];
      a = newActivity(k, this.#d.now(), saved);
      this.#users.set(k, a);
    }
    return a;
  }

  // ---- what the session driver asks (account-facts.ts) ----

  isLocked(user: string): boolean {
    return this.#suspects.get(key(user))?.state === 'locked';
  }

  /** A locked account tried to log in with the right password (counted; the rule refuses it). */
  lockedLogin(): void {
    this.#lockedLogins++;
  }

  /** The hold the user's messages get now, or undefined. */
  holdFor(user: string): { reason: string; by: string } | undefined {
    const s = this.#suspects.get(key(user));
    if (!s || s.state === 'logged') return undefined;
    const first = s.triggers.find((t) => t.action !== 'log') ?? s.triggers[0];
    return { reason: `account ${s.user} suspect: ${first?.trigger ?? 'manual'}`, by: ACCOUNT_HOLD_BY };
  }

  login(user: string, clientIp: string, sessionId?: string): void {
    const at = this.#d.now();
    const fired = recordLogin(this.#activity(user), clientIp, at, this.#d.config());
    this.#d.store?.share?.({ type: 'login', user: key(user), at, network: loginNetwork(clientIp) });
    this.#fire(user, fired, 'auth', { at, clientIp, ...(sessionId ? { sessionId } : {}) });
  }

  /** A message about to be accepted (the DATA stage): counted and judged; its hold, if any. */
  message(user: string, sender: string, recipients: readonly string[], clientIp: string, sessionId?: string): { reason: string; by: string } | undefined {
    const at = this.#d.now();
    const suspect = this.#suspects.has(key(user));
    const fired = recordMessage(this.#activity(user), { sender, recipients, at, suspect }, this.#d.config());
    if (this.#d.store?.share) {
      const domains = [...new Set(recipients.map(domainOf))];
      const clean = fired.length === 0 && !suspect && sender !== '';
      this.#d.store.share({ type: 'message', user: key(user), at, domains, ...(clean ? { cleanSender: sender.toLowerCase() } : {}) });
    }
    this.#fire(user, fired, 'mail', { at, clientIp, sender, ...(sessionId ? { sessionId } : {}) });
    this.#maybeSaveBaselines(at);
    return this.holdFor(user);
  }

  // ---- what main.ts feeds from the decision log and the queue runner ----

  /** A message was queued: remembered for its remote answers; counted in the episode when held for it. */
  queued(queueId: string, user: string, heldBy: string | undefined): void {
    const k = key(user);
    this.#recentIds.set(queueId, k);
    if (this.#recentIds.size > MAX_RECENT_IDS) {
      const oldest = this.#recentIds.keys().next().value;
      if (oldest !== undefined) this.#recentIds.delete(oldest);
    }
    if (heldBy !== ACCOUNT_HOLD_BY) return;
    const s = this.#suspects.get(k);
    if (!s) return;
    s.heldIds.push(queueId);
    this.#heldTotal++;
    this.#save();
  }

  /** A delivery attempt's answers per recipient (refused = a 5xx), for the remote_refusals trigger. */
  answers(queueId: string, refused: readonly boolean[], at: number): void {
    const user = this.#recentIds.get(queueId);
    if (user === undefined || refused.length === 0) return;
    const fired = recordAnswers(this.#activity(user), refused, at, this.#d.config());
    this.#d.store?.share?.({ type: 'answers', user, at, refused: [...refused] });
    this.#fire(user, fired, 'mail', { at });
  }

  /** A message left the spool: no more answers will come for it. */
  removed(queueId: string): void {
    this.#recentIds.delete(queueId);
  }

  #fire(user: string, fired: readonly TriggerFired[], stage: 'auth' | 'mail', context: { at: number; clientIp?: string; sessionId?: string; sender?: string }): void {
    if (fired.length === 0) return;
    const k = key(user);
    const at = new Date(context.at).toISOString();
    let suspect = this.#suspects.get(k);
    let changed = false;
    for (const f of fired) {
      // A trigger fires once per episode; its evidence stays as it was when it fired.
      if (suspect?.triggers.some((t) => t.trigger === f.trigger)) continue;
      const hit: AccountTriggerHit = { trigger: f.trigger, action: f.action, reason: f.reason, at, evidence: f.evidence };
      if (!suspect) {
        suspect = { user: k, state: STATE[f.action], since: at, triggers: [], heldIds: [] };
        this.#suspects.set(k, suspect);
      }
      suspect.triggers.push(hit);
      if (STRENGTH[f.action] > STRENGTH[stateAction(suspect.state)]) suspect.state = STATE[f.action];
      changed = true;
      const counted = `${f.trigger}\u0000${f.action}`;
      this.#fired.set(counted, (this.#fired.get(counted) ?? 0) + 1);
      this.#d.logger.warn({ event: 'account.trigger', user: k, trigger: f.trigger, action: f.action, reason: f.reason, evidence: f.evidence }, 'account anomaly');
      this.#d.decided?.({
        user: k,
        at: context.at,
        ...(context.clientIp !== undefined ? { clientIp: context.clientIp } : {}),
        ...(context.sessionId !== undefined ? { sessionId: context.sessionId } : {}),
        ...(context.sender !== undefined ? { sender: context.sender } : {}),
        decision: {
          verdict: 'permit',
          stage,
          rule: 'account-anomaly',
          reason: `account.${f.trigger}`,
          detail: { user: k, trigger: f.trigger, action: f.action, why: f.reason, ...f.evidence },
        },
      });
    }
    if (changed && suspect) {
      this.#share(suspect);
      this.#save();
    }
  }

  #share(s: SuspectRecord): void {
    if (!this.#d.store?.share) return;
    const { heldIds: _held, ...shared } = s;
    this.#d.store.share({ type: 'suspect', suspect: { ...shared, triggers: s.triggers.map((t) => ({ ...t, evidence: { ...t.evidence } })) } });
  }

  // ---- AccountControl (dashboard, CLI) ----

  suspects(): SuspectAccount[] {
    return [...this.#suspects.values()]
      .map((s): SuspectAccount => ({
        user: s.user,
        state: s.state,
        since: s.since,
        triggers: s.triggers.map((t) => ({ ...t, evidence: { ...t.evidence } })),
        heldMessages: this.#queue ? s.heldIds.filter((id) => this.#queue?.isHeld(id)).length : s.heldIds.length,
      }))
      .sort((a, b) => (lastAt(b) < lastAt(a) ? -1 : lastAt(b) > lastAt(a) ? 1 : 0));
  }

  async release(user: string, by: string, releaseHeld: boolean): Promise<boolean> {
    const released = await this.#released(user, by, releaseHeld, true);
    return released;
  }

  /** Ends the episode here; `local`: asked of this instance (then told to the others, who release their own held ids). */
  async #released(user: string, by: string, releaseHeld: boolean, local: boolean): Promise<boolean> {
    const k = key(user);
    if (local) this.#d.store?.share?.({ type: 'release', user: k, by, releaseHeld, at: this.#d.now() });
    const s = this.#suspects.get(k);
    if (!s) return false;
    this.#suspects.delete(k);
    const a = this.#users.get(k);
    if (a) resetWindows(a, this.#d.now(), releaseHeld);
    let released = 0;
    if (releaseHeld && this.#queue) {
      for (const id of s.heldIds) if (await this.#queue.release(id)) released++;
    }
    this.#d.logger.warn({ event: 'account.released', user: k, by, releaseHeld, released, held: s.heldIds.length, triggers: s.triggers.map((t) => t.trigger), ...(local ? {} : { via: 'cluster' }) }, 'suspect account released');
    await this.#save();
    return true;
  }

  async lock(user: string, by: string): Promise<void> {
    const k = key(user);
    const at = new Date(this.#d.now()).toISOString();
    const hit: AccountTriggerHit = { trigger: 'manual', action: 'lock', reason: `locked by ${by}`, at, evidence: { by } };
    const s = this.#suspects.get(k);
    const locked: SuspectRecord = s ?? { user: k, state: 'locked', since: at, triggers: [], heldIds: [] };
    locked.state = 'locked';
    locked.triggers.push(hit);
    this.#suspects.set(k, locked);
    this.#share(locked);
    this.#d.logger.warn({ event: 'account.locked', user: k, by }, 'account locked');
    await this.#save();
  }

  counts(): AccountCounts {
    const byState = { locked: 0, held: 0, logged: 0 };
    for (const s of this.#suspects.values()) byState[s.state]++;
    const triggers = [...this.#fired].map(([k, count]) => {
      const [trigger, action] = k.split('\u0000') as [string, AccountAction];
      return { trigger, action, count };
    });
    return { triggers, byState, heldMessages: this.#heldTotal, lockedLogins: this.#lockedLogins };
  }

  /** Writes everything (serve's stop). */
  async close(): Promise<void> {
    await this.#save(true);
    await this.#d.store?.close?.();
  }

  #maybeSaveBaselines(now: number): void {
    if (now - this.#savedBaselinesAt >= BASELINE_SAVE_MS) void this.#save(true);
  }

  #save(withBaselines = false): Promise<void> {
    if (!this.#d.store) return Promise.resolve();
    if (withBaselines) {
      this.#savedBaselinesAt = this.#d.now();
      const baselines: AccountsState['baselines'] = { ...this.#saved };
      for (const [k, a] of this.#users) baselines[k] = { baseline: { ...a.baseline }, senders: [...a.senders] };
      this.#saved = baselines;
    }
    return this.#d.store.save(() => ({ suspects: [...this.#suspects.values()], baselines: this.#saved }));
  }
}

function stateAction(state: SuspectAccount['state']): AccountAction {
  return state === 'locked' ? 'lock' : state === 'held' ? 'hold' : 'log';
}

function lastAt(s: SuspectAccount): string {
  return s.triggers.at(-1)?.at ?? s.since;
}

export { TRIGGERS };
