// The queue as the dashboard sees it (issue 19 item 4): a bounded search over
// the spool, one message in detail (envelope, headers read from the spool
// file, attempts, history; never the body), and the actions. Actions go
// through handleControl (queue-control.ts), the same code `relayguard queue`
// requests run on the server, so the dashboard has no second path for hold,
// release, retry, delete or bounce.
import type { Spool, LoadedMessage } from '../spool/spool.ts';
import type { StoredEnvelope } from '../spool/spool-file.ts';
import type { ControlReply, QueueRequest } from '../spool/control.ts';
import { openRecipients, type JournalEvent } from '../spool/state-journal.ts';
import { isQueueId } from '../spool/queue-id.ts';
import { originalHeaders } from './bounces.ts';
import { handleControl } from './queue-control.ts';
import type { QueueRunner } from './runner-types.ts';

/** queued: never tried yet; deferred: tried, waiting for a retry; held; quarantined: corrupt entries kept aside. */
export type QueueState = 'queued' | 'deferred' | 'held' | 'quarantined';
export const QUEUE_STATES: readonly QueueState[] = ['queued', 'deferred', 'held', 'quarantined'];
export type QueueAction = 'hold' | 'release' | 'retry' | 'delete' | 'bounce';
export const QUEUE_ACTIONS: readonly QueueAction[] = ['hold', 'release', 'retry', 'delete', 'bounce'];

export interface QueueQuery {
  /** Substring of the envelope sender, case-insensitive ("<>" is the null sender, exactly). */
  readonly sender?: string;
  /** Substring of any envelope recipient, case-insensitive. */
  readonly recipient?: string;
  /** The authenticated user, exactly (case-insensitive). */
  readonly user?: string;
  readonly state?: QueueState;
  /** Page size (1..MAX_PAGE). */
  readonly limit?: number;
  /** Cursor: only ids after this one (the previous page's `next`). */
  readonly after?: string;
}

export interface QueueRow {
  readonly id: string;
  readonly state: Exclude<QueueState, 'quarantined'>;
  readonly receivedAt: number;
  readonly sender: string;
  readonly user?: string;
  readonly clientIp: string;
  readonly size: number;
  readonly attempts: number;
  /** Due time of the next attempt (held: when the hold expires). */
  readonly nextAttemptAt?: number;
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly status: string; readonly reply?: string }>;
  /** The newest reply any recipient got from a next hop. */
  readonly lastReply?: string;
  readonly held?: { readonly at: number; readonly until: number; readonly reason: string; readonly by: string };
}

export interface QuarantineRow {
  readonly name: string;
  readonly reason: string;
  readonly at: number;
  readonly bytes: number;
}

export interface QueuePage {
  readonly messages: readonly QueueRow[];
  /** Only with state=quarantined. */
  readonly quarantined?: readonly QuarantineRow[];
  /** Messages looked at for this page; the scan stops at MAX_SCAN. */
  readonly scanned: number;
  /** Cursor for the next page, absent when the scan reached the end of the queue. */
  readonly next?: string;
  /** Entries that could not be read (the runner quarantines them when it loads them). */
  readonly unreadable: number;
}

export interface QueueMessageDetail extends QueueRow {
  readonly envelope: StoredEnvelope;
  readonly history: readonly JournalEvent[];
  /** The header block as stored, at most MAX_HEADER_BYTES; the body is never sent. */
  readonly headers: string;
  readonly headersTruncated: boolean;
}

export interface ActionOutcome {
  readonly id: string;
  readonly ok: boolean;
  readonly message: string;
}

export interface QueueAdmin {
  search(query: QueueQuery): Promise<QueuePage>;
  show(id: string): Promise<QueueMessageDetail | undefined>;
  /** The ids a search selects, for a bulk action (at most MAX_BULK; `truncated` when there were more). */
  select(query: Omit<QueueQuery, 'limit' | 'after'>): Promise<{ ids: string[]; truncated: boolean }>;
  /** Carries out one action on each id, one after the other, through handleControl. */
  act(action: QueueAction, ids: readonly string[], by: string): Promise<ActionOutcome[]>;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 200;
/** Most spool entries one search loads (a queue of 100,000 must not stall the dashboard). */
export const MAX_SCAN = 5000;
export const MAX_BULK = 1000;
export const MAX_HEADER_BYTES = 32 * 1024;

/** PURE. The state a loaded message is in. */
export function stateOf(msg: Pick<LoadedMessage, 'state'>): Exclude<QueueState, 'quarantined'> {
  if (msg.state.held) return 'held';
  return msg.state.attempts > 0 ? 'deferred' : 'queued';
}

/** PURE. Does a message match a query (all given fields must match)? */
export function matchesQuery(msg: Pick<LoadedMessage, 'envelope' | 'state'>, query: QueueQuery): boolean {
  const e = msg.envelope;
  if (query.state !== undefined && query.state !== stateOf(msg)) return false;
  if (query.user !== undefined && query.user !== '' && (e.authUser ?? '').toLowerCase() !== query.user.toLowerCase()) return false;
  if (query.sender !== undefined && query.sender !== '') {
    if (query.sender === '<>') {
      if (e.sender !== '') return false;
    } else if (!e.sender.toLowerCase().includes(query.sender.toLowerCase())) return false;
  }
  if (query.recipient !== undefined && query.recipient !== '') {
    const wanted = query.recipient.toLowerCase();
    if (!e.recipients.some((r) => r.toLowerCase().includes(wanted))) return false;
  }
  return true;
}

function row(msg: LoadedMessage): QueueRow {
  const e = msg.envelope;
  const s = msg.state;
  let lastReply: { at: number; reply: string } | undefined;
  for (const rs of s.recipients.values()) {
    if (rs.reply && (lastReply === undefined || (rs.at ?? 0) >= lastReply.at)) lastReply = { at: rs.at ?? 0, reply: rs.reply };
  }
  const open = openRecipients(s).length > 0;
  return {
    id: msg.id,
    state: stateOf(msg),
    receivedAt: e.receivedAt,
    sender: e.sender,
    ...(e.authUser !== undefined ? { user: e.authUser } : {}),
    clientIp: e.clientIp,
    size: msg.size,
    attempts: s.attempts,
    ...(open ? { nextAttemptAt: s.held ? s.held.until : s.nextAttemptAt } : {}),
    recipients: [...s.recipients].map(([address, rs]) => ({ address, status: rs.status, ...(rs.reply ? { reply: rs.reply } : {}) })),
    ...(lastReply ? { lastReply: lastReply.reply } : {}),
    ...(s.held ? { held: { at: s.held.at, until: s.held.until, reason: s.held.reason, by: s.held.by } } : {}),
  };
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE;
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(limit)));
}

