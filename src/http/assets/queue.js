/* global document, fetch, location, URLSearchParams, Node, confirm */
// The queue view and the suspect-accounts panel (issue 19 item 4). Reads
// GET /api/queue, /api/queue/:id and /api/accounts; changes go as POST with
// a JSON body and the session's CSRF token (X-CSRF-Token, from
// GET /api/session). Everything from the server goes in through textContent:
// senders, headers and replies are written by strangers.
const $ = (selector) => document.querySelector(selector);
const ACCOUNTS_MS = 5000;

let csrf = '';
let csrfHeader = 'x-csrf-token';
let lastQuery = {};
let cursor;
let shown = [];
const ticked = new Set();

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'title') node.title = v;
    else if (k.startsWith('data-')) node.dataset[k.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}
const iso = (ms) => (ms === undefined || ms === null ? '–' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'));

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (response.status === 401) {
    location.reload();
    throw new Error('signed out');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST', cache: 'no-store', credentials: 'same-origin',
    headers: { accept: 'application/json', 'content-type': 'application/json', [csrfHeader]: csrf },
    body: JSON.stringify(body),
  });
  if (response.status === 401) {
    location.reload();
    throw new Error('signed out');
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

function say(text, bad = false) {
  const box = $('#qv-result');
  box.textContent = text;
  box.className = `qv-result${bad ? ' bad' : ''}`;
}

function bump() {
  document.body.dataset.queueUpdates = String(Number(document.body.dataset.queueUpdates || 0) + 1);
}

function readForm() {
  const q = {};
  for (const name of ['sender', 'recipient', 'user', 'state']) {
    const value = $(`#qv-${name}`).value.trim();
    if (value !== '') q[name] = value;
  }
  return q;
}

function updateSelected() {
  $('#qv-selected').textContent = `${ticked.size} selected`;
}

function renderRows(page, append) {
  const body = $('#qv-table').tBodies[0];
  if (!append) body.replaceChildren();
  if (page.quarantined) {
    shown = [];
    body.replaceChildren(...page.quarantined.map((e) => el('tr', {},
      el('td', {}), el('td', { class: 'mono' }, e.name), el('td', {}, el('span', { class: 'tag bad' }, 'quarantined')),
      el('td', {}, iso(e.at)), el('td', { colspan: '4', class: 'muted' }, e.reason), el('td', { class: 'num' }, `${e.bytes} bytes`))));
    if (page.quarantined.length === 0) body.append(el('tr', {}, el('td', { class: 'empty', colspan: '9' }, 'Nothing quarantined.')));
    return;
  }
  for (const m of page.messages) {
    shown.push(m.id);
    const box = el('input', { type: 'checkbox', 'aria-label': `tick ${m.id}`, 'data-id': m.id });
    box.checked = ticked.has(m.id);
    box.addEventListener('change', () => {
      if (box.checked) ticked.add(m.id);
      else ticked.delete(m.id);
      updateSelected();
    });
    const link = el('button', { type: 'button', class: 'link mono', 'data-show': m.id }, m.id);
    link.addEventListener('click', () => void showDetail(m.id));
    body.append(el('tr', { 'data-id': m.id, 'data-state': m.state },
      el('td', {}, box),
      el('td', {}, link),
      el('td', {}, el('span', { class: `tag ${m.state === 'held' ? 'warn' : ''}` }, m.state)),
      el('td', {}, iso(m.receivedAt)),
      el('td', { class: 'mono' }, `<${m.sender}>`),
      el('td', {}, m.user ?? '–'),
      el('td', { class: 'mono' }, m.recipients.map((r) => `${r.address} (${r.status})`).join(', ')),
      el('td', { class: 'num' }, String(m.attempts)),
      el('td', { class: 'muted' }, m.held ? `held: ${m.held.reason}` : (m.lastReply ?? '–')),
    ));
  }
  if (body.rows.length === 0) body.append(el('tr', {}, el('td', { class: 'empty', colspan: '9' }, 'No message matches.')));
}

async function search(append = false) {
  if (!append) {
    lastQuery = readForm();
    cursor = undefined;
    shown = [];
    ticked.clear();
    updateSelected();
    $('#qv-check-all').checked = false;
  }
  const params = new URLSearchParams({ ...lastQuery, ...(append && cursor ? { after: cursor } : {}) });
  try {
    const page = await getJson(`/api/queue?${params}`);
    renderRows(page, append);
    cursor = page.next;
    $('#qv-more').hidden = cursor === undefined;
    $('#qv-hint').textContent = `${page.scanned} looked at${page.unreadable ? `, ${page.unreadable} unreadable` : ''}${page.next ? '; more on the next page' : ''}`;
  } catch (error) {
    say(`Search failed: ${error.message}`, true);
  }
  bump();
}

async function act(action) {
  const all = $('#qv-all-matching').checked;
  if (!all && ticked.size === 0) {
    say('Tick one or more messages first (or choose every message matching the search).', true);
    return;
  }
  const what = all ? 'every message matching the search' : `${ticked.size} message(s)`;
  if ((action === 'delete' || action === 'bounce') && typeof confirm === 'function' && !confirm(`${action} ${what}?`)) return;
  try {
    const answer = await post('/api/queue/actions', all ? { action, query: lastQuery } : { action, ids: [...ticked] });
    const ok = answer.results.filter((r) => r.ok).length;
    const failed = answer.results.filter((r) => !r.ok);
    say(`${action}: ${ok} done${failed.length ? `, ${failed.length} not: ${failed.map((r) => r.message).join('; ')}` : ''}${answer.truncated ? ' (only the first 1000 matches)' : ''}`, failed.length > 0 && ok === 0);
  } catch (error) {
    say(`${action} refused: ${error.message}`, true);
  }
  await search(false);
}

async function showDetail(id) {
  const box = $('#qv-detail');
  try {
    const m = await getJson(`/api/queue/${encodeURIComponent(id)}`);
    const e = m.envelope;
    const rows = [
      ['Queue id', m.id], ['State', m.state], ['Received', `${iso(m.receivedAt)} from ${e.clientHostname ? `${e.clientHostname} ` : ''}[${e.clientIp}] helo ${e.helo}`],
      ['Sender', `<${m.sender}>`], ['User', m.user ?? '–'], ['Size', `${m.size} bytes`],
      ['Attempts', `${m.attempts}${m.nextAttemptAt ? `, next ${iso(m.nextAttemptAt)}` : ''}`],
      ...(m.held ? [['Held', `${iso(m.held.at)} by ${m.held.by}, expires ${iso(m.held.until)}: ${m.held.reason}`]] : []),
      ['Last reply', m.lastReply ?? '–'],
      ...m.recipients.map((r) => [`Recipient`, `${r.address}  ${r.status}${r.reply ? `  ${r.reply}` : ''}`]),
    ];
    box.replaceChildren(
      el('h3', {}, `Message ${m.id}`),
      el('dl', {}, ...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { class: 'mono' }, v)])),
      el('div', { class: 'hint' }, `Headers as stored${m.headersTruncated ? ' (cut at 32 KiB)' : ''}; the body is not shown`),
      el('pre', { id: 'qv-headers' }, m.headers),
      el('div', { class: 'hint' }, 'History'),
      el('pre', {}, m.history.map((h) => `${iso(h.at)}  ${h.kind}${h.next ? `  next ${iso(h.next)}` : ''}${h.rcpt ? `  ${Object.entries(h.rcpt).map(([a, r]) => `${a}=${r.s}${r.x ? ` (${r.x})` : ''}`).join(' ')}` : ''}`).join('\n') || '–'),
    );
    box.hidden = false;
  } catch (error) {
    box.replaceChildren(el('div', { class: 'error-box' }, `Cannot show ${id}: ${error.message}`));
    box.hidden = false;
  }
}

