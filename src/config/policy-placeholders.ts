// PLACEHOLDERS, to be replaced when the lead merges the real parsers of
// dnsbl.toml (DNSBL issue) and limits.toml
// (rate-limit issue). They check TOML syntax (with line numbers) and read the
// stub types loosely so the snapshot can be assembled; they implement none of
// the real semantics. Replacing one is one line in policy-files.ts.
import { z } from 'zod';
import { parseTomlWith } from './load-config.ts';
import type { ParseResult } from './errors.ts';
import type { LimitsPolicy } from '../facts/limits/limits-file.ts';

const limitsSchema = z.record(z.string(), z.unknown());

export function parseLimitsPlaceholder(file: string, text: string): ParseResult<LimitsPolicy> {
  return parseTomlWith(file, text, limitsSchema);
}
