/* global document, fetch, location, Node */
// The dashboard page: polls /api/status and renders it. Every value from the
// server goes into the page through textContent (client IPs, sender
// addresses and error messages come from strangers). On 401 the page reloads
// to show the login form; on a network error it keeps the last picture and
// says it is stale.
import { clock, createChart, sparkline, stamp } from './charts.js';

const $ = (selector) => document.querySelector(selector);
const POLL_MS = Number($('meta[name="poll-interval"]')?.content) || 2000;
const fmt = (n) => Number(n ?? 0).toLocaleString('en-US');
const pct = (r) => `${(r * 100).toFixed(r > 0 && r < 0.1 ? 1 : 0)}%`;

const SERIES = [
  { key: 'accepted', label: 'Accepted', color: 'var(--accepted)', area: true },
  { key: 'rejected', label: 'Rejected', color: 'var(--rejected)' },
  { key: 'deferred', label: 'Deferred', color: 'var(--deferred)' },
  { key: 'delivered', label: 'Delivered', color: 'var(--delivered)' },
  { key: 'bounced', label: 'Bounced', color: 'var(--bounced)' },
  { key: 'deliveryDeferred', label: 'Delivery retries', color: 'var(--deliveryDeferred)', dashed: true },
];
const RULE_COLORS = ['#dc2626', '#ea580c', '#d97706', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#475569', '#be123c', '#0d9488'];
const ruleColors = new Map();
const ruleColor = (rule) => {
  if (!ruleColors.has(rule)) ruleColors.set(rule, RULE_COLORS[ruleColors.size % RULE_COLORS.length]);
  return ruleColors.get(rule);
};

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}
/** "just now", "42s ago", "7m ago", "2h 05m ago": coarse enough to read at a glance. */
function ago(at, now) {
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${duration(s)} ago`;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'title') node.title = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}
const tag = (cls, text) => el('span', { class: `tag ${cls}` }, text);

function fillTable(table, rows, emptyText) {
  const body = table.tBodies[0];
  const columns = table.tHead.rows[0].cells.length;
  if (rows.length === 0) {
    body.replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: String(columns) }, emptyText)));
    return;
  }
  body.replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map((cell) =>
    cell && typeof cell === 'object' && !(cell instanceof Node) ? el('td', { class: cell.class ?? '', ...(cell.title ? { title: cell.title } : {}) }, cell.value) : el('td', {}, cell)))));
}

/** A section that failed on the server shows its error in place of its content. */
function sectionError(section) {
  return section && typeof section.error === 'string' ? section.error : null;
}

const trafficChart = createChart($('#traffic-chart'));
const rulesChart = createChart($('#rules-chart'), { kind: 'stack', emptyText: 'No refusals in the last hour' });

function renderHeader(s) {
  $('#instance').textContent = s.instance;
  $('#version').textContent = `v${s.version}`;
  $('#uptime').textContent = `up ${duration(s.uptimeSeconds)}`;
  $('#uptime').title = `Started ${stamp(s.startedAt)}`;
  const ready = $('#ready');
  if (sectionError(s.ready)) {
    ready.className = 'chip bad';
    ready.textContent = 'readiness unknown';
  } else {
    ready.className = `chip ${s.ready.ready ? 'ok' : 'bad'}`;
    ready.textContent = s.ready.ready ? 'ready' : 'NOT READY';
    ready.title = `SMTP listeners: ${s.ready.listeners ? 'up' : 'DOWN'} · spool: ${s.ready.spoolWritable ? 'writable' : 'NOT WRITABLE'}`;
  }
  const policy = $('#policy');
  if (sectionError(s.reload)) {
    policy.className = 'chip warn';
    policy.textContent = 'policy state unknown';
  } else {
    policy.className = `chip ${s.reload.ok ? 'ok' : 'bad'}`;
    policy.textContent = s.reload.ok ? `policy gen ${s.reload.generation}` : `reload FAILED · gen ${s.reload.generation} running`;
  }
  const problems = [];
  if (!sectionError(s.ready) && !s.ready.ready) {
    if (!s.ready.listeners) problems.push('SMTP listeners are not all up');
    if (!s.ready.spoolWritable) problems.push('the spool is not writable');
  }
  const redisDown = renderCluster(s.cluster);
  const text = [problems.length ? `Not ready: ${problems.join(' and ')}.` : null, redisDown].filter(Boolean).join(' ');
  setBanner(text || null);
}

/** The shared-state chip; returns a banner sentence while Redis is unreachable. */
function renderCluster(c) {
  const chip = $('#cluster');
  if (!c || sectionError(c)) {
    chip.hidden = !c;
    if (c) {
      chip.className = 'chip warn';
      chip.textContent = 'Redis state unknown';
    }
    return null;
  }
  chip.hidden = !c.shared;
  if (!c.shared || !c.redis) return null;
  const r = c.redis;
  const up = r.state === 'up';
  chip.className = `chip ${up ? 'ok' : 'bad'}`;
  chip.textContent = up ? 'Redis up' : r.state === 'connecting' ? 'Redis connecting' : 'Redis DOWN';
  chip.title = `${r.address} · ${up ? 'up' : r.state} since ${stamp(r.since)} · ${r.outages} outage(s)${r.lastError ? ` · last error: ${r.lastError}` : ''}`;
  if (up) return null;
  return r.failOpen
    ? `Redis (${r.address}) is unreachable: this instance counts limits on its own until it returns.`
    : `Redis (${r.address}) is unreachable: rate-limited commands and AUTH get 4xx until it returns (fail_open = false).`;
}

function renderKpis(s) {
  const t = s.traffic;
  for (const { key, color } of SERIES) {
    const card = document.querySelector(`[data-kpi="${key}"]`);
    if (!card) continue;
    card.querySelector('.value').textContent = fmt(t.lastHour[key]);
    card.querySelector('.meta').replaceChildren(el('b', {}, fmt(t.currentMinute[key])), ' this minute · ', el('b', {}, fmt(t.totals[key])), ' since start');
    sparkline(card.querySelector('.spark'), t.series[key], color);
  }
  const queue = document.querySelector('[data-kpi="queue"]');
  if (sectionError(s.queue)) {
    queue.querySelector('.value').textContent = '?';
    queue.querySelector('.meta').textContent = s.queue.error;
  } else {
    queue.querySelector('.value').textContent = fmt(s.queue.size);
    queue.querySelector('.meta').replaceChildren(...(s.queue.oldestAgeSeconds === null
      ? ['empty']
      : ['oldest ', el('b', {}, duration(s.queue.oldestAgeSeconds))]));
  }
}

function renderTraffic(s) {
  const t = s.traffic;
  trafficChart.update({ times: t.minutes, series: SERIES.map((x) => ({ ...x, values: t.series[x.key] })) });
  $('#traffic-legend').replaceChildren(...SERIES.map((x) => {
    const swatch = el('span', { class: 'swatch' });
    swatch.style.background = x.color;
    return el('span', {}, swatch, x.label, el('b', {}, fmt(t.lastHour[x.key])));
  }));
  const rules = Object.keys(t.refusedByRule);
  rulesChart.update({ times: t.minutes, series: rules.map((rule) => ({ label: rule, color: ruleColor(rule), values: t.refusedByRule[rule] })) });
  const max = Math.max(1, ...t.refusals.map((r) => r.count));
  const items = t.refusals.map((r) => {
    const bar = el('span');
    bar.style.width = `${(r.count / max) * 100}%`;
    bar.style.background = ruleColor(r.rule);
    return el('li', {},
      el('span', { class: 'label', title: `${r.rule} · ${r.reason}` }, r.rule, el('small', {}, r.reason), ' ', tag(r.verdict, r.verdict === 'reject' ? '5xx' : '4xx')),
      el('span', { class: 'num' }, fmt(r.count)),
      el('span', { class: 'track' }, bar));
  });
  $('#rules-list').replaceChildren(...(items.length ? items : [el('li', { class: 'muted' }, 'Nothing refused in the last hour.')]));
}

function renderRefused(s) {
  const now = s.now;
  fillTable($('#refused'), s.traffic.topRefused.map((r) => [
    { value: r.ip, class: 'mono' },
    { value: fmt(r.count), class: 'num', title: `${fmt(r.rejected)} rejected, ${fmt(r.deferred)} deferred since ${clock(r.firstAt)}` },
    r.rule,
    el('span', {}, tag(r.verdict, r.reason)),
    r.stage,
    { value: ago(r.lastAt, now), class: 'num muted', title: stamp(r.lastAt) },
  ]), 'No client refused in the last hour.');
  fillTable($('#recent'), s.traffic.recentRefusals.map((r) => [
    { value: clock(r.at, true), class: 'mono muted', title: stamp(r.at) },
    { value: r.clientIp, class: 'mono' },
    r.source ? `${r.stage} · ${r.source}` : r.stage,
    tag(r.verdict, r.code ?? r.verdict),
    r.rule,
    r.reason,
    { value: r.sender === undefined && r.recipient === undefined ? '–' : `${r.sender === '' ? '<>' : r.sender ?? '…'} → ${r.recipient ?? '…'}`, class: 'mono' },
  ]), 'No refusals yet.');
}

const fact = (value, label, cls = '') => el('div', { class: cls }, el('b', {}, value), el('span', {}, label));

function renderZones(s) {
  const table = $('#zones');
  const facts = [];
  if (sectionError(s.cache)) {
    $('#cache').textContent = `cache: ${s.cache.error}`;
  } else {
    $('#cache').textContent = `${fmt(s.cache.hits)} cache hits / ${fmt(s.cache.misses)} misses`;
    facts.push(fact(pct(s.cache.hitRatio), 'cache hit ratio'));
  }
  if (sectionError(s.dnsbl)) {
    $('#dnsbl-facts').replaceChildren(...facts);
    fillTable(table, [], `DNSBL statistics unavailable: ${s.dnsbl.error}`);
    return;
  }
  const zones = s.dnsbl.zones;
  const sum = (pick) => zones.reduce((n, z) => n + pick(z), 0);
  const suspended = zones.filter((z) => z.suspended).length;
  facts.push(
    fact(fmt(sum((z) => z.queries)), 'lookups'),
    fact(fmt(sum((z) => z.listed)), 'listed answers'),
    fact(fmt(sum((z) => z.errors + z.timeouts)), 'errors + timeouts', sum((z) => z.errors + z.timeouts) > 0 ? 'warn-fact' : ''),
    fact(`${zones.length - suspended} / ${zones.length}`, 'zones active', suspended > 0 ? 'bad-fact' : ''),
  );
  $('#dnsbl-facts').replaceChildren(...facts);
  fillTable(table, s.dnsbl.zones.map((z) => {
    const bar = el('span');
    bar.style.width = `${Math.min(100, z.hitRate * 100)}%`;
    return [
      { value: z.zone, class: 'mono' },
      { value: fmt(z.queries), class: 'num' },
      el('div', { class: 'rate', title: `${fmt(z.listed)} listed of ${fmt(z.queries)}` }, el('span', { class: 'track' }, bar), el('span', { class: 'num' }, pct(z.hitRate))),
      { value: fmt(z.errors), class: z.errors > 0 ? 'num bad-text' : 'num' },
      { value: fmt(z.timeouts), class: 'num' },
      { value: z.meanLatencyMs === null ? '–' : `${Math.round(z.meanLatencyMs)} ms`, class: 'num' },
      z.suspended ? tag('bad', 'suspended') : tag('ok', 'active'),
    ];
  }), 'No DNSBL zones configured.');
}

// "Our address is listed at X (seen in N replies from M domains)": remote replies naming a block list,
// rate limit, reputation verdict or missing reverse DNS about us (issue 19), loud, above everything else.
// Replies count over delivery.listing_window; the self-check ([self_check]) shows its current listings only.
function renderListed(s) {
  const banner = $('#listed-banner');
  const listings = sectionError(s.queue) ? [] : (s.queue.refusals?.listings ?? []);
  const self = !s.selfCheck || sectionError(s.selfCheck) ? [] : s.selfCheck.results.filter((r) => r.state === 'listed');
  banner.hidden = listings.length === 0 && self.length === 0;
  banner.replaceChildren(
    ...self.map((r) => el('div', { title: r.text ?? '' },
      el('b', {}, `Our address ${r.address} is listed at ${r.zone}`),
      ` (self-check: ${(r.codes ?? []).join(', ')}; since ${stamp(r.listedSince ?? r.checkedAt)}, checked ${stamp(r.checkedAt)})`)),
    ...listings.map((l) => el('div', { title: l.lastReply },
      el('b', {}, l.class === 'blocklist' ? `Our address is listed at ${l.list}`
        : l.class === 'reverse_dns' ? `${l.list === 'remote servers' ? 'Remote servers refuse' : `${l.list} refuses`} our address: no matching reverse DNS (PTR)`
        : `${l.list} ${l.class === 'rate_limit' ? 'rate-limits' : 'distrusts'} our mail`),
      ` (seen in ${fmt(l.replies)} ${l.replies === 1 ? 'reply' : 'replies'} from ${fmt(l.domains)} ${l.domains === 1 ? 'domain' : 'domains'}; last ${stamp(l.lastAt)})`)));
}

function renderQueue(s) {
  renderListed(s);
  const facts = $('#queue-facts');
  if (sectionError(s.queue)) {
    facts.replaceChildren(el('div', { class: 'error-box' }, `Queue statistics unavailable: ${s.queue.error}`));
    fillTable($('#domains'), [], '–');
    return;
  }
  const q = s.queue;
  facts.replaceChildren(
    fact(fmt(q.size), 'messages'),
    fact(q.oldestAgeSeconds === null ? '–' : duration(q.oldestAgeSeconds), 'oldest message'),
    fact(fmt(q.deferredByDomain.reduce((n, d) => n + d.count, 0)), 'waiting for a retry'),
    ...(q.held === undefined ? [] : [fact(fmt(q.held), 'held (relayguard queue list --held)')]),
    ...(q.quarantine === undefined ? [] : [fact(fmt(q.quarantine.count), 'quarantined (corrupt spool files)', q.quarantine.count > 0 ? 'bad' : '')]),
  );
  // Recipient verification (issue 16): what the backend refused after we said 250, and the probes.
  const v = s.verification;
  if (v && !sectionError(v)) {
    facts.append(fact(fmt(v.refusedAfterAccept), 'backend refused after we accepted', v.refusedAfterAccept > 0 ? 'warn-fact' : ''));
    if (v.dsnSuppressed > 0) facts.append(fact(fmt(v.dsnSuppressed), 'DSNs withheld (backscatter)'));
    if (v.enabled) facts.append(fact(`${fmt(v.probes)} / ${fmt(v.cacheHits)}`, 'recipient probes / cache hits', v.timedOut > 0 ? 'warn-fact' : ''));
  }
  const quarantine = $('#quarantine');
  const entries = q.quarantine?.entries ?? [];
  quarantine.hidden = entries.length === 0;
  fillTable(quarantine, entries.slice().reverse().map((e) => [
    { value: e.name, class: 'mono' },
    { value: stamp(e.at) },
    { value: fmt(e.bytes), class: 'num' },
    { value: e.reason, class: 'muted' },
  ]), 'Nothing quarantined.');
  $('#queue-hint').textContent = q.oldestReceivedAt === null ? 'empty' : `oldest received ${stamp(q.oldestReceivedAt)}`;
  fillTable($('#domains'), q.deferredByDomain.map((d) => [
    { value: d.domain, class: 'mono' },
    { value: fmt(d.count), class: 'num' },
    { value: d.lastError ?? '–', class: 'muted' },
  ]), 'No deferred deliveries.');
}

function renderReload(s) {
  const box = $('#reload');
  if (sectionError(s.reload)) {
    box.replaceChildren(el('div', { class: 'error-box' }, `Reload state unavailable: ${s.reload.error}`));
    return;
  }
  const r = s.reload;
  $('#reload-hint').textContent = `${stamp(r.at)} (${ago(r.at, s.now)})`;
  const state = el('div', { class: 'reload-state' },
    tag(r.ok ? 'ok' : 'bad', r.ok ? 'loaded' : 'refused'),
    el('span', {}, r.ok ? `Generation ${r.generation} is running.` : `The edit was refused; generation ${r.generation} keeps running.`));
  const problems = r.errors.map((p) => el('li', { class: 'mono' }, p.line > 0 ? `${p.file}:${p.line}: ${p.message}` : `${p.file}: ${p.message}`));
  const restart = (r.restartNeeded ?? []).map((line) => el('li', { class: 'mono' }, line));
  box.replaceChildren(
    state,
    problems.length ? el('ul', { class: 'problems' }, ...problems) : el('p', { class: 'muted' }, 'No problems in config.toml or policies/.'),
    ...(restart.length ? [el('p', {}, 'Not applied until relayguard restarts:'), el('ul', { class: 'problems' }, ...restart)] : []),
    ...whatWouldChange(r),
  );
}

/** The reload guard's replay of the edit on disk: what it would change (issue 17). */
function whatWouldChange(r) {
  const g = r.guard;
  if (!g) return [];
  const head = g.refused
    ? `Held back by the reload guard: this edit would newly let unauthenticated clients relay (${fmt(g.openings)} recipient(s)).`
    : `The reload guard replayed the edit: ${fmt(g.changes)} command(s) decided differently.`;
  const items = [];
  for (const line of g.examples) items.push(el('li', { class: 'mono' }, `relay opening: ${line}`));
  for (const group of g.groups) {
    items.push(el('li', { class: 'mono' }, `${group.title}: ${fmt(group.count)}`));
    for (const line of group.examples) items.push(el('li', { class: 'mono muted' }, `  e.g. ${line}`));
  }
  for (const line of g.unknown) items.push(el('li', { class: 'mono muted' }, `unknown: ${line}`));
  return [
    el('h3', { class: 'what-would-change' }, 'What would change'),
    el('p', {}, tag(g.refused ? 'bad' : 'ok', g.refused ? 'relay opening' : 'replayed'), ' ', `${head} Replayed ${fmt(g.sessions)} session(s) of the last ${Math.round(g.windowMs / 3600000)}h.`),
    items.length ? el('ul', { class: 'problems' }, ...items) : el('p', { class: 'muted' }, 'No recorded session would be decided differently.'),
  ];
}

function setBanner(text) {
  const banner = $('#banner');
  banner.hidden = !text;
  banner.textContent = text ?? '';
}

function setLive(ok, at, error) {
  const live = $('#live');
  live.className = `chip live ${ok ? 'ok' : 'bad'}`;
  live.querySelector('span').textContent = ok ? `live · ${clock(at, true)}` : 'offline · retrying';
  live.title = ok ? `Updated every ${POLL_MS / 1000}s` : String(error);
}

let lastOk = null;
let updates = 0;
function render(s) {
  for (const part of [renderHeader, renderKpis, renderTraffic, renderRefused, renderZones, renderQueue, renderReload]) {
    try {
      part(s);
    } catch (error) {
      console.error(part.name, error);
    }
  }
  updates += 1;
  document.body.dataset.updates = String(updates);
}

async function poll() {
  try {
    const response = await fetch('/api/status', { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (response.status === 401) {
      location.reload();
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    render(status);
    lastOk = Date.now();
    setLive(true, lastOk);
  } catch (error) {
    setLive(false, lastOk, error);
    setBanner(lastOk ? `Lost contact with relayguard; showing data from ${clock(lastOk, true)}. Retrying…` : 'Cannot reach relayguard. Retrying…');
  }
  setTimeout(poll, POLL_MS);
}

if ($('meta[name="auth"]')?.content === 'token') $('#logout').hidden = false;
poll();
