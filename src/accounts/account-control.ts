// The seam between account anomaly detection (issue 19 item 2, src/accounts)
// and the dashboard's "suspect accounts" panel and its buttons (item 4,
// src/http). The dashboard only sees this interface, so either side can be
// built and tested alone; serve wires the real one.

/** What a trigger does to the account once it fires (config: per trigger). */
export type AccountAction = 'log' | 'hold' | 'lock';

/** One trigger that fired for a user, with the evidence an admin needs to judge it. */
export interface AccountTriggerHit {
  /** Trigger name: volume, recipient_domains, login_networks, remote_refusals, new_sender. */
  trigger: string;
  action: AccountAction;
  /** The Decision's reason text, as logged. */
  reason: string;
  /** ISO time it fired. */
  at: string;
  /** The figures behind it (e.g. { messages_last_hour: 812, baseline_per_hour: 9 }). */
  evidence: Record<string, number | string>;
}

export interface SuspectAccount {
  user: string;
  /** The strongest action in force: locked > held > logged. */
  state: 'locked' | 'held' | 'logged';
  /** ISO time of the first trigger of this episode. */
  since: string;
  triggers: AccountTriggerHit[];
  /** Messages of this user in the spool's held state because of this episode. */
  heldMessages: number;
}

export interface AccountControl {
  /** Accounts with a trigger in force, newest first. */
  suspects(): SuspectAccount[];
  /**
   * Ends the episode: lifts hold and lock, and the user's baseline goes on
   * from now. With releaseHeld, the messages held for it are released to
   * delivery; otherwise they stay held for the queue view (release or delete).
   * `by` is who asked (logged). False when the user was not suspect.
   */
  release(user: string, by: string, releaseHeld: boolean): Promise<boolean>;
  /** Locks the account now (AUTH refused with 535 until released). */
  lock(user: string, by: string): Promise<void>;
}
