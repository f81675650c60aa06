// The dashboard's static files (src/http/assets: hand-written HTML, CSS, JS
// and an SVG icon, no CDN and no build step) and the login form. Files are
// read once, on the first request, not at import time.
import { readFile } from 'node:fs/promises';

export interface Asset {
  readonly name: string;
  readonly type: string;
  readonly body: string;
}

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'queue.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

export async function loadAssets(pollIntervalMs: number, auth: 'token' | 'none'): Promise<Map<string, Asset>> {
  const dir = new URL('./assets/', import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(FILES)) {
    let body = await readFile(new URL(name, dir), 'utf8');
    if (name === 'index.html') {
      body = body.replace('{{POLL_MS}}', String(Math.max(250, Math.round(pollIntervalMs)))).replace('{{AUTH}}', auth);
    }
    assets.set(name, { name, type, body });
  }
  return assets;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page a browser without a session gets; it posts the token to /login. */
export function loginPage(instance: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>relayguard · sign in</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f1f5f9; color: #0f172a; }
  form { background: #fff; padding: 2rem 2.25rem; border-radius: 12px; box-shadow: 0 10px 30px rgba(15,23,42,.12); width: min(22rem, 90vw); }
  h1 { font-size: 1.25rem; margin: 0 0 .25rem; } p { margin: 0 0 1.25rem; color: #64748b; font-size: .9rem; }
  label { display: block; font-size: .85rem; font-weight: 600; margin-bottom: .35rem; }
  input { box-sizing: border-box; width: 100%; padding: .6rem .7rem; border: 1px solid #cbd5e1; border-radius: 8px; font: inherit; }
  button { margin-top: 1rem; width: 100%; padding: .6rem; border: 0; border-radius: 8px; background: #0f766e; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }
  .error { color: #b91c1c; font-size: .85rem; margin: .75rem 0 0; }
  @media (prefers-color-scheme: dark) { body { background: #0b1120; color: #e2e8f0; } form { background: #111827; } input { background: #0b1120; color: inherit; border-color: #334155; } }
</style></head>
<body><form method="post" action="/login">
  <h1>relayguard</h1><p>${escapeHtml(instance)} · dashboard</p>
  <label for="token">Access token (http.token)</label>
  <input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
  <button type="submit">Sign in</button>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
</form></body></html>
`;
}
