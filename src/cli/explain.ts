// `relayguard explain --ip IP [--helo H] [--user U] [--listener NAME]
//   --from ADDR --rcpt ADDR... [--size BYTES] [--probe-recipients] [--json] [--config FILE]`
// Walks an imagined session through the same session driver `serve` runs
// (src/session) and prints each stage's decision with the rule and reason
// that made it. HELO is judged at MAIL, as in serve: its row says so. The
// policy snapshot and the facts (DNS lookups, counters) come from injected
// dependencies so that explain uses exactly what `serve` uses; without fact
// providers it says plainly that DNSBL, rate and sender-domain facts were not
// consulted. Passwords are never asked for: the credential check is replaced
// by an assumption (a known --user logged in, an unknown one failed), which
// the output states; the AUTH rules still decide. Exit 0 once the walk ran,
// whatever it decided (see README, Commands).
import { parseArgs } from 'node:util';
import type { CliIo } from './io.ts';
import { EXIT_OK, EXIT_USAGE, EXIT_USER_ERROR } from './io.ts';
import { usageBlock } from './help.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';
import { ConfigError, formatProblem } from '../config/errors.ts';
import { normalizeIp } from '../net/ip-text.ts';
import { listenerInfo, type ListenerInfo } from '../policy/context.ts';
import type { GatherFacts } from '../policy/facts.ts';
import { formatReply } from '../policy/decision.ts';
import type { FactsProvider } from '../facts/session-facts.ts';
import { silentLogger } from '../log/logger.ts';
import { createSessionDriver, type CredentialChecker } from '../session/session-driver.ts';
import type { SessionRecord } from '../session/session-record.ts';
import { walkScript, type SessionWalk, type StageReport } from '../session/session-script.ts';

export interface ExplainDeps {
  /**
   * Loads config.toml and every policy file, exactly as `serve` does.
   * `probeRecipients`: --probe-recipients, live recipient verification really asks the next hop.
   */
  loadSnapshot(configFile: string, options?: { readonly probeRecipients: boolean }): Promise<PolicySnapshot>;
  /** What the fact providers want said after the walk (a recipient probe that was not sent). */
  factNotes?: () => readonly string[];
  /** The fact providers `serve` uses (DNSBL, counters, sender domain); asked after loadSnapshot. */
  providers?: () => readonly FactsProvider[];
  /** Or one function that gathers the facts of a stage (tests). */
  gatherFacts?: GatherFacts;
  /** How AUTH's credential check is answered; default: a user in users.toml is assumed to log in. */
  credentials?: CredentialChecker;
}

/** A GatherFacts function as a provider the driver can open. */
function providerOf(gather: GatherFacts): FactsProvider {
  return {
    name: 'explain',
    open: (_ctx, snapshot) => ({ gather: (stage, ctx) => gather(stage, ctx, snapshot), close: () => undefined }),
  };
}

/** explain never sees a password: a user in users.toml is assumed to log in, any other name fails. */
const ASSUMED_CREDENTIALS: CredentialChecker = {
  check: async (request, snapshot) => {
    const user = snapshot.users.get(request.username);
    return user ? { facts: { outcome: 'ok' }, user } : { facts: { outcome: 'failed' } };
  },
};

const USAGE = usageBlock('explain');

