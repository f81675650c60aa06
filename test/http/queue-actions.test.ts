// The dashboard's queue view and actions (issue 19 item 4) over real HTTP
// (fastify on 127.0.0.1) against a real spool and queue runner delivering to
// an smtp-server sink: search, detail, each action (hold, release, retry,
// delete, bounce with the backscatter rules), bulk by search, the CSRF and
// origin checks, loopback mode, the suspect-accounts panel, the audit log
// lines and the metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../helpers/dashboard-fixture.ts';
import { startQueueDashboard, suspect, TestAccounts, type QueueDashboard } from '../helpers/queue-dashboard.ts';
import { envelope, rfc822 } from '../helpers/spool-fixtures.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { matchesQuery, stateOf } from '../../src/delivery/queue-admin.ts';
import { parseQuery, sameOriginRequest } from '../../src/http/actions.ts';

const TOKEN = 'queue-actions-token-9d21';
const subjects = (qd: QueueDashboard) => qd.sink.messages.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1]);
const json = <T = Record<string, unknown>>(res: { body: string }) => JSON.parse(res.body) as T;
type Page = { messages: Array<{ id: string; state: string; sender: string; user?: string; attempts: number; lastReply?: string }>; next?: string; scanned: number };
type Results = { results: Array<{ id: string; ok: boolean; message: string }>; truncated: boolean };

async function session(t: Parameters<typeof startQueueDashboard>[0], options: Parameters<typeof startQueueDashboard>[1] = {}) {
  const qd = await startQueueDashboard(t, { token: TOKEN, ...options });
  await qd.login();
  const csrf = await qd.csrf();
  const act = (body: unknown, headers: Record<string, string> = {}) => qd.post('/api/queue/actions', body, { 'x-csrf-token': csrf, ...headers });
  return { qd, csrf, act };
}

const held = (at = Date.now()) => ({ hold: { at, until: at + 3_600_000, reason: 'volume', by: 'anomaly.volume' } });

test('PURE: states and query matching', () => {
  const msg = (attempts: number, isHeld: boolean, env = envelope({ authUser: 'Mallory', recipients: ['x@Far.example', 'y@near.test'] })) =>
    ({ envelope: { ...env, id: 'X' }, state: { attempts, nextAttemptAt: 0, warned: false, recipients: new Map(), history: [], ...(isHeld ? { held: { at: 0, until: 1, reason: '', by: '' } } : {}) } });
  assert.equal(stateOf(msg(0, false)), 'queued');
  assert.equal(stateOf(msg(2, false)), 'deferred');
  assert.equal(stateOf(msg(2, true)), 'held');
  assert.equal(matchesQuery(msg(0, false), { user: 'mallory', recipient: 'far.EXAMPLE', sender: 'ALICE@' }), true);
  assert.equal(matchesQuery(msg(0, false), { user: 'mallor' }), false, 'user is exact');
  assert.equal(matchesQuery(msg(0, false), { sender: '<>' }), false);
  assert.equal(matchesQuery(msg(0, false, envelope({ sender: '' })), { sender: '<>' }), true);
  assert.equal(matchesQuery(msg(1, false), { state: 'queued' }), false);
  assert.deepEqual(parseQuery({ state: 'bogus' }), { error: 'state must be one of queued, deferred, held, quarantined' });
  assert.deepEqual(parseQuery({ sender: 'a', limit: '5', recipient: '' }), { sender: 'a', limit: 5 });
  assert.equal(sameOriginRequest({ host: '127.0.0.1:8025', origin: 'http://127.0.0.1:8025' }), true);
  assert.equal(sameOriginRequest({ host: '127.0.0.1:8025', origin: 'http://127.0.0.1:8026' }), false);
  assert.equal(sameOriginRequest({ host: '127.0.0.1:8025', origin: 'null' }), false);
  assert.equal(sameOriginRequest({ host: '127.0.0.1:8025', 'sec-fetch-site': 'cross-site' }), false);
  assert.equal(sameOriginRequest({ host: '127.0.0.1:8025' }), true, 'a script sends neither header');
});

