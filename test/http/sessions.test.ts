// Dashboard browser sessions over real HTTP on 127.0.0.1: the cookie names a
// server-side session that logout, a token change, expiry and the table's cap
// end; a forged or copied-after-logout cookie is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenAuth, readCookie, SESSION_COOKIE } from '../../src/http/auth.ts';
import { startDashboard, request } from '../helpers/dashboard-fixture.ts';

const TOKEN = 'c0rrect horse battery';

async function login(url: string, token = TOKEN): Promise<string> {
  const res = await request(`${url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  assert.equal(res.status, 303);
  const setCookie = res.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.doesNotMatch(setCookie, /Secure/, 'plain HTTP: no Secure attribute');
  const id = readCookie(setCookie.split(';')[0], SESSION_COOKIE) ?? '';
  assert.match(id, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  return `${SESSION_COOKIE}=${id}`;
}

const status = async (url: string, cookie: string) => (await request(`${url}/api/status`, { headers: { cookie } })).status;

test('each login opens its own session; logout ends that one only, and the same cookie is refused afterwards', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const a = await login(d.url);
  const b = await login(d.url);
  assert.notEqual(a, b);
  assert.equal(await status(d.url, a), 200);
  assert.equal(await status(d.url, b), 200);

  const out = await request(`${d.url}/logout`, { method: 'POST', headers: { cookie: a } });
  assert.equal(out.status, 303);
  assert.equal(await status(d.url, a), 401, 'a copied cookie stops working at logout');
  assert.equal((await request(`${d.url}/`, { headers: { cookie: a } })).status, 401);
  assert.equal(await status(d.url, b), 200, 'the other session lives on');
});

test('logout refuses a cross-origin post (CSRF) and keeps the session', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const cookie = await login(d.url);
  const cross = await request(`${d.url}/logout`, { method: 'POST', headers: { cookie, origin: 'https://attacker.example' } });
  assert.equal(cross.status, 403);
  const site = await request(`${d.url}/logout`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'cross-site' } });
  assert.equal(site.status, 403);
  assert.equal(await status(d.url, cookie), 200);
  const same = await request(`${d.url}/logout`, { method: 'POST', headers: { cookie, origin: d.url, 'sec-fetch-site': 'same-origin' } });
  assert.equal(same.status, 303);
  assert.equal(await status(d.url, cookie), 401);
});

test('a changed token (reload) ends every session; the bearer follows the new token', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const a = await login(d.url);
  const b = await login(d.url);
  assert.equal(d.server.setToken(TOKEN), true, 'same token: nothing changes');
  assert.equal(await status(d.url, a), 200);
  assert.equal(d.server.setToken('a new token'), true);
  assert.equal(await status(d.url, a), 401);
  assert.equal(await status(d.url, b), 401);
  assert.equal((await request(`${d.url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
  assert.equal((await request(`${d.url}/api/status`, { headers: { authorization: 'Bearer a new token' } })).status, 200);
  const c = await login(d.url, 'a new token');
  assert.equal(await status(d.url, c), 200);
  assert.equal(d.server.setToken(undefined), false, 'turning the token off needs a restart');
  assert.equal(await status(d.url, c), 200);
});

test('a session expires a fixed time after login, however much it is used', async (t) => {
  let clock = Date.UTC(2026, 0, 1);
  const d = await startDashboard({ token: TOKEN, now: () => clock });
  t.after(() => d.close());
  const cookie = await login(d.url);
  clock += 11 * 3_600_000;
  assert.equal(await status(d.url, cookie), 200);
  clock += 3_600_000;
  assert.equal(await status(d.url, cookie), 401, 'expired at 12 h (not extended by use)');
});

test('forged cookies are refused', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  await login(d.url);
  for (const forged of ['forged', 'A'.repeat(43), `${'_'.repeat(42)}A`, '', TOKEN]) {
    assert.equal(await status(d.url, `${SESSION_COOKIE}=${forged}`), 401, forged);
  }
});

test('the session table is bounded: past the cap the oldest session goes', () => {
  let clock = 0;
  const auth = createTokenAuth(TOKEN, { maxSessions: 3, ttlMs: 1000, now: () => clock });
  const open = () => `${SESSION_COOKIE}=${readCookie(auth.sessionCookie().split(';')[0], SESSION_COOKIE)}`;
  const first = open();
  const rest = [open(), open()];
  assert.equal(auth.sessions, 3);
  const fourth = open();
  assert.equal(auth.sessions, 3);
  assert.equal(auth.allows({ cookie: first }), false, 'the oldest was dropped');
  for (const c of [...rest, fourth]) assert.equal(auth.allows({ cookie: c }), true);
  clock = 2000;
  open();
  assert.equal(auth.sessions, 1, 'expired sessions are swept when the table is full');
  assert.match(auth.sessionCookie({ secure: true }), /; Secure;/);
});
