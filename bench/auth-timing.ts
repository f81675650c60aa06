// Authentication timing, measured against baselines taken in the same run:
//  1. cost of one verification per scrypt parameter set, relative to the default
//  2. unknown user vs known user with a wrong password through authenticate():
//     the ratio of medians should be ~1.00 (no user enumeration by timing)
//  3. event-loop delay while logins run, async scrypt (capped at 1, 2, 4 at
//     once) vs a synchronous baseline
// Run: node --import tsx bench/auth-timing.ts
import { scryptSync } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Authenticator, type AuthPolicy } from '../src/auth/authenticator.ts';
import { MemoryAuthFailureStore } from '../src/auth/failure-store.ts';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, verifyPassword, type ScryptParams } from '../src/auth/password-hash.ts';
import { parseUsersFile } from '../src/config/users-file.ts';
import { configSchema } from '../src/config/schema.ts';

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function costPerParams(): Promise<void> {
  const sets: ScryptParams[] = [{ ln: 14, r: 8, p: 1 }, DEFAULT_SCRYPT_PARAMS, { ln: 16, r: 8, p: 1 }];
  const results: Array<[string, number]> = [];
  for (const params of sets) {
    const hash = await hashPassword('pw', params);
    const samples: number[] = [];
    for (let i = 0; i < 15; i++) samples.push(await timeIt(() => verifyPassword('pw', hash)));
    results.push([`ln=${params.ln},r=${params.r},p=${params.p}`, median(samples)]);
  }
  const baseline = results[1]?.[1] as number;
  console.log('1. one verification (median of 15), baseline = default ln=15,r=8,p=1');
  for (const [name, ms] of results) console.log(`   ${name}: ${ms.toFixed(1)} ms  ratio ${(ms / baseline).toFixed(2)}`);
}

async function enumeration(): Promise<void> {
  const { policy } = await fixture();
  const auth = new Authenticator({ store: new MemoryAuthFailureStore() });
  const attempt = (username: string, i: number) =>
    timeIt(() => auth.authenticate({ method: 'PLAIN', username, password: 'wrong', clientIp: `10.0.${i >> 8}.${i & 255}`, tls: true }, policy));
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 2; i++) await attempt('warmup', i);
  for (let i = 0; i < 40; i++) {
    // interleaved so drift in machine load hits both equally
    known.push(await attempt('alice', i));
    unknown.push(await attempt(`nobody${i}`, i + 1000));
  }
  const k = median(known);
  const u = median(unknown);
  console.log('2. authenticate(), wrong password (median of 40, interleaved), baseline = known user');
  console.log(`   known user: ${k.toFixed(1)} ms   unknown user: ${u.toFixed(1)} ms   ratio ${(u / k).toFixed(3)}`);
}

async function eventLoop(): Promise<void> {
  const { policy } = await fixture();
  const salt = Buffer.from('0123456789abcdef');
  const measure = async (work: () => Promise<unknown>): Promise<{ mean: number; p99: number }> => {
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    await work();
    histogram.disable();
    return { mean: histogram.mean / 1e6, p99: histogram.percentile(99) / 1e6 };
  };
  const logins = (gate: number) => {
    const auth = new Authenticator({ store: new MemoryAuthFailureStore(), maxConcurrentHashes: gate });
    return Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        auth.authenticate({ method: 'PLAIN', username: 'alice', password: 'right', clientIp: `10.1.0.${i}`, tls: true }, policy),
      ),
    );
  };
  const rows: Array<[string, { mean: number; p99: number }]> = [];
  rows.push(['scryptSync (baseline)', await measure(async () => {
    for (let i = 0; i < 16; i++) {
      scryptSync('right', salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
      await new Promise((resolve) => setImmediate(resolve));
    }
  })]);
  for (const gate of [1, 2, 4]) rows.push([`authenticate, ${gate} at once`, await measure(() => logins(gate))]);
  const base = rows[0]?.[1].mean as number;
  console.log('3. event-loop delay while 16 logins run at the default cost (5 ms timer), baseline = scryptSync');
  for (const [name, { mean, p99 }] of rows) {
    console.log(`   ${name}: mean ${mean.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, mean ratio ${(mean / base).toFixed(2)}`);
  }
}

async function fixture(): Promise<{ policy: AuthPolicy }> {
  const hash = await hashPassword('right');
  const parsed = parseUsersFile('users.toml', `[[users]]\nname = "alice"\nhash = "${hash}"\nsenders = ["alice@example.com"]\n`);
  if (!parsed.ok) throw new Error('fixture');
  return {
    policy: {
      users: parsed.value,
      config: { auth: configSchema.shape.auth.parse({ failures_before_lockout: 1_000_000, failure_delay: '0' }) },
    },
  };
}

await costPerParams();
await enumeration();
await eventLoop();