test('search by state, sender, recipient and user, paginated; detail shows envelope, headers and attempts but never the body', async (t) => {
  const { qd } = await session(t);
  qd.sink.rcptReply('slow@dest.test', '451 4.3.0 come back later');
  const deferred = await qd.spool.accept(envelope({ recipients: ['slow@dest.test'], authUser: 'carol' }), rfc822('deferred', 'SECRET BODY TEXT\r\n'));
  const h1 = await qd.spool.accept(envelope({ authUser: 'mallory', sender: 'bot1@sender.test' }), rfc822('h1'), held());
  const h2 = await qd.spool.accept(envelope({ authUser: 'mallory', sender: 'bot2@sender.test', recipients: ['z@other.example'] }), rfc822('h2'), held());
  await waitFor(() => qd.runner.stats().deferred >= 1 && qd.runner.stats().loaded === 0, 5000, 'the first attempt deferred');

  const all = json<Page>(await qd.get('/api/queue'));
  assert.deepEqual(all.messages.map((m) => m.id), [deferred, h1, h2]);
  assert.equal(all.next, undefined);
  const d = all.messages[0];
  assert.equal(d?.state, 'deferred');
  assert.equal(d?.attempts, 1);
  assert.match(d?.lastReply ?? '', /451 4\.3\.0 come back later/);
  assert.deepEqual(json<Page>(await qd.get('/api/queue?state=held')).messages.map((m) => m.id), [h1, h2]);
  assert.deepEqual(json<Page>(await qd.get('/api/queue?state=deferred')).messages.map((m) => m.id), [deferred]);
  assert.deepEqual(json<Page>(await qd.get('/api/queue?sender=BOT2')).messages.map((m) => m.id), [h2]);
  assert.deepEqual(json<Page>(await qd.get('/api/queue?recipient=other.example')).messages.map((m) => m.id), [h2]);
  assert.deepEqual(json<Page>(await qd.get('/api/queue?user=Mallory&state=held')).messages.map((m) => m.id), [h1, h2]);
  const first = json<Page>(await qd.get('/api/queue?limit=2'));
  assert.deepEqual(first.messages.map((m) => m.id), [deferred, h1]);
  assert.ok(first.next);
  const second = json<Page>(await qd.get(`/api/queue?limit=2&after=${first.next}`));
  assert.deepEqual(second.messages.map((m) => m.id), [h2]);
  assert.equal((await qd.get('/api/queue?state=nonsense')).status, 400);
  assert.deepEqual(json(await qd.get('/api/queue?state=quarantined')), { messages: [], quarantined: [], scanned: 0, unreadable: 0 });

  const detail = await qd.get(`/api/queue/${deferred}`);
  assert.equal(detail.status, 200);
  const m = json<{ envelope: { sender: string; authUser: string }; headers: string; history: Array<{ kind: string }>; attempts: number }>(detail);
  assert.equal(m.envelope.authUser, 'carol');
  assert.match(m.headers, /^From: Alice <alice@sender\.test>\r\n/);
  assert.match(m.headers, /Subject: deferred\r\n/);
  assert.doesNotMatch(detail.body, /SECRET BODY TEXT/, 'the body is not sent');
  assert.deepEqual(m.history.map((h) => h.kind), ['attempt']);
  assert.equal((await qd.get('/api/queue/0000000000000000Z')).status, 404);
  assert.equal((await qd.get('/api/queue/..%2F..%2Fetc')).status, 404);
});

