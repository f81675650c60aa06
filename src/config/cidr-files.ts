// PURE. Parsers for the CIDR list files in policies/: relay-networks,
// allowlist (one network per line) and denylist (a network, then an optional
// reason shown to the client). Every bad line is reported, not just the first.
import type { FileProblem, ParseResult } from './errors.ts';
import { parseNetwork } from '../net/cidr.ts';
import { createCidrSet, type NetworkEntry } from '../net/cidr-set.ts';
import { readEntryLines, splitFirstWord } from './line-file.ts';
import type { CidrSet } from './snapshot.ts';

/** A denylist reason goes into an SMTP reply: printable US-ASCII, one line, kept short. */
const MAX_REASON = 200;

function parseCidrList(file: string, text: string, allowReason: boolean): ParseResult<CidrSet> {
  const items: NetworkEntry[] = [];
  const problems: FileProblem[] = [];
  for (const { line, text: content } of readEntryLines(text)) {
    const { word, rest } = splitFirstWord(content);
    const parsed = parseNetwork(word);
    if (!parsed.ok) {
      problems.push({ file, line, message: parsed.message });
      continue;
    }
    if (rest && !allowReason) {
      problems.push({ file, line, message: `unexpected text after the network: "${rest}" (one network per line; comments start with #)` });
      continue;
    }
    // Tabs and runs of spaces (aligned columns) collapse to one space.
    const reason = rest.replace(/[ \t]+/g, ' ');
    if (reason && !/^[\x20-\x7e]+$/.test(reason)) {
      problems.push({ file, line, message: 'the reason is sent to the client: printable ASCII only' });
      continue;
    }
    if (reason.length > MAX_REASON) {
      problems.push({ file, line, message: `the reason is sent to the client: at most ${MAX_REASON} characters` });
      continue;
    }
    items.push({ network: parsed.network, entry: reason ? { cidr: word, file, line, reason } : { cidr: word, file, line } });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: createCidrSet(items) };
}

/** policies/relay-networks: clients that may relay to any domain. */
export function parseRelayNetworksFile(file: string, text: string): ParseResult<CidrSet> {
  return parseCidrList(file, text, false);
}

/** policies/allowlist: clients that skip DNSBL checks and rate limits (never relay). */
export function parseAllowlistFile(file: string, text: string): ParseResult<CidrSet> {
  return parseCidrList(file, text, false);
}

/** policies/denylist: clients refused at connect; the text after the network is the reason. */
export function parseDenylistFile(file: string, text: string): ParseResult<CidrSet> {
  return parseCidrList(file, text, true);
}
