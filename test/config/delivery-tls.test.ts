// TLS to the next hop in config.toml: the levels and their old name, what
// the smarthost and routes inherit from delivery.tls, CA files resolved next
// to config.toml and checked by `relayguard check` (file:line), the warning
// for "required", and the pure parts of delivery that keep levels apart (the
// TLS failure memory, the connection cache key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { validateConfigText } from '../../src/config/load-config.ts';
import { parseCaPem } from '../../src/config/delivery-tls.ts';
import { runCheck } from '../../src/cli/check.ts';
import { TlsMemory } from '../../src/delivery/tls-memory.ts';
import { sessionKey } from '../../src/delivery/deliver-job.ts';
import { createPolicyFixture, MINIMAL_CONFIG } from '../helpers/policy-files.ts';
import { captureIo } from '../helpers/cli-run.ts';
import { createTestCa } from '../helpers/test-pki.ts';

const parse = (delivery: string) => {
  const result = validateConfigText('/etc/relayguard/config.toml', `${MINIMAL_CONFIG}[delivery]\n${delivery}`);
  if (!result.ok) throw new Error(result.problems.map((p) => `${p.line}: ${p.message}`).join('\n'));
  return result.value.delivery;
};

test('levels: default opportunistic everywhere; delivery.tls is the MX level and what routes without tls inherit', () => {
  const plain = parse('mode = "smarthost"\n[delivery.smarthost]\nhosts = ["10.0.0.1:25"]');
  assert.equal(plain.tls, 'opportunistic');
  assert.equal(plain.smarthost?.tls, 'opportunistic');
  const d = parse(
    'mode = "smarthost"\ntls = "verify"\n[delivery.smarthost]\nhosts = ["10.0.0.1:25"]\n' +
      '[[delivery.routes]]\ndomains = ["a.test"]\nhosts = ["10.0.0.2:25"]\ntls = "none"\n' +
      '[[delivery.routes]]\ndomains = ["b.test"]\nhosts = ["10.0.0.3:25"]\n',
  );
  assert.equal(d.tls, 'verify');
  assert.equal(d.smarthost?.tls, 'verify');
  assert.deepEqual(d.routes.map((r) => r.tls), ['none', 'verify']);
});

test('"required" is still accepted and means encrypt; an unknown level is refused with its line', () => {
  const d = parse('mode = "smarthost"\n[delivery.smarthost]\nhosts = ["10.0.0.1:25"]\ntls = "required"');
  assert.equal(d.smarthost?.tls, 'encrypt');
  const bad = validateConfigText('/x/config.toml', `${MINIMAL_CONFIG}[delivery]\ntls = "dane"\n`);
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(bad.problems[0]?.line, 7);
    assert.match(bad.problems[0]?.message ?? '', /^delivery\.tls: /);
  }
});

test('CA files are resolved next to config.toml', () => {
  const d = parse('tls_ca_file = "tls/ca.pem"\n[[delivery.routes]]\ndomains = ["a.test"]\nhosts = ["10.0.0.2:25"]\ntls_ca_file = "/srv/ca/internal.pem"\n');
  assert.equal(d.tls_ca_file, '/etc/relayguard/tls/ca.pem');
  assert.equal(d.routes[0]?.tls_ca_file, '/srv/ca/internal.pem');
});

test('parseCaPem: certificates are kept, anything else is refused with why', async () => {
  const ca = await createTestCa();
  const parsed = parseCaPem(`# our CA\n${ca.cert}\n`);
  assert.ok('pem' in parsed && parsed.count === 1);
  assert.match((parseCaPem(ca.key) as { error: string }).error, /no PEM certificate/);
  assert.match((parseCaPem('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n') as { error: string }).error, /certificate 1 cannot be parsed/);
});