test('hold, release, retry, delete: each goes through the queue commands; the log line says who, what and which messages; metrics count it', async (t) => {
  const { qd, act } = await session(t);
  qd.sink.rcptReply('slow@dest.test', '451 4.3.0 later');
  const a = await qd.spool.accept(envelope({ recipients: ['slow@dest.test'] }), rfc822('a'));
  const b = await qd.spool.accept(envelope({ recipients: ['slow@dest.test'] }), rfc822('b'));
  await waitFor(() => qd.runner.stats().deferred >= 2 && qd.runner.stats().loaded === 0, 5000, 'both deferred');

  const hold = await act({ action: 'hold', ids: [a] });
  assert.equal(hold.status, 200, hold.body);
  assert.deepEqual(json<Results>(hold).results, [{ id: a, ok: true, message: `${a}: held` }]);
  assert.equal(qd.spool.isHeld(a), true);
  const heldState = (await qd.spool.load(a))?.state.held;
  assert.match(heldState?.reason ?? '', /^held from the dashboard by session:[0-9a-f]{8}$/);
  assert.match(heldState?.by ?? '', /^dashboard session:[0-9a-f]{8}$/);
  assert.deepEqual(json<Results>(await act({ action: 'hold', ids: [a] })).results, [{ id: a, ok: false, message: `${a}: already held` }]);

  // Retry: the held one stays held (the queue commands say so), the other is attempted again now.
  qd.sink.rcptReply('slow@dest.test', undefined);
  const retry = json<Results>(await act({ action: 'retry', ids: [a, b] }));
  assert.deepEqual(retry.results.map((r) => [r.id, r.ok]), [[a, false], [b, true]]);
  assert.match(retry.results[0]?.message ?? '', /held; relayguard queue release/);
  await waitFor(() => !qd.spool.has(b), 5000, 'b delivered after retry now');
  assert.deepEqual(subjects(qd), ['b']);

  const release = json<Results>(await act({ action: 'release', ids: [a] }));
  assert.deepEqual(release.results, [{ id: a, ok: true, message: `${a}: released` }]);
  await waitFor(() => !qd.spool.has(a), 5000, 'a delivered once released');
  assert.deepEqual(subjects(qd), ['b', 'a']);

  const c = await qd.spool.accept(envelope(), rfc822('c'), held());
  const del = json<Results>(await act({ action: 'delete', ids: [c, '0000000000000000Z', '../x'] }));
  assert.deepEqual(del.results, [
    { id: c, ok: true, message: `${c}: deleted` },
    { id: '0000000000000000Z', ok: false, message: 'no message 0000000000000000Z in the queue' },
    { id: '../x', ok: false, message: 'not a queue ID: ../x' },
  ]);
  assert.equal(qd.spool.has(c), false);
  assert.deepEqual(subjects(qd), ['b', 'a'], 'the deleted message never went out');

  const audit = qd.lines.filter((l) => l.event === 'dashboard.action');
  assert.deepEqual(audit.map((l) => [l.action, l.ids]), [['hold', [a]], ['hold', []], ['retry', [b]], ['release', [a]], ['delete', [c]]]);
  assert.ok(audit.every((l) => typeof l.who === 'string' && /^session:[0-9a-f]{8}$/.test(l.who)));
  assert.deepEqual(audit[4]?.failed, ['0000000000000000Z', '../x']);
  const metrics = (await qd.get('/metrics')).body;
  assert.match(metrics, /relayguard_dashboard_actions_total\{action="hold",result="done"\} 2/);
  assert.match(metrics, /relayguard_dashboard_action_messages_total\{action="delete",outcome="ok"\} 1/);
  assert.match(metrics, /relayguard_dashboard_action_messages_total\{action="delete",outcome="failed"\} 2/);
});

