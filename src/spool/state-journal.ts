// PURE. Per-recipient delivery state, kept as a journal of JSON lines next to
// the message file (<id>.state). Each line records what one attempt or one
// administrator command changed; the state is the fold of all lines. Appends
// are fsynced; a crash can only tear the last line, which is then ignored
// (it has no newline or does not parse). A message with no journal yet has
// every recipient pending and is due at once.
import type { StoredEnvelope } from './spool-file.ts';

export type RecipientStatus = 'pending' | 'delivered' | 'deferred' | 'failed';

export interface RecipientState {
  readonly status: RecipientStatus;
  /** Last SMTP reply or local reason, for the log, `queue show` and bounces. */
  readonly reply?: string;
  /** Enhanced status code (e.g. 5.1.1) used in DSNs. */
  readonly enhanced?: string;
  /** The remote host that gave the reply (name[ip]:port). */
  readonly host?: string;
  readonly at?: number;
}

/**
 * A held message: accepted and durable, never delivered until released
 * (`relayguard queue hold`, or a rule at accept time). It expires at `until`.
 */
export interface HoldMark {
  /** When it was held. */
  readonly at: number;
  /** When the hold expires (then the message is bounced to our own user or deleted). */
  readonly until: number;
  /** Why, for `queue list --held`, the log and the bounce. */
  readonly reason: string;
  /** Who held it: "admin" (the CLI), a rule or trigger name. */
  readonly by: string;
}

export interface JournalEvent {
  readonly at: number;
  /** What happened: an attempt, a command (retry, bounce, hold, release), a delay warning. */
  readonly kind: 'attempt' | 'retry' | 'bounce' | 'warned' | 'expired' | 'hold' | 'release';
  /** Attempts made so far (after this event). */
  readonly attempts?: number;
  /** Next attempt time; absent when nothing is left to deliver. */
  readonly next?: number;
  /** A delay warning was sent. */
  readonly warned?: boolean;
  /** kind 'hold': the hold (its `at` is the event's). */
  readonly hold?: Omit<HoldMark, 'at'>;
  /** Recipients whose state changed. */
  readonly rcpt?: Readonly<Record<string, { s: RecipientStatus; x?: string; e?: string; h?: string }>>;
}

export interface MessageState {
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly warned: boolean;
  readonly recipients: ReadonlyMap<string, RecipientState>;
  readonly history: readonly JournalEvent[];
  /** Present while the message is held: it is not delivered until released or expired. */
  readonly held?: HoldMark;
}

/** A message held at accept time carries its hold in the stored envelope (spool-file.ts). */
export function initialState(envelope: StoredEnvelope): MessageState {
  const recipients = new Map<string, RecipientState>();
  for (const rcpt of envelope.recipients) recipients.set(rcpt, { status: 'pending' });
  const held = validHold(envelope.held);
  return {
    attempts: 0,
    nextAttemptAt: held ? held.until : envelope.receivedAt,
    warned: false,
    recipients,
    history: [],
    ...(held ? { held } : {}),
  };
}

function validHold(value: unknown): HoldMark | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const h = value as Partial<HoldMark>;
  if (typeof h.at !== 'number' || typeof h.until !== 'number') return undefined;
  return { at: h.at, until: h.until, reason: typeof h.reason === 'string' ? h.reason : '', by: typeof h.by === 'string' ? h.by : '' };
}

export function applyEvent(state: MessageState, event: JournalEvent): MessageState {
  const recipients = new Map(state.recipients);
  for (const [rcpt, change] of Object.entries(event.rcpt ?? {})) {
    if (!recipients.has(rcpt)) continue; // a journal never adds recipients
    recipients.set(rcpt, {
      status: change.s,
      ...(change.x !== undefined ? { reply: change.x } : {}),
      ...(change.e !== undefined ? { enhanced: change.e } : {}),
      ...(change.h !== undefined ? { host: change.h } : {}),
      at: event.at,
    });
  }
  let held = state.held;
  if (event.kind === 'hold') held = validHold({ ...event.hold, at: event.at }) ?? held;
  else if (event.kind === 'release') held = undefined;
  return {
    attempts: event.attempts ?? state.attempts,
    nextAttemptAt: event.next ?? state.nextAttemptAt,
    warned: state.warned || event.warned === true,
    recipients,
    history: [...state.history, event],
    ...(held ? { held } : {}),
  };
}

export function encodeEvent(event: JournalEvent): string {
  return `${JSON.stringify(event)}\n`;
}

/** Folds a journal's text; a torn or unparsable line is skipped (foldJournalChecked says which). */
export function foldJournal(envelope: StoredEnvelope, text: string): MessageState {
  return foldJournalChecked(envelope, text).state;
}

/**
 * Folds a journal's text and reports the complete lines (1-based) that are
 * not events: damage, not a crash (a crash can only tear the last line, which
 * has no newline). A torn line that a later append continued ("{"at":1,"ki" +
 * a whole event + newline) is the one crash trace with a newline: the whole
 * event at its end is used and the line is not counted as damage.
 */
export function foldJournalChecked(envelope: StoredEnvelope, text: string): { state: MessageState; badLines: number[] } {
  let state = initialState(envelope);
  const badLines: number[] = [];
  const lines = text.split('\n');
  // The last element is the part after the final newline: empty, or a torn line.
  lines.pop();
  lines.forEach((line, i) => {
    if (!line) return;
    const event = parseEvent(line) ?? parseEvent(line.slice(Math.max(0, line.lastIndexOf('{"at":'))));
    if (event) state = applyEvent(state, event);
    else badLines.push(i + 1);
  });
  return { state, badLines };
}

function parseEvent(line: string): JournalEvent | undefined {
  try {
    const event = JSON.parse(line) as JournalEvent;
    if (typeof event !== 'object' || event === null || typeof event.at !== 'number') return undefined;
    return event;
  } catch {
    return undefined;
  }
}

/** Recipients still to be delivered (pending or deferred). */
export function openRecipients(state: MessageState): string[] {
  const open: string[] = [];
  for (const [rcpt, rs] of state.recipients) if (rs.status === 'pending' || rs.status === 'deferred') open.push(rcpt);
  return open;
}
