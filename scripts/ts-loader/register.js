// `node --import ./scripts/ts-loader/register.js`: TypeScript through
// hooks.js in this thread. RELAYGUARD_TS_OUTDIR (set by scripts/test.js)
// names the directory of transpiled copies and RELAYGUARD_TS_SINCE when they
// were made; without them every .ts file is transpiled as it is loaded.
//
// It also sets RELAYGUARD_TS_LOADER to itself, so a delivery worker thread
// (src/delivery/worker-entry.ts: Node 20 threads do not inherit hooks) and a
// process started from this one register this loader rather than tsx. The
// export register() is tsx's API (tsx/esm/api) as worker-entry.ts calls it.
import { register as registerHooks } from 'node:module';

const FLAG = Symbol.for('relayguard.ts-loader');

export function register() {
  if (globalThis[FLAG]) return;
  globalThis[FLAG] = true;
  process.setSourceMapsEnabled(true);
  registerHooks('./hooks.js', import.meta.url, {
    data: { outdir: process.env.RELAYGUARD_TS_OUTDIR || undefined, startedMs: Number(process.env.RELAYGUARD_TS_SINCE) || 0 },
  });
}

process.env.RELAYGUARD_TS_LOADER = import.meta.url;
register();
