// The dashboard's queue view and actions, and the suspect-accounts panel
// (issue 19 item 4): JSON under /api/, used by the page and by scripts.
//
// Reading: GET /api/queue (search, paginated, bounded), GET /api/queue/:id
// (envelope, headers, attempts; never the body), GET /api/accounts.
// Changing: POST only (a GET never changes anything):
//   POST /api/queue/actions   {action, ids: [...]} or {action, query: {...}}
//   POST /api/accounts/release {user, releaseHeld}
//   POST /api/accounts/lock    {user}
//
// CSRF, chosen: a synchronizer token tied to who is asking. The token is
// HMAC-SHA256(per-process secret, subject), where the subject is the session
// id for a browser session (so it dies with the session: logout, expiry,
// token change, restart), "bearer" for a script with the Authorization
// header, and "loopback" when no http.token is configured. The page reads it
// from GET /api/session (same-origin only: we send no CORS headers, so
// another site's script cannot read it) and sends it as X-CSRF-Token. Every
// POST here needs, in this order:
//   1. authentication: the token session or bearer header (server.ts's hook;
//      without http.token the dashboard is loopback-only and the hook already
//      refuses a Host header that is not a loopback name: DNS rebinding);
//   2. a same-origin request: Sec-Fetch-Site, when sent, is same-origin, and
//      Origin, when sent, names exactly the Host the request came to (a
//      browser always sends Origin on a POST from a page; curl sends neither);
//   3. Content-Type application/json (a cross-site HTML form cannot send it
//      without a CORS preflight, which we never grant);
//   4. the X-CSRF-Token header equal (constant time) to the subject's token.
// Why not a double-submit cookie: the session cookie is already server-side,
// so a token derived from it needs no second cookie and no storage, and
// loopback mode (no session at all) works the same way.
// Refusals are 403 with a JSON reason, logged and counted. Every action is
// logged on one line with who (session:<8 hex of a hash of its id>, bearer,
// or loopback), what and which messages, and counted in /metrics.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccountControl } from '../accounts/account-control.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { QUEUE_ACTIONS, QUEUE_STATES, type QueueAction, type QueueAdmin, type QueueQuery, type QueueState } from '../delivery/queue-admin.ts';
import type { TokenAuth } from './auth.ts';

export const CSRF_HEADER = 'x-csrf-token';
/** Largest action body (a bulk action names at most 1000 ids). */
const ACTION_BODY_LIMIT = 64 * 1024;
const MAX_IDS = 1000;

export interface ActionDeps {
  readonly auth: TokenAuth;
  readonly queue?: QueueAdmin | undefined;
  readonly accounts?: AccountControl | undefined;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

type Who = { readonly label: string; readonly subject: string };

function shortHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 8);
}

