// Wires `relayguard explain` to the same policy loader and fact providers
// that `serve` uses (explain.ts itself stays free of I/O choices).
import type { CliIo } from './io.ts';
import { runExplain, type ExplainDeps } from './explain.ts';
import { loadPolicy, createSnapshot } from '../config/load-policy.ts';
import { ConfigError } from '../config/errors.ts';
import { createFactsRuntime, type FactsRuntime } from '../facts/providers.ts';
import { silentLogger } from '../log/logger.ts';
import { verificationRoute } from '../delivery/verification-route.ts';
import type { PolicySnapshot } from '../config/snapshot.ts';

/** `options.credentials`: how AUTH's credential check is answered (tests give it a real check). */
export async function runExplainCommand(argv: string[], io: CliIo, options: Pick<ExplainDeps, 'credentials'> = {}): Promise<number> {
  let runtime: FactsRuntime | undefined;
  let snapshot: PolicySnapshot | undefined;
  const notes: string[] = [];
  const loadSnapshot = async (configFile: string, loadOptions?: { readonly probeRecipients: boolean }): Promise<PolicySnapshot> => {
    const load = await loadPolicy(configFile);
    if (!load.ok) throw new ConfigError(load.problems);
    snapshot = createSnapshot(load, 1, new Date());
    const live = loadOptions?.probeRecipients === true;
    if (live && snapshot.config.recipient_verification.enabled) notes.push('--probe-recipients: recipients were verified live against the next hop');
    runtime = createFactsRuntime(snapshot, silentLogger(), {
      nextHop: verificationRoute,
      liveProbes: live,
      notProbed: (address, hop) => notes.push(`recipient ${address} would be verified live at ${hop}; not probed (add --probe-recipients to ask it)`),
    });
    return snapshot;
  };
  try {
    return await runExplain(argv, io, {
      loadSnapshot,
      // The session driver opens them once, for the one imagined session.
      providers: () => runtime?.providers ?? [],
      factNotes: () => notes,
      ...options,
    });
  } finally {
    runtime?.close();
  }
}
