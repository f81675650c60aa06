// The HTTP side of relayguard on fastify: the dashboard page and its assets,
// GET /api/status, GET /metrics (Prometheus text) and GET /healthz; the queue
// view, its actions and the suspect-accounts panel are in actions.ts.
// Access: /healthz is always open (load balancers carry no secrets). With a
// token every other route needs it (see auth.ts). Without one, the server
// refuses to start on a non-loopback address (the config loader already
// refuses it; this is the second line), and only answers requests whose Host
// header names a loopback address, so a web page in the administrator's
// browser cannot reach it through DNS rebinding.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../net/host-port.ts';
import { ConfigError } from '../config/errors.ts';
import { isLoopbackHost } from '../config/load-config.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { TrafficStats } from '../observability/traffic-stats.ts';
import type { AccountControl } from '../accounts/account-control.ts';
import type { QueueAdmin } from '../delivery/queue-admin.ts';
import { registerActions } from './actions.ts';
import { createTokenAuth } from './auth.ts';
import { loadAssets, loginPage, type Asset } from './page.ts';
import type { DashboardSources } from '../observability/sources.ts';
import { buildStatus } from './status.ts';

export interface HttpServerOptions {
  /** The [http] section of config.toml. */
  readonly http: { readonly address: HostPort; readonly token?: string | undefined; readonly session_ttl?: number | undefined };
  /** Most browser sessions held at once; default 1000 (see auth.ts). */
  readonly maxSessions?: number;
  readonly sources: DashboardSources;
  readonly traffic: TrafficStats;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How often the page polls /api/status; default 2000 ms. */
  readonly pollIntervalMs?: number;
  /** The queue view and its actions (serve: the spool and the running queue runner); absent: the view says so. */
  readonly queue?: QueueAdmin | undefined;
  /** Account anomaly detection (issue 19 item 2); absent: the suspect-accounts panel says it is not configured. */
  readonly accounts?: AccountControl | undefined;
}

export interface HttpServer {
  /** Binds the configured address; resolves with the bound one (port 0 → the real port). */
  listen(): Promise<HostPort>;
  close(): Promise<void>;
  /** The bound address, null before listen(). */
  readonly address: HostPort | null;
  /**
   * A reloaded http.token: a different token ends every browser session.
   * False when the change needs a restart (turning the token on or off).
   */
  setToken(token: string | undefined): boolean;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const LOGIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Host header → host name without port or brackets. */
function hostName(header: string | undefined): string {
  if (!header) return '';
  const bracketed = /^\[([^\]]+)\]/.exec(header);
  if (bracketed) return bracketed[1] as string;
  const colon = header.lastIndexOf(':');
  return colon > 0 && header.indexOf(':') === colon ? header.slice(0, colon) : header;
}

/** The cookie gets Secure when the request came over TLS. */
function secure(request: FastifyRequest): { secure: boolean } {
  return { secure: request.protocol === 'https' };
}

/**
 * False for a request a browser marks as sent by another site: Sec-Fetch-Site
 * other than same-origin/none, or an Origin whose host is not the Host header.
 * Requests without either header (scripts, old browsers) pass.
 */
