// Reload honesty: every key of config.toml's schema is in RELOAD_KEYS (applied
// on reload, or reported as needing a restart); a reload that changes a
// restart-only key says so by name, and one that changes log_level applies it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { configSchema } from '../../src/config/schema.ts';
import { RELOAD_KEYS, restartOnlyKeys, tableKeyOf } from '../../src/config/reload-keys.ts';
import { openPolicyStore } from '../../src/config/policy-store.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';

interface ZodLike {
  readonly def: Record<string, unknown> & { readonly type: string };
}

/** Every leaf key path of a zod schema, in TOML form (`[]` for array elements, `{}` for record values). */
function keyPaths(schema: ZodLike, at = ''): string[] {
  const def = schema.def;
  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, ZodLike>;
      return Object.entries(shape).flatMap(([key, value]) => keyPaths(value, at === '' ? key : `${at}.${key}`));
    }
    case 'array': {
      const element = def.element as ZodLike;
      // An array of tables: its keys are keys; an array of values is one key.
      const inner = keyPaths(element, `${at}[]`);
      return inner.length === 1 && inner[0] === `${at}[]` ? [at] : inner;
    }
    case 'record':
      return keyPaths(def.valueType as ZodLike, `${at}{}`);
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return keyPaths(def.innerType as ZodLike, at);
    case 'pipe':
      return keyPaths(def.in as ZodLike, at);
    case 'union': {
      const options = def.options as ZodLike[];
      const paths = new Set(options.flatMap((option) => keyPaths(option, at)));
      return [...paths];
    }
    default:
      return [at];
  }
}

test('the schema walk sees nested tables, arrays of tables and plain arrays', () => {
  const paths = keyPaths(configSchema as unknown as ZodLike);
  assert.ok(paths.includes('listeners[].address'));
  assert.ok(paths.includes('delivery.routes[].domains'));
  assert.ok(paths.includes('delivery.smarthost.auth_password'));
  assert.ok(paths.includes('dns.servers'));
  assert.ok(paths.includes('delivery.retry_schedule'));
  assert.ok(paths.includes('log_level'));
});

test('every key of config.toml is either applied on reload or reported as needing a restart', () => {
  const paths = keyPaths(configSchema as unknown as ZodLike);
  const missing = paths.filter((key) => RELOAD_KEYS[key] !== 'reload' && RELOAD_KEYS[key] !== 'restart');
  assert.deepEqual(missing, [], `add these keys to RELOAD_KEYS in src/config/reload-keys.ts: ${missing.join(', ')}`);
  const stale = Object.keys(RELOAD_KEYS).filter((key) => !paths.includes(key));
  assert.deepEqual(stale, [], `RELOAD_KEYS names keys the schema no longer has: ${stale.join(', ')}`);
});

test('restart-only keys and table keys', () => {
  assert.ok(restartOnlyKeys().includes('listeners[].address'));
  assert.ok(!restartOnlyKeys().includes('log_level'));
  assert.ok(!restartOnlyKeys().includes('smtp.bare_line_endings'));
  assert.equal(tableKeyOf('delivery.routes[3].hosts'), 'delivery.routes[].hosts');
});

function recordingLogger(level: string): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger(level, sink as never), lines };
}

test('a reload that changes a restart-only key reports it by name in the result and the log', async (t) => {
  const fixture = await createPolicyFixture({}, MINIMAL_CONFIG);
  t.after(() => fixture.cleanup());
  const { logger, lines } = recordingLogger('info');
  const store = await openPolicyStore({ configFile: fixture.configFile, logger });
  t.after(() => store.close());
  await fixture.writeConfig(MINIMAL_CONFIG.replace('127.0.0.1:0', '127.0.0.1:2525') + '[smtp]\nmax_errors = 5\nmax_recipients = 7\n');
  const result = await store.reload('test');
  assert.equal(result.ok, true);
  assert.deepEqual(result.restartNeeded, ['listeners[0].address changed: needs a restart', 'smtp.max_errors changed: needs a restart']);
  assert.equal(store.current().config.smtp.max_recipients, 7, 'a reload key is in the new snapshot');
  const logged = lines.filter((line) => line.event === 'policy.restart_needed').map((line) => line.msg);
  assert.deepEqual(logged, result.restartNeeded);

  const again = await store.reload('nothing changed');
  assert.deepEqual(again.restartNeeded, []);
});

test('a reload that changes log_level applies it to the logger and its children, reporting no restart', async (t) => {
  const fixture = await createPolicyFixture({}, MINIMAL_CONFIG);
  t.after(() => fixture.cleanup());
  const { logger, lines } = recordingLogger('info');
  const child = logger.child({ component: 'dnsbl' });
  const store = await openPolicyStore({ configFile: fixture.configFile, logger });
  t.after(() => store.close());
  child.debug('before the reload');
  await fixture.writeConfig(`log_level = "debug"\n${MINIMAL_CONFIG}[smtp]\nbare_line_endings = "normalize"\n`);
  const result = await store.reload('test');
  assert.equal(result.ok, true);
  assert.deepEqual(result.restartNeeded, []);
  assert.equal(logger.level, 'debug');
  assert.equal(child.level, 'debug');
  assert.equal(store.current().config.smtp.bare_line_endings, 'normalize');
  child.debug('after the reload');
  logger.child({ component: 'later' }).debug('a child made after the reload');
  const debug = lines.filter((line) => line.level === 20).map((line) => line.msg);
  assert.deepEqual(debug, ['after the reload', 'a child made after the reload']);
});