/** The request handleControl carries out for one action on one message. */
export function controlRequestFor(action: QueueAction, id: string, by: string): QueueRequest {
  switch (action) {
    case 'hold':
      return { op: 'hold', selector: { id }, reason: `held from the dashboard by ${by}`, by: `dashboard ${by}` };
    case 'release':
      return { op: 'release', selector: { id } };
    case 'retry':
      return { op: 'retry', id };
    case 'delete':
      return { op: 'delete', id };
    case 'bounce':
      return { op: 'bounce', id };
  }
}

export function createQueueAdmin(deps: { readonly spool: Spool; readonly runner: QueueRunner }): QueueAdmin {
  const { spool, runner } = deps;

  async function scan(query: QueueQuery, limit: number, maxScan: number): Promise<{ hits: LoadedMessage[]; scanned: number; next?: string; unreadable: number }> {
    const hits: LoadedMessage[] = [];
    let scanned = 0;
    let unreadable = 0;
    let last: string | undefined;
    // entries() is oldest id first, and ids sort by accept time, so `after` is a stable cursor.
    for (const [id] of spool.entries()) {
      if (query.after !== undefined && id <= query.after) continue;
      if (hits.length >= limit || scanned >= maxScan) return { hits, scanned, next: last ?? id, unreadable };
      scanned++;
      last = id;
      let msg: LoadedMessage | undefined;
      try {
        msg = await spool.load(id);
      } catch {
        unreadable++;
        continue;
      }
      if (msg && matchesQuery(msg, query)) hits.push(msg);
    }
    return { hits, scanned, unreadable };
  }

  return {
    async search(query) {
      if (query.state === 'quarantined') {
        const entries = await spool.quarantined();
        const limit = clampLimit(query.limit);
        const start = query.after === undefined ? 0 : entries.findIndex((e) => e.name === query.after) + 1;
        const page = entries.slice(start, start + limit);
        const more = start + limit < entries.length;
        return {
          messages: [],
          quarantined: page.map((e) => ({ name: e.name, reason: e.reason, at: e.at, bytes: e.bytes })),
          scanned: page.length,
          unreadable: 0,
          ...(more && page.length > 0 ? { next: (page[page.length - 1] as { name: string }).name } : {}),
        };
      }
      const found = await scan(query, clampLimit(query.limit), MAX_SCAN);
      return { messages: found.hits.map(row), scanned: found.scanned, unreadable: found.unreadable, ...(found.next !== undefined ? { next: found.next } : {}) };
    },

    async show(id) {
      if (!isQueueId(id) || !spool.has(id)) return undefined;
      const msg = await spool.load(id);
      if (!msg) return undefined;
      const block = await originalHeaders(msg);
      const truncated = block.length > MAX_HEADER_BYTES;
      return {
        ...row(msg),
        envelope: msg.envelope,
        history: msg.state.history,
        headers: block.subarray(0, MAX_HEADER_BYTES).toString('utf8'),
        headersTruncated: truncated,
      };
    },

    async select(query) {
      if (query.state === 'quarantined') return { ids: [], truncated: false };
      // A bulk action may look at the whole queue; it stops at MAX_BULK matches.
      const found = await scan(query, MAX_BULK, Number.POSITIVE_INFINITY);
      return { ids: found.hits.map((m) => m.id), truncated: found.next !== undefined };
    },

    async act(action, ids, by) {
      const out: ActionOutcome[] = [];
      for (const id of ids) {
        if (!isQueueId(id)) {
          out.push({ id, ok: false, message: `not a queue ID: ${id}` });
          continue;
        }
        let reply: ControlReply;
        try {
          reply = await handleControl(runner, controlRequestFor(action, id, by));
        } catch (error) {
          reply = { ok: false, message: `${id}: ${(error as Error).message}` };
        }
        out.push({ id, ...reply });
      }
      return out;
    },
  };
}