function renderAccounts(data) {
  const box = $('#accounts');
  if (!data.configured) {
    box.replaceChildren(el('p', { class: 'muted', id: 'accounts-off' }, 'Account anomaly detection is not configured.'));
    return;
  }
  if (data.suspects.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No suspect account.'));
    return;
  }
  box.replaceChildren(...data.suspects.map((s) => {
    const button = (label, cls, run) => {
      const b = el('button', { type: 'button', class: cls }, label);
      b.addEventListener('click', () => void run());
      return b;
    };
    const accountAction = async (path, body, done) => {
      try {
        await post(path, body);
        say(done);
      } catch (error) {
        say(`${path.split('/').pop()} ${s.user} refused: ${error.message}`, true);
      }
      await refreshAccounts();
      await search(false);
    };
    return el('article', { class: 'suspect', 'data-user': s.user },
      el('header', {}, el('b', { class: 'mono' }, s.user), el('span', { class: `tag ${s.state === 'locked' ? 'bad' : 'warn'}` }, s.state),
        el('span', { class: 'muted' }, `since ${iso(Date.parse(s.since))}`), el('span', {}, `${s.heldMessages} held message(s)`)),
      el('ul', {}, ...s.triggers.map((t) => el('li', {},
        el('b', {}, t.trigger), ` (${t.action}, ${iso(Date.parse(t.at))}): ${t.reason}`,
        el('div', { class: 'muted mono' }, Object.entries(t.evidence).map(([k, v]) => `${k}=${v}`).join('  '))))),
      el('div', { class: 'actions' },
        button('Release and deliver held mail', '', () => accountAction('/api/accounts/release', { user: s.user, releaseHeld: true }, `${s.user} released; held mail goes out`)),
        button('Release, keep mail held', '', () => accountAction('/api/accounts/release', { user: s.user, releaseHeld: false }, `${s.user} released; held mail stays held`)),
        ...(s.state === 'locked' ? [] : [button('Lock account', 'danger', () => accountAction('/api/accounts/lock', { user: s.user }, `${s.user} locked`))]),
      ));
  }));
}

