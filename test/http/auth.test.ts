// Access to the dashboard over real HTTP on 127.0.0.1: the token (bearer for
// the API and /metrics, cookie for the page), /healthz always open, and the
// loopback-only rules when no token is configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHttpServer } from '../../src/http/server.ts';
import { readCookie, SESSION_COOKIE } from '../../src/http/auth.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { startDashboard, request } from '../helpers/dashboard-fixture.ts';

const TOKEN = 'c0rrect horse battery';

test('with a token: the API and /metrics need the bearer header, /healthz does not', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  for (const path of ['/api/status', '/metrics', '/assets/app.js']) {
    const none = await request(d.url + path);
    assert.equal(none.status, 401, `${path} without a token`);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assert.ok(!none.body.includes(TOKEN));
    assert.equal((await request(d.url + path, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${path} wrong token`);
    assert.equal((await request(d.url + path, { headers: { authorization: `Basic ${TOKEN}` } })).status, 401, `${path} not bearer`);
    assert.equal((await request(d.url + path, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200, `${path} with bearer`);
  }
  assert.equal((await request(`${d.url}/healthz`)).status, 200);
});

test('with a token: the page shows a login form; ?token= once sets an HttpOnly SameSite=Strict cookie and leaves the URL', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());

  const page = await request(`${d.url}/`);
  assert.equal(page.status, 401);
  assert.match(page.body, /<form method="post" action="\/login">/);
  assert.equal(page.headers['set-cookie'], undefined);

  const wrong = await request(`${d.url}/?token=nope`);
  assert.equal(wrong.status, 401);
  assert.match(wrong.body, /not right/);
  assert.equal(wrong.headers['set-cookie'], undefined);

  const once = await request(`${d.url}/?token=${encodeURIComponent(TOKEN)}`);
  assert.equal(once.status, 303);
  assert.equal(once.headers.location, '/');
  const setCookie = once.headers['set-cookie']?.[0] ?? '';
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Path=\//);
  const session = readCookie(setCookie.split(';')[0], SESSION_COOKIE);
  assert.ok(session && !session.includes(TOKEN) && !setCookie.includes(TOKEN), 'the cookie does not carry the token');

  const cookie = `${SESSION_COOKIE}=${session}`;
  const opened = await request(`${d.url}/`, { headers: { cookie } });
  assert.equal(opened.status, 200);
  assert.match(opened.body, /<script type="module" src="\/assets\/app.js">/);
  assert.match(String(opened.headers['content-security-policy']), /script-src 'self'/);
  assert.equal((await request(`${d.url}/api/status`, { headers: { cookie } })).status, 200);
  assert.equal((await request(`${d.url}/assets/style.css`, { headers: { cookie } })).status, 200);
  assert.equal((await request(`${d.url}/api/status`, { headers: { cookie: `${SESSION_COOKIE}=forged` } })).status, 401);
});

test('with a token: the login form sets the cookie for the right token only; logout clears it', async (t) => {
  const d = await startDashboard({ token: TOKEN });
  t.after(() => d.close());
  const form = (token: string) => request(`${d.url}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  const bad = await form('guess');
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['set-cookie'], undefined);
  const good = await form(TOKEN);
  assert.equal(good.status, 303);
  const cookie = (good.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
  assert.equal((await request(`${d.url}/api/status`, { headers: { cookie } })).status, 200);

  const out = await request(`${d.url}/logout`, { method: 'POST', headers: { cookie } });
  assert.equal(out.status, 303);
  assert.match(out.headers['set-cookie']?.[0] ?? '', new RegExp(`^${SESSION_COOKIE}=;.*Max-Age=0`));
  assert.equal((await request(`${d.url}/logout`, { method: 'POST' })).status, 401, 'logout needs a session too');
});

test('without a token: open on loopback, but only under a loopback host name (no DNS rebinding)', async (t) => {
  const d = await startDashboard();
  t.after(() => d.close());
  assert.equal((await request(`${d.url}/api/status`)).status, 200);
  assert.equal((await request(`${d.url}/`)).status, 200);
  assert.equal((await request(`${d.url}/metrics`, { headers: { host: `localhost:${d.server.address?.port}` } })).status, 200);
  const rebound = await request(`${d.url}/api/status`, { headers: { host: 'attacker.example' } });
  assert.equal(rebound.status, 403);
  assert.match(rebound.body, /http\.token/);
  assert.equal((await request(`${d.url}/healthz`, { headers: { host: 'lb.internal' } })).status, 200);
});

test('without a token the server refuses a non-loopback address (the loader refuses it too)', () => {
  const make = (host: string, token?: string) => createHttpServer({
    http: { address: { host, port: 0 }, token },
    sources: {} as never, traffic: {} as never, metrics: {} as never, logger: silentLogger(),
  });
  assert.throws(() => make('0.0.0.0'), { code: 'CONFIG_INVALID' });
  assert.throws(() => make('192.0.2.10', ''), { code: 'CONFIG_INVALID' });
  assert.doesNotThrow(() => make('::1'));
  assert.doesNotThrow(() => make('0.0.0.0', TOKEN));
});