test('check: a missing or non-certificate CA file fails with file:line; "required" warns with its line and exits 0', async (t) => {
  const config = `${MINIMAL_CONFIG}[delivery]\nmode = "smarthost"\ntls_ca_file = "missing.pem"\n[delivery.smarthost]\nhosts = ["10.0.0.1:25"]\ntls = "verify"\ntls_ca_file = "key.pem"\n`;
  const fixture = await createPolicyFixture({}, config);
  t.after(() => fixture.cleanup());
  const ca = await createTestCa();
  await writeFile(path.join(fixture.dir, 'key.pem'), ca.key);
  const failed = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], failed.io), 1);
  const lines = failed.err().trim().split('\n');
  assert.match(lines[0] ?? '', new RegExp(`^${fixture.configFile}:8: delivery\\.tls_ca_file: cannot read ${path.join(fixture.dir, 'missing.pem')}: ENOENT`));
  assert.match(lines[1] ?? '', new RegExp(`^${fixture.configFile}:12: delivery\\.smarthost\\.tls_ca_file: ${path.join(fixture.dir, 'key.pem')}: no PEM certificate`));

  await writeFile(path.join(fixture.dir, 'ca.pem'), ca.cert);
  await fixture.writeConfig(
    `${MINIMAL_CONFIG}[delivery]\nmode = "smarthost"\ntls_ca_file = "ca.pem"\n[delivery.smarthost]\nhosts = ["10.0.0.1:25"]\ntls = "required"\n` +
      '[[delivery.routes]]\ndomains = ["a.test"]\nhosts = ["10.0.0.2:25"]\ntls = "required"\n',
  );
  const ok = captureIo();
  assert.equal(await runCheck(['--config', fixture.configFile], ok.io), 0, ok.err());
  assert.match(ok.out(), /^ok /);
  const warnings = ok.err().trim().split('\n').filter((l) => l.includes('"required"'));
  assert.deepEqual(
    warnings.map((w) => /^(.*?:\d+): warning: (\S+) = "required" is the old name of "encrypt"/.exec(w)?.slice(1)),
    [
      [`${fixture.configFile}:11`, 'delivery.smarthost.tls'],
      [`${fixture.configFile}:15`, 'delivery.routes[0].tls'],
    ],
  );
});

test('TLS failure memory: learnt at opportunistic, never used at encrypt or verify, never learnt from them', () => {
  let now = 1000;
  const memory = new TlsMemory(60_000, () => now);
  memory.remember('10.0.0.1:25', 'opportunistic');
  assert.equal(memory.skipTls('10.0.0.1:25', 'opportunistic'), true);
  assert.equal(memory.skipTls('10.0.0.1:25', 'encrypt'), false);
  assert.equal(memory.skipTls('10.0.0.1:25', 'verify'), false);
  memory.remember('10.0.0.2:25', 'verify');
  memory.remember('10.0.0.3:25', 'encrypt');
  assert.equal(memory.skipTls('10.0.0.2:25', 'opportunistic'), false);
  assert.equal(memory.skipTls('10.0.0.3:25', 'opportunistic'), false);
  now += 60_001;
  assert.equal(memory.skipTls('10.0.0.1:25', 'opportunistic'), false, 'forgotten after tls_failure_memory');
});

test('connection cache key: levels never share; at verify the name and CA file are part of it', () => {
  const base = { host: '192.0.2.1', port: 25, name: 'mx1.a.test' };
  const keys = new Set([
    sessionKey({ ...base, tls: 'opportunistic' }),
    sessionKey({ ...base, tls: 'encrypt' }),
    sessionKey({ ...base, tls: 'verify' }),
    sessionKey({ ...base, name: 'mx.b.test', tls: 'verify' }),
    sessionKey({ ...base, tls: 'verify', ca: { file: '/etc/ca.pem', pem: '' } }),
  ]);
  assert.equal(keys.size, 5);
  assert.equal(sessionKey({ ...base, name: 'mx2.a.test', tls: 'encrypt' }), sessionKey({ ...base, tls: 'encrypt' }), 'below verify the name does not matter');
});