/** PURE. Does the request come from a page of this very origin (or from no browser page at all)? */
export function sameOriginRequest(headers: { origin?: string | undefined; host?: string | undefined; 'sec-fetch-site'?: string | string[] | undefined }): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  if (headers.host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === headers.host.toLowerCase();
  } catch {
    return false;
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The query of GET /api/queue or of a bulk action; an error text for a bad one. */
export function parseQuery(raw: Record<string, unknown>): QueueQuery | { error: string } {
  const state = text(raw.state);
  if (state !== undefined && state !== '' && !QUEUE_STATES.includes(state as QueueState)) return { error: `state must be one of ${QUEUE_STATES.join(', ')}` };
  const limitText = raw.limit === undefined ? undefined : String(raw.limit);
  const limit = limitText === undefined || limitText === '' ? undefined : Number(limitText);
  if (limit !== undefined && !Number.isInteger(limit)) return { error: 'limit must be a whole number' };
  const q: Record<string, unknown> = {};
  for (const key of ['sender', 'recipient', 'user', 'after'] as const) {
    const v = text(raw[key]);
    if (v !== undefined && v !== '') {
      if (v.length > 320) return { error: `${key} is too long` };
      q[key] = v;
    }
  }
  if (state) q.state = state;
  if (limit !== undefined) q.limit = limit;
  return q as QueueQuery;
}

export function registerActions(app: FastifyInstance, deps: ActionDeps): void {
  const { auth } = deps;
  const log = deps.logger.child({ component: 'http' });
  const secret = randomBytes(32);
  const count = (action: string, result: 'done' | 'refused') => deps.metrics.dashboardActions.request(action, result);
  const whoIs = (request: FastifyRequest): Who => {
    const id = auth.identify({ authorization: request.headers.authorization, cookie: request.headers.cookie });
    if (id?.kind === 'session') return { label: `session:${shortHash(id.id)}`, subject: `session:${id.id}` };
    if (id?.kind === 'bearer') return { label: 'bearer', subject: 'bearer' };
    // No token configured (loopback-only dashboard): the hook let the request in because the Host is loopback.
    return { label: 'loopback', subject: 'loopback' };
  };
  const csrfToken = (who: Who) => createHmac('sha256', secret).update(who.subject, 'utf8').digest('base64url');

  /** The checks every POST here passes (authentication happened in the hook); a reason when refused. */
  const refusal = (request: FastifyRequest, who: Who): string | undefined => {
    if (auth.enabled && !auth.identify({ authorization: request.headers.authorization, cookie: request.headers.cookie })) return 'not authenticated';
    if (!sameOriginRequest(request.headers)) return 'cross-origin request';
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') return 'content type must be application/json';
    const given = request.headers[CSRF_HEADER];
    if (typeof given !== 'string' || given === '') return 'missing CSRF token';
    const expected = Buffer.from(csrfToken(who));
    const candidate = Buffer.from(given);
    if (candidate.length !== expected.length || !timingSafeEqual(candidate, expected)) return 'wrong CSRF token';
    return undefined;
  };

  const guard = (action: string, request: FastifyRequest, reply: FastifyReply): Who | undefined => {
    const who = whoIs(request);
    const why = refusal(request, who);
    if (why === undefined) return who;
    count(action, 'refused');
    log.warn({ event: 'dashboard.action_refused', who: who.label, action, why, ip: request.ip, origin: request.headers.origin }, `dashboard ${action} refused: ${why}`);
    void reply.code(403).send({ error: why });
    return undefined;
  };

  // Form posts and anything not JSON reach the guard as a body we do not parse.
  app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser('multipart/form-data', (_req, _payload, done) => done(null, undefined));

  app.get('/api/session', async (request) => {
    const who = whoIs(request);
    return { who: who.label, auth: auth.enabled ? 'token' : 'loopback', csrf: csrfToken(who), csrfHeader: CSRF_HEADER, queue: deps.queue !== undefined, accounts: deps.accounts !== undefined };
  });

  app.get('/api/queue', async (request, reply) => {
    if (!deps.queue) return reply.code(404).send({ error: 'the queue view needs the running queue (serve)' });
    const query = parseQuery(request.query as Record<string, unknown>);
    if ('error' in query) return reply.code(400).send(query);
    return deps.queue.search(query);
  });

  app.get('/api/queue/:id', async (request, reply) => {
    if (!deps.queue) return reply.code(404).send({ error: 'the queue view needs the running queue (serve)' });
    const found = await deps.queue.show((request.params as { id: string }).id);
    if (!found) return reply.code(404).send({ error: 'no such message in the queue' });
    return found;
  });

  app.post('/api/queue/actions', { bodyLimit: ACTION_BODY_LIMIT }, async (request, reply) => {
    const body = (request.body ?? {}) as { action?: unknown; ids?: unknown; query?: unknown };
    const action = typeof body.action === 'string' && QUEUE_ACTIONS.includes(body.action as QueueAction) ? (body.action as QueueAction) : undefined;
    const who = guard(action ?? 'unknown', request, reply);
    if (!who) return reply;
    if (!deps.queue) return reply.code(404).send({ error: 'the queue view needs the running queue (serve)' });
    if (!action) return reply.code(400).send({ error: `action must be one of ${QUEUE_ACTIONS.join(', ')}` });
    let ids: string[];
    let truncated = false;
    let selectedBy: QueueQuery | undefined;
    if (Array.isArray(body.ids) && body.query === undefined) {
      if (body.ids.length === 0 || body.ids.length > MAX_IDS || !body.ids.every((i) => typeof i === 'string')) {
        return reply.code(400).send({ error: `ids must be 1 to ${MAX_IDS} queue ids` });
      }
      ids = [...new Set(body.ids as string[])];
    } else if (body.ids === undefined && body.query !== null && typeof body.query === 'object') {
      const query = parseQuery(body.query as Record<string, unknown>);
      if ('error' in query) return reply.code(400).send(query);
      selectedBy = query;
      ({ ids, truncated } = await deps.queue.select(query));
    } else {
      return reply.code(400).send({ error: 'give either ids or query' });
    }
    const results = await deps.queue.act(action, ids, who.label);
    const ok = results.filter((r) => r.ok).map((r) => r.id);
    const failed = results.filter((r) => !r.ok).map((r) => r.id);
    count(action, 'done');
    if (ok.length > 0) deps.metrics.dashboardActions.messages(action, 'ok', ok.length);
    if (failed.length > 0) deps.metrics.dashboardActions.messages(action, 'failed', failed.length);
    log.info(
      { event: 'dashboard.action', who: who.label, action, ids: ok, ...(failed.length > 0 ? { failed } : {}), ...(selectedBy ? { query: selectedBy, truncated } : {}) },
      `dashboard ${action} by ${who.label}: ${ok.length} done${failed.length > 0 ? `, ${failed.length} failed` : ''}`,
    );
    return { action, results, truncated };
  });

  app.get('/api/accounts', async () => {
    if (!deps.accounts) return { configured: false, message: 'account anomaly detection is not configured' };
    return { configured: true, suspects: deps.accounts.suspects() };
  });

  const userOf = (body: unknown): string | undefined => {
    const user = (body as { user?: unknown } | undefined)?.user;
    return typeof user === 'string' && user !== '' && user.length <= 320 ? user : undefined;
  };

  app.post('/api/accounts/release', async (request, reply) => {
    const who = guard('account_release', request, reply);
    if (!who) return reply;
    if (!deps.accounts) return reply.code(404).send({ error: 'account anomaly detection is not configured' });
    const user = userOf(request.body);
    const releaseHeld = (request.body as { releaseHeld?: unknown } | undefined)?.releaseHeld;
    if (user === undefined || typeof releaseHeld !== 'boolean') return reply.code(400).send({ error: 'give user and releaseHeld (true or false)' });
    const released = await deps.accounts.release(user, who.label, releaseHeld);
    count('account_release', 'done');
    log.info({ event: 'dashboard.action', who: who.label, action: 'account_release', user, releaseHeld, released }, `dashboard account release of ${user} by ${who.label}`);
    if (!released) return reply.code(404).send({ error: `${user} is not a suspect account` });
    return { ok: true, user, releaseHeld };
  });

  app.post('/api/accounts/lock', async (request, reply) => {
    const who = guard('account_lock', request, reply);
    if (!who) return reply;
    if (!deps.accounts) return reply.code(404).send({ error: 'account anomaly detection is not configured' });
    const user = userOf(request.body);
    if (user === undefined) return reply.code(400).send({ error: 'give user' });
    await deps.accounts.lock(user, who.label);
    count('account_lock', 'done');
    log.info({ event: 'dashboard.action', who: who.label, action: 'account_lock', user }, `dashboard account lock of ${user} by ${who.label}`);
    return { ok: true, user };
  });
}