async function refreshAccounts() {
  try {
    renderAccounts(await getJson('/api/accounts'));
  } catch (error) {
    $('#accounts').replaceChildren(el('div', { class: 'error-box' }, `Suspect accounts unavailable: ${error.message}`));
  }
}

async function start() {
  let queueAvailable = true;
  try {
    const session = await getJson('/api/session');
    csrf = session.csrf;
    csrfHeader = session.csrfHeader;
    queueAvailable = session.queue !== false;
  } catch (error) {
    say(`No CSRF token: actions will be refused (${error.message})`, true);
  }
  if (!queueAvailable) {
    // A dashboard without the running queue (not started by serve): say so instead of failing requests.
    $('#qv-search').hidden = true;
    $('#qv-bulk').hidden = true;
    $('#qv-table').tBodies[0].replaceChildren(el('tr', {}, el('td', { class: 'empty', colspan: '9' }, 'The queue view needs the running queue (relayguard serve).')));
    await refreshAccounts();
    document.body.dataset.queueReady = 'yes';
    setInterval(() => void refreshAccounts(), ACCOUNTS_MS);
    return;
  }
  $('#qv-search').addEventListener('submit', (event) => {
    event.preventDefault();
    void search(false);
  });
  $('#qv-more').addEventListener('click', () => void search(true));
  $('#qv-check-all').addEventListener('change', () => {
    const on = $('#qv-check-all').checked;
    for (const box of document.querySelectorAll('#qv-table tbody input[type=checkbox]')) {
      box.checked = on;
      if (on) ticked.add(box.dataset.id);
      else ticked.delete(box.dataset.id);
    }
    updateSelected();
  });
  for (const b of document.querySelectorAll('#qv-bulk button[data-action]')) b.addEventListener('click', () => void act(b.dataset.action));
  await Promise.all([search(false), refreshAccounts()]);
  document.body.dataset.queueReady = 'yes';
  setInterval(() => void refreshAccounts(), ACCOUNTS_MS);
}

void start();