test('bounce: an RFC 3464 failure DSN to the sender, then gone; no DSN to a local sender known not to exist (backscatter rules)', async (t) => {
  const { qd, act } = await session(t, { senderUnknown: (sender) => sender === 'ghost@sender.test' });
  const real = await qd.spool.accept(envelope({ sender: 'alice@sender.test', recipients: ['bob@dest.test'] }), rfc822('to bounce'), held());
  const ghost = await qd.spool.accept(envelope({ sender: 'ghost@sender.test' }), rfc822('ghost'), held());
  const nullSender = await qd.spool.accept(envelope({ sender: '' }), rfc822('null'), held());
  const res = json<Results>(await act({ action: 'bounce', ids: [real, ghost, nullSender] }));
  assert.deepEqual(res.results.map((r) => [r.ok, r.message]), [[true, `${real}: returned to the sender`], [true, `${ghost}: returned to the sender`], [true, `${nullSender}: returned to the sender`]]);
  await qd.sink.waitFor(1);
  await waitFor(() => qd.spool.stats().size === 0, 5000, 'the DSN delivered, the bounced messages gone');
  const [dsn] = qd.sink.messages;
  assert.equal(qd.sink.messages.length, 1, 'one DSN: none for the unknown local sender, none for the null sender');
  assert.deepEqual(dsn?.to, ['alice@sender.test']);
  assert.equal(dsn?.from, '');
  const raw = dsn?.raw.toString() ?? '';
  assert.match(raw, /Content-Type: multipart\/report; report-type=delivery-status/i);
  assert.match(raw, /Action: failed/);
  assert.match(raw, /Final-Recipient: rfc822; ?bob@dest\.test/);
  assert.match(raw, /removed from the queue by the administrator/);
  assert.ok(qd.lines.some((l) => l.why === 'unknown_local_sender' && l.sender === 'ghost@sender.test'), 'the withheld DSN is logged');
});

test('bulk by search: hold every message of a user (and only those), then release them all', async (t) => {
  const { qd, act } = await session(t);
  qd.sink.rcptReply('slow@dest.test', '451 4.3.0 later');
  const m1 = await qd.spool.accept(envelope({ authUser: 'mallory', recipients: ['slow@dest.test'] }), rfc822('m1'));
  const m2 = await qd.spool.accept(envelope({ authUser: 'Mallory', recipients: ['slow@dest.test'] }), rfc822('m2'));
  const other = await qd.spool.accept(envelope({ authUser: 'carol', recipients: ['slow@dest.test'] }), rfc822('other'));
  await waitFor(() => qd.runner.stats().deferred >= 3 && qd.runner.stats().loaded === 0, 5000, 'all deferred');
  const hold = json<Results>(await act({ action: 'hold', query: { user: 'mallory' } }));
  assert.deepEqual(hold.results.map((r) => r.id), [m1, m2]);
  assert.equal(hold.truncated, false);
  assert.deepEqual(qd.spool.heldIds().sort(), [m1, m2].sort());
  assert.equal(qd.spool.isHeld(other), false);
  const audit = qd.lines.find((l) => l.event === 'dashboard.action');
  assert.deepEqual(audit?.query, { user: 'mallory' });
  assert.deepEqual(audit?.ids, [m1, m2]);
  const release = json<Results>(await act({ action: 'release', query: { state: 'held' } }));
  assert.deepEqual(release.results.map((r) => [r.id, r.ok]), [[m1, true], [m2, true]]);
  assert.equal(qd.spool.heldIds().length, 0);
  assert.equal((await act({ action: 'hold', ids: [m1], query: { user: 'x' } })).status, 400, 'ids or query, not both');
  assert.equal((await act({ action: 'explode', ids: [m1] })).status, 400);
});

