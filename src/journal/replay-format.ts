// How a replay is shown to an administrator (replay, check, the reload log).
import type { ReadStats } from './journal-segment.ts';
import type { ChangeKind, ReplayExample, ReplaySummary } from './replay.ts';

const TITLES: Record<ChangeKind, string> = {
  newly_refused: 'NEWLY REFUSED',
  newly_accepted: 'NEWLY ACCEPTED',
  refused_otherwise: 'REFUSED OTHERWISE (another rule, reason or reply class)',
};

/** Terminal-safe: control characters recorded from a client are shown escaped. */
function shown(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function formatExample(e: ReplayExample): string {
  const who = `client ${e.client}${e.user !== undefined ? ` user ${shown(e.user)}` : ''} on ${e.listener}${e.source !== undefined ? ` (${e.source})` : ''}`;
  const input = e.input ? ` <${shown(e.input)}>` : '';
  return `session ${e.session} ${new Date(e.at).toISOString()} ${who}: ${e.call}${input}: was ${e.before}, now ${e.after}`;
}

/** The relay-opening examples, one line each (the log and check print these). */
export function formatOpenings(summary: ReplaySummary): string[] {
  return summary.relayOpenings.examples.map(formatExample);
}

export function formatReplay(summary: ReplaySummary, read: ReadStats, header: string): string {
  const out: string[] = [header];
  out.push(`replayed ${summary.sessions} session(s), ${summary.calls} SMTP command(s), from ${read.segments} journal segment(s)`);
  if (summary.relayOpenings.count > 0) {
    out.push('');
    out.push('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
    out.push(`!!! RELAY OPENING: ${summary.relayOpenings.count} recipient(s) newly allowed to relay for UNAUTHENTICATED clients`);
    out.push('!!! that were not trusted to relay before. This edit makes an open relay for them:');
    for (const line of formatOpenings(summary)) out.push(`!!!   ${line}`);
    out.push('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!');
  }
  for (const kind of ['newly_refused', 'newly_accepted', 'refused_otherwise'] as const) {
    const groups = summary.groups.filter((g) => g.kind === kind).sort((a, b) => b.count - a.count || a.stage.localeCompare(b.stage) || a.rule.localeCompare(b.rule));
    if (groups.length === 0) continue;
    const total = groups.reduce((sum, g) => sum + g.count, 0);
    out.push('');
    out.push(`${TITLES[kind]}: ${total}${kind === 'newly_accepted' ? ' (grouped by what refused them before)' : ''}`);
    for (const g of groups) {
      out.push(`  ${g.count.toString().padStart(7)}  stage ${g.stage}  rule ${g.rule}  reason ${g.reason}`);
      for (const e of g.examples) out.push(`           e.g. ${formatExample(e)}`);
    }
  }
  const unknownZones = Object.entries(summary.unknown.dnsblZones);
  if (summary.unknown.sessions > 0) {
    out.push('');
    out.push(`UNKNOWN (not in the journal, never guessed): ${summary.unknown.sessions} session(s) asked for facts that were not recorded`);
    for (const [zone, count] of unknownZones) out.push(`  dnsbl zone ${zone}: no recorded answer in ${count} session(s); counted as not listed`);
    if (summary.unknown.rateWindows > 0) out.push(`  rate windows without a recorded count: ${summary.unknown.rateWindows}; counted as not exceeded`);
    if (summary.unknown.senderDomain > 0) out.push(`  sender-domain checks without a recorded answer: ${summary.unknown.senderDomain}; not applied`);
    if (summary.unknown.recipientVerification > 0) out.push(`  sessions with recipients the candidate would verify live, not verified when recorded: ${summary.unknown.recipientVerification}; not applied`);
  }
  if (read.corruptRecords > 0 || read.unreadableSegments > 0) {
    out.push('');
    out.push(`skipped: ${read.corruptRecords} corrupt record(s) in ${read.corruptSegments} segment(s), ${read.unreadableSegments} unreadable segment(s)`);
  }
  out.push('');
  out.push(
    summary.changes === 0 && summary.relayOpenings.count === 0
      ? 'no change: every replayed command gets the same verdict'
      : `${summary.changes} command(s) in ${summary.changedSessions} session(s) would be decided differently${summary.relayOpenings.count > 0 ? `; ${summary.relayOpenings.count} RELAY OPENING(S)` : ''}`,
  );
  return `${out.join('\n')}\n`;
}