export async function runExplain(argv: string[], io: CliIo, deps?: Partial<ExplainDeps>): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ip: { type: 'string' },
        helo: { type: 'string' },
        user: { type: 'string' },
        listener: { type: 'string' },
        from: { type: 'string' },
        rcpt: { type: 'string', multiple: true },
        size: { type: 'string' },
        json: { type: 'boolean', default: false },
        'probe-recipients': { type: 'boolean', default: false },
        config: { type: 'string', default: 'config.toml' },
        replay: { type: 'string' },
        policies: { type: 'string' },
      },
    }));
  } catch (error) {
    io.stderr.write(`explain: ${(error as Error).message}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (values.replay !== undefined) {
    const imagined = (['ip', 'helo', 'user', 'listener', 'from', 'rcpt', 'size'] as const).filter((key) => values[key] !== undefined);
    if (imagined.length > 0) {
      io.stderr.write(`explain: --replay takes a recorded session; --${imagined.join(', --')} describe an imagined one\n${USAGE}\n`);
      return EXIT_USAGE;
    }
    const { runExplainReplay } = await import('./explain-replay.ts');
    return runExplainReplay(values.replay, { config: values.config, policies: values.policies, json: values.json }, io);
  }
  if (values.policies !== undefined) {
    io.stderr.write(`explain: --policies goes with --replay\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const missing = (['ip', 'from'] as const).filter((key) => values[key] === undefined);
  if (missing.length > 0 || !values.rcpt || values.rcpt.length === 0) {
    io.stderr.write(`explain: --ip, --from and at least one --rcpt are required\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const ip = normalizeIp(values.ip as string);
  if (ip === undefined) {
    io.stderr.write(`explain: --ip ${values.ip}: not an IP address\n`);
    return EXIT_USAGE;
  }
  const size = values.size === undefined ? undefined : Number(values.size);
  if (size !== undefined && (!Number.isInteger(size) || size < 0)) {
    io.stderr.write(`explain: --size ${values.size}: not a byte count\n`);
    return EXIT_USAGE;
  }
  if (!deps?.loadSnapshot) {
    io.stderr.write('explain: this build has no policy store wired in (loadSnapshot); nothing to explain against\n');
    return EXIT_USER_ERROR;
  }

  let snapshot: PolicySnapshot;
  try {
    snapshot = await deps.loadSnapshot(values.config, { probeRecipients: values['probe-recipients'] });
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) io.stderr.write(`${formatProblem(problem)}\n`);
      return EXIT_USER_ERROR;
    }
    io.stderr.write(`explain: cannot load ${values.config}: ${(error as Error).message}\n`);
    return EXIT_USER_ERROR;
  }

  const listeners = snapshot.config.listeners.map((l) => ({ info: listenerInfo(l), config: l }));
  const wanted = values.listener;
  const chosen = wanted !== undefined
    ? listeners.find((l) => l.info.name === wanted)
    : listeners.find((l) => l.info.role === (values.user !== undefined ? 'submission' : 'mx')) ?? listeners[0];
  if (!chosen) {
    io.stderr.write(`explain: no listener named "${wanted}" (have: ${listeners.map((l) => l.info.name).join(', ')})\n`);
    return EXIT_USER_ERROR;
  }

  const notes: string[] = [];
  const session: SessionRecord = {
    sessionId: 'explain',
    listener: { ...chosen.config, name: chosen.info.name, authOffered: chosen.info.authOffered },
    clientIp: ip,
    clientPort: 0,
    peerIp: ip,
    localIp: chosen.config.address.host,
    localPort: chosen.config.address.port,
    connectedAt: Date.now(),
    snapshot,
    // Assume the client used TLS where the listener offers it, as real submission clients do.
    tls: chosen.info.tls !== 'none',
    esmtp: false,
    recipients: [],
    rejectedRecipients: 0,
    errors: 0,
    messages: 0,
  };
  if (chosen.info.tls !== 'none') notes.push(`assumes the client used TLS (listener ${chosen.info.name} offers ${chosen.info.tls})`);
  if (values.user !== undefined) {
    notes.push(
      snapshot.users.get(values.user)
        ? `password not checked: user ${values.user} is assumed to have logged in`
        : `user ${values.user} is not in users.toml: AUTH would fail`,
    );
  }
  const providers = deps.providers?.() ?? (deps.gatherFacts ? [providerOf(deps.gatherFacts)] : undefined);
  if (!providers) notes.push('facts not gathered: DNSBL, rate limits and sender-domain checks were NOT consulted');
  if (values.helo !== undefined) notes.push('HELO is judged at MAIL FROM, as serve does: a HELO refusal is the reply to MAIL');

  const driver = createSessionDriver({ hostname: snapshot.config.hostname, facts: providers ?? [], credentials: deps.credentials ?? ASSUMED_CREDENTIALS, logger: silentLogger() });
  const walk = await walkScript(driver, session, {
    from: values.from as string,
    rcpt: values.rcpt,
    ...(values.helo !== undefined ? { helo: values.helo } : {}),
    ...(values.user !== undefined ? { user: values.user } : {}),
    ...(size !== undefined ? { size } : {}),
  });

  notes.push(...(deps.factNotes?.() ?? []));
  if (values.json) io.stdout.write(`${JSON.stringify(toJson(ip, chosen.info, snapshot, values, walk, notes), null, 2)}\n`);
  else io.stdout.write(toTable(ip, chosen.info, snapshot, walk, notes));
  // Like grep's "no match": 0 only when the mail would be accepted for every
  // recipient given, 1 when anything refuses it (a script can test an edit).
  return walk.accepted.length === values.rcpt.length ? EXIT_OK : EXIT_REFUSED;
}

/** The mail would not be accepted for every recipient (the same status as a user error). */
const EXIT_REFUSED = 1;

function stageJson(report: StageReport): Record<string, unknown> {
  const d = report.decision;
  return {
    stage: report.stage,
    command: report.command,
    input: report.input,
    ...(report.normalized !== undefined ? { normalized: report.normalized } : {}),
    status: report.status,
    ...(d
      ? {
          verdict: d.verdict,
          rule: d.rule,
          reason: d.reason,
          reply: d.reply ? formatReply(d.reply) : null,
          detail: d.detail ?? {},
        }
      : {}),
  };
}

function toJson(
  ip: string,
  listener: ListenerInfo,
  snapshot: PolicySnapshot,
  values: { helo?: string | undefined; user?: string | undefined },
  walk: SessionWalk,
  notes: readonly string[],
): unknown {
  const refused = walk.stages
    .filter((s) => s.stage === 'rcpt' && s.decision && s.decision.verdict !== 'permit' && s.decision.verdict !== 'dunno')
    .map((s) => s.input);
  return {
    client: { ip, helo: values.helo ?? null, user: values.user ?? null },
    listener: { name: listener.name, role: listener.role },
    generation: snapshot.generation,
    stages: walk.stages.map(stageJson),
    accepted: walk.accepted,
    refused,
    notes,
  };
}

/** Terminal-safe: control characters an argument may carry are shown escaped. */
function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function toTable(ip: string, listener: ListenerInfo, snapshot: PolicySnapshot, walk: SessionWalk, notes: readonly string[]): string {
  const header = ['STAGE', 'INPUT', 'VERDICT', 'RULE', 'REASON', 'REPLY'];
  const rows = walk.stages.map((s) => {
    const d = s.decision;
    const input = shown(s.normalized !== undefined && s.normalized !== `<${s.input}>` && s.normalized !== s.input ? `${s.input} -> ${s.normalized}` : s.input);
    const stage = s.stage === s.command ? s.stage : `${s.stage} (at ${s.command.toUpperCase()})`;
    if (!d) return [stage, input || '-', s.status === 'skipped' ? 'skipped' : 'not reached', '-', '-', '-'];
    return [stage, input || '<>', d.verdict, d.rule, d.reason, d.reply ? formatReply(d.reply) : '-'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  const out = [
    `client ${ip} on listener ${listener.name} (${listener.role}), policy generation ${snapshot.generation}`,
    line(header),
    ...rows.map(line),
  ];
  for (const s of walk.stages) {
    if (s.decision?.detail && Object.keys(s.decision.detail).length > 0) {
      const pairs = Object.entries(s.decision.detail).map(([k, v]) => `${k}=${shown(String(v))}`);
      out.push(`  ${s.stage} ${shown(s.input)}: ${pairs.join(' ')}`);
    }
  }
  const total = walk.stages.filter((s) => s.stage === 'rcpt').length;
  out.push(`accepted ${walk.accepted.length} of ${total} recipient(s)`);
  for (const note of notes) out.push(`note: ${note}`);
  return `${out.join('\n')}\n`;
}