test('CSRF and origin: refused with 403 without the token, with a wrong one, with another session\'s, cross-origin, as a form; GET changes nothing; no session is 401', async (t) => {
  const { qd, csrf, act } = await session(t);
  const id = await qd.spool.accept(envelope(), rfc822('x'), held());
  const refused = async (res: Promise<{ status: number; body: string }>, why: RegExp) => {
    const r = await res;
    assert.equal(r.status, 403, r.body);
    assert.match(json<{ error: string }>(r).error, why);
  };
  await refused(qd.post('/api/queue/actions', { action: 'delete', ids: [id] }), /missing CSRF token/);
  await refused(act({ action: 'delete', ids: [id] }, { 'x-csrf-token': `${csrf.slice(0, -2)}xx` }), /wrong CSRF token/);
  await refused(act({ action: 'delete', ids: [id] }, { 'x-csrf-token': 'short' }), /wrong CSRF token/);
  // Another browser session (its own cookie) has its own token; this session's token does not fit it.
  const other = await startSecondSession(qd);
  await refused(qd.post('/api/queue/actions', { action: 'delete', ids: [id] }, { cookie: other, 'x-csrf-token': csrf }), /wrong CSRF token/);
  await refused(act({ action: 'delete', ids: [id] }, { origin: 'http://evil.example' }), /cross-origin/);
  await refused(act({ action: 'delete', ids: [id] }, { origin: `http://127.0.0.1:1` }), /cross-origin/);
  await refused(act({ action: 'delete', ids: [id] }, { 'sec-fetch-site': 'cross-site' }), /cross-origin/);
  await refused(act('action=delete', { 'content-type': 'application/x-www-form-urlencoded' }), /content type/);
  await refused(act('{"action":"delete","ids":["' + id + '"]}', { 'content-type': 'text/plain' }), /content type/);
  await refused(qd.post('/api/accounts/lock', { user: 'x' }), /missing CSRF token/);
  // GET on an action path is not a route; GET with the parameters changes nothing.
  assert.equal((await qd.get(`/api/queue/actions?action=delete&ids=${id}`, { 'x-csrf-token': csrf })).status, 404);
  assert.equal((await qd.get(`/api/accounts/lock?user=x`)).status, 404);
  // No session at all: the authentication hook answers first.
  const anonymous = await request(`${qd.url}/api/queue/actions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ action: 'delete', ids: [id] }) });
  assert.equal(anonymous.status, 401);
  assert.equal(qd.spool.has(id), true, 'nothing was deleted');
  assert.equal(qd.spool.isHeld(id), true);
  const metrics = (await qd.get('/metrics')).body;
  assert.match(metrics, /relayguard_dashboard_actions_total\{action="delete",result="refused"\} 7/);
  assert.match(metrics, /relayguard_dashboard_actions_total\{action="unknown",result="refused"\} 2/, 'the form and text bodies name no action we read');
  assert.match(metrics, /relayguard_dashboard_actions_total\{action="account_lock",result="refused"\} 1/);
  assert.ok(qd.lines.filter((l) => l.event === 'dashboard.action_refused').length >= 9);
  assert.equal(qd.lines.filter((l) => l.event === 'dashboard.action').length, 0);
  // And the right token still works.
  assert.equal((await act({ action: 'delete', ids: [id] })).status, 200);
  assert.equal(qd.spool.has(id), false);
});

async function startSecondSession(qd: QueueDashboard): Promise<string> {
  const res = await request(`${qd.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` });
  return String(res.headers['set-cookie']).split(';')[0] as string;
}

test('a script with the bearer header: GET /api/session gives its CSRF token, and the action is logged as bearer', async (t) => {
  const qd = await startQueueDashboard(t, { token: TOKEN });
  const bearer = { authorization: `Bearer ${TOKEN}` };
  const csrf = await qd.csrf(bearer);
  const id = await qd.spool.accept(envelope(), rfc822('x'), held());
  const res = await request(`${qd.url}/api/queue/actions`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ action: 'delete', ids: [id] }) });
  assert.equal(res.status, 200, res.body);
  assert.equal(qd.lines.find((l) => l.event === 'dashboard.action')?.who, 'bearer');
});

test('no token (loopback-only dashboard): actions still need the CSRF token, a loopback Host and a same-origin Origin', async (t) => {
  const qd = await startQueueDashboard(t);
  const csrf = await qd.csrf({});
  const id = await qd.spool.accept(envelope(), rfc822('x'), held());
  assert.equal((await qd.post('/api/queue/actions', { action: 'delete', ids: [id] })).status, 403);
  const rebinding = await qd.post('/api/queue/actions', { action: 'delete', ids: [id] }, { 'x-csrf-token': csrf, host: `evil.example:${qd.host.split(':')[1]}`, origin: `http://evil.example:${qd.host.split(':')[1]}` });
  assert.equal(rebinding.status, 403, 'DNS rebinding: a non-loopback Host name is refused');
  assert.equal((await qd.post('/api/queue/actions', { action: 'delete', ids: [id] }, { 'x-csrf-token': csrf, origin: 'http://localhost.evil.example' })).status, 403);
  assert.equal(qd.spool.has(id), true);
  const ok = await qd.post('/api/queue/actions', { action: 'delete', ids: [id] }, { 'x-csrf-token': csrf });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(qd.spool.has(id), false);
  assert.equal(qd.lines.find((l) => l.event === 'dashboard.action')?.who, 'loopback');
  assert.equal(json(await qd.get('/api/session')).who, 'loopback');
});

test('suspect accounts: not configured without AccountControl; with it, trigger and evidence shown, release (with and without held mail) and lock', async (t) => {
  const plain = await startQueueDashboard(t, { token: TOKEN });
  await plain.login();
  assert.deepEqual(json(await plain.get('/api/accounts')), { configured: false, message: 'account anomaly detection is not configured' });
  const plainCsrf = await plain.csrf();
  assert.equal((await plain.post('/api/accounts/lock', { user: 'x' }, { 'x-csrf-token': plainCsrf })).status, 404);

  const accounts = new TestAccounts([suspect('mallory', 7), suspect('trent', 2)]);
  const { qd, csrf } = await session(t, { accounts });
  const list = json<{ configured: boolean; suspects: Array<{ user: string; heldMessages: number; triggers: Array<{ trigger: string; evidence: Record<string, number> }> }> }>(await qd.get('/api/accounts'));
  assert.equal(list.configured, true);
  assert.deepEqual(list.suspects.map((s) => [s.user, s.heldMessages, s.triggers[0]?.trigger, s.triggers[0]?.evidence.distinct_domains_10m]), [['mallory', 7, 'recipient_domains', 212], ['trent', 2, 'recipient_domains', 212]]);
  const post = (path: string, body: unknown) => qd.post(path, body, { 'x-csrf-token': csrf });
  assert.equal((await post('/api/accounts/lock', { user: 'trent' })).status, 200);
  assert.equal((await post('/api/accounts/release', { user: 'mallory', releaseHeld: false })).status, 200);
  assert.equal((await post('/api/accounts/release', { user: 'trent', releaseHeld: true })).status, 200);
  assert.equal((await post('/api/accounts/release', { user: 'nobody', releaseHeld: true })).status, 404);
  assert.equal((await post('/api/accounts/release', { user: 'trent' })).status, 400, 'releaseHeld must be said');
  const by = /^session:[0-9a-f]{8}$/;
  assert.equal(accounts.calls.length, 4);
  assert.match(accounts.calls[0] ?? '', /^lock trent by session:[0-9a-f]{8}$/);
  assert.match(accounts.calls[1] ?? '', /^release mallory by session:[0-9a-f]{8} releaseHeld=false$/);
  assert.match(accounts.calls[2] ?? '', /^release trent by session:[0-9a-f]{8} releaseHeld=true$/);
  const audit = qd.lines.filter((l) => l.event === 'dashboard.action');
  assert.deepEqual(audit.map((l) => [l.action, l.user]), [['account_lock', 'trent'], ['account_release', 'mallory'], ['account_release', 'trent'], ['account_release', 'nobody']]);
  assert.ok(audit.every((l) => by.test(String(l.who))));
  assert.deepEqual(json(await qd.get('/api/accounts')), { configured: true, suspects: [] });
});
