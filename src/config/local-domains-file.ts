// PURE. Parser for policies/local-domains: the domains we accept mail for from
// anyone, one per line, normalised (lower case, no trailing dot, punycode).
import type { FileProblem, ParseResult } from './errors.ts';
import { createDomainSet, normaliseDomain } from '../net/domain-set.ts';
import { readEntryLines, splitFirstWord } from './line-file.ts';
import type { DomainSet } from './snapshot.ts';

export function parseLocalDomainsFile(file: string, text: string): ParseResult<DomainSet> {
  const names: string[] = [];
  const problems: FileProblem[] = [];
  for (const { line, text: content } of readEntryLines(text)) {
    const { word, rest } = splitFirstWord(content);
    if (rest) {
      problems.push({ file, line, message: `unexpected text after the domain: "${rest}" (one domain per line; comments start with #)` });
      continue;
    }
    const result = normaliseDomain(word);
    if (result.ok) names.push(result.domain);
    else problems.push({ file, line, message: result.message });
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: createDomainSet(names) };
}