function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function tokenParam(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof value === 'string' ? value : undefined;
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { http, sources, traffic, metrics } = options;
  const token = http.token || undefined;
  if (!token && !isLoopbackHost(http.address.host)) {
    throw new ConfigError([{ file: 'config', line: 0, message: 'http.address: a dashboard on a non-loopback address needs http.token' }]);
  }
  const now = options.now ?? Date.now;
  const auth = createTokenAuth(token, {
    now,
    ...(http.session_ttl !== undefined ? { ttlMs: http.session_ttl } : {}),
    ...(options.maxSessions !== undefined ? { maxSessions: options.maxSessions } : {}),
  });
  const log = options.logger.child({ component: 'http' });
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  let assets: Promise<Map<string, Asset>> | undefined;
  const asset = async (name: string) => (await (assets ??= loadAssets(pollIntervalMs, auth.enabled ? 'token' : 'none'))).get(name);
  let bound: HostPort | null = null;

  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, new URLSearchParams(body as string));
  });

  const sendLogin = (reply: FastifyReply, status: number, error?: string) =>
    reply.code(status).header('content-security-policy', LOGIN_CSP).type('text/html; charset=utf-8').send(loginPage(sources.instance, error));

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.headers(SECURITY_HEADERS);
    const path = request.url.split('?')[0];
    if (path === '/healthz') return;
    if (!auth.enabled) {
      if (!isLoopbackHost(hostName(request.headers.host))) {
        return reply.code(403).type('text/plain; charset=utf-8')
          .send('This dashboard has no token and only answers on a loopback host name; set http.token to reach it under another name.\n');
      }
      return;
    }
    if (request.method === 'POST' && path === '/login') return; // the handler checks the form
    if (request.method === 'GET' && path === '/' && tokenParam(request) !== undefined) return; // so does GET /?token=
    if (auth.allows({ authorization: request.headers.authorization, cookie: request.headers.cookie })) return;
    if (request.method === 'GET' && path === '/') return sendLogin(reply, 401);
    return reply.code(401).header('www-authenticate', 'Bearer realm="relayguard"').send({ error: 'unauthorized' });
  });

  app.get('/healthz', async (_request, reply) => {
    let checks = { listeners: false, spoolWritable: false };
    try {
      const r = await sources.ready();
      checks = { listeners: r.listeners === true, spoolWritable: r.spoolWritable === true };
    } catch (error) {
      log.warn({ err: error }, 'readiness source failed');
    }
    const ready = checks.listeners && checks.spoolWritable;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...checks });
  });

  app.post('/login', async (request, reply) => {
    const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
    const candidate = form.get('token') ?? '';
    if (!auth.enabled) return reply.code(303).header('location', '/').send();
    if (candidate === '' || !auth.matches(candidate)) {
      log.warn({ ip: request.ip }, 'dashboard login refused');
      return sendLogin(reply, 401, 'That token is not right.');
    }
    return reply.code(303).header('set-cookie', auth.sessionCookie(secure(request))).header('location', '/').send();
  });

  app.post('/logout', async (request, reply) => {
    // The cookie is SameSite=Strict, so another site cannot make a browser send
    // it; on top of that a cross-origin form post is refused outright.
    if (!sameOrigin(request)) return reply.code(403).send({ error: 'cross-origin request refused' });
    if (auth.enabled) reply.header('set-cookie', auth.revoke(request.headers.cookie, secure(request)));
    return reply.code(303).header('location', '/').send();
  });

  app.get('/', async (request, reply) => {
    const candidate = tokenParam(request);
    if (candidate !== undefined && auth.enabled) {
      // Redirect so the token leaves the address bar (and the history entry the page lives in).
      if (auth.matches(candidate)) return reply.code(303).header('set-cookie', auth.sessionCookie(secure(request))).header('location', '/').send();
      if (!auth.allows({ authorization: request.headers.authorization, cookie: request.headers.cookie })) {
        return sendLogin(reply, 401, 'That token is not right.');
      }
      return reply.code(303).header('location', '/').send();
    }
    const page = await asset('index.html');
    return reply.header('content-security-policy', PAGE_CSP).type(page?.type ?? 'text/html').send(page?.body);
  });

  app.get('/assets/:name', async (request, reply) => {
    const found = await asset((request.params as { name: string }).name);
    if (!found || found.name === 'index.html') return reply.code(404).send({ error: 'not found' });
    return reply.header('cache-control', 'no-cache').type(found.type).send(found.body);
  });

  registerActions(app, { auth, queue: options.queue, accounts: options.accounts, logger: options.logger, metrics });

  app.get('/api/status', async (_request, reply) => reply.send(await buildStatus(sources, traffic, now())));

  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));

  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    const message = status < 500 && error instanceof Error ? error.message : 'internal error';
    if (status >= 500) log.error({ err: error, url: request.url }, 'http handler failed');
    return reply.code(status >= 400 && status < 600 ? status : 500).send({ error: message });
  });

  return {
    async listen() {
      await app.listen({ host: http.address.host, port: http.address.port });
      const info = app.server.address() as AddressInfo;
      bound = { host: info.address, port: info.port };
      log.info({ address: `${info.address}:${info.port}`, auth: auth.enabled ? 'token' : 'loopback only' }, 'dashboard listening');
      return bound;
    },
    async close() {
      await app.close();
      bound = null;
    },
    get address() {
      return bound;
    },
    setToken(next) {
      const applied = auth.setToken(next || undefined);
      if (!applied) log.warn({ event: 'http.token_needs_restart' }, 'http.token turned on or off: restart to apply');
      return applied;
    },
  };
}
