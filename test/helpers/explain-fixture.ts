// A real config directory for `relayguard explain` and `check`, with the test
// DNS server as its resolver (test/cli/explain-command.test.ts, bin.slow.ts).
import { makeTestConfig, DEFAULT_LISTENERS, type TestConfigDir } from './test-config.ts';
import { startDnsServer, type TestDnsServer } from './dns-server.ts';

const POLICIES = {
  'local-domains': 'example.test\n',
  'relay-networks': '127.0.0.1\n',
  denylist: '203.0.113.0/24   known spam source\n',
  'dnsbl.toml': 'threshold = 1\ncheck_private_clients = true\n\n[[zones]]\nzone = "bl.test"\n',
};

export async function explainFixture(t: { after: (fn: () => Promise<void>) => void }): Promise<{ dir: TestConfigDir; dns: TestDnsServer }> {
  const dns = await startDnsServer();
  // 192.0.2.66 is listed by bl.test; every other client is not (NXDOMAIN).
  dns.add({ name: '66.2.0.192.bl.test', type: 'A', data: '127.0.0.2' });
  // The sender's domain must resolve (checks.toml sender_domain, on by default).
  dns.add({ name: 'other.example', type: 'MX', data: { preference: 10, exchange: 'mx.other.example' } });
  const dir = await makeTestConfig(`${DEFAULT_LISTENERS}\n[dns]\nservers = ["${dns.address}"]\ntimeout = "1s"\ntries = 2\n`, POLICIES);
  t.after(async () => {
    await dir.cleanup();
    await dns.close();
  });
  return { dir, dns };
}

export interface StageJson {
  stage: string;
  input: string;
  status: string;
  verdict?: string;
  rule?: string;
  reason?: string;
  reply?: string | null;
}
