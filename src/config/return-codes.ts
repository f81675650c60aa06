// PURE. DNSBL A-record answers: which count as a listing, which are a zone
// problem. Filters are compiled once (when the policy is parsed) into a
// predicate over 32-bit integers, so a check does no parsing.
//
// Semantics (PRODUCT.md): an answer outside 127.0.0.0/8 means a hijacked or
// expired zone; 127.255.255.0/24 is the error range ("queried via a public
// resolver", "over quota"). Neither is ever a listing, whatever the filter.
// Without an explicit filter a zone lists on 127.0.0.0/24 except 127.0.0.1.

export interface CodeRange {
  readonly from: number;
  readonly to: number;
}

export interface ReturnCodeFilter {
  /** Ranges that count (inclusive); empty with no bitmask = the default filter. */
  readonly include: readonly CodeRange[];
  readonly exclude: readonly CodeRange[];
  /** Combined lists: the answer counts when (last octet & bitmask) != 0. */
  readonly bitmask?: number;
}

export const LOOPBACK_NET: CodeRange = { from: ipv4ToInt('127.0.0.0'), to: ipv4ToInt('127.255.255.255') };
export const ERROR_RANGE: CodeRange = { from: ipv4ToInt('127.255.255.0'), to: ipv4ToInt('127.255.255.255') };

export const DEFAULT_FILTER: ReturnCodeFilter = {
  include: [{ from: ipv4ToInt('127.0.0.0'), to: ipv4ToInt('127.0.0.255') }],
  exclude: [{ from: ipv4ToInt('127.0.0.1'), to: ipv4ToInt('127.0.0.1') }],
};

/** Dotted quad to unsigned 32-bit integer; NaN when not a strict dotted quad. */
export function ipv4ToInt(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return Number.NaN;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return Number.NaN;
    const octet = Number(part);
    if (octet > 255) return Number.NaN;
    value = value * 256 + octet;
  }
  return value;
}

export function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/**
 * Parses one filter entry: "127.0.0.2", "127.0.0.2-127.0.0.11" or
 * "127.0.0.0/24". Returns the range or a message saying what is wrong.
 */
export function parseCodeRange(text: string): CodeRange | string {
  const trimmed = text.trim();
  let range: CodeRange;
  const slash = trimmed.indexOf('/');
  const dash = trimmed.indexOf('-');
  if (slash >= 0) {
    const base = ipv4ToInt(trimmed.slice(0, slash));
    const bitsText = trimmed.slice(slash + 1);
    const bits = /^\d{1,2}$/.test(bitsText) ? Number(bitsText) : Number.NaN;
    if (Number.isNaN(base) || !(bits >= 0 && bits <= 32)) return `invalid return code "${text}" (write 127.0.0.2, 127.0.0.2-127.0.0.11 or 127.0.0.0/24)`;
    const size = 2 ** (32 - bits);
    const from = base - (base % size);
    if (from !== base) return `"${text}": ${intToIpv4(base)} is not the start of a /${bits}`;
    range = { from, to: from + size - 1 };
  } else if (dash >= 0) {
    const from = ipv4ToInt(trimmed.slice(0, dash).trim());
    const to = ipv4ToInt(trimmed.slice(dash + 1).trim());
    if (Number.isNaN(from) || Number.isNaN(to)) return `invalid return code range "${text}"`;
    if (from > to) return `"${text}": the range runs backwards`;
    range = { from, to };
  } else {
    const value = ipv4ToInt(trimmed);
    if (Number.isNaN(value)) return `invalid return code "${text}"`;
    range = { from: value, to: value };
  }
  if (range.from < LOOPBACK_NET.from || range.to > LOOPBACK_NET.to) return `"${text}": DNSBL return codes lie in 127.0.0.0/8`;
  if (range.to >= ERROR_RANGE.from) return `"${text}": 127.255.255.0/24 is the error range and never a listing`;
  return range;
}

const inRanges = (value: number, ranges: readonly CodeRange[]): boolean =>
  ranges.some((range) => value >= range.from && value <= range.to);

/** Does this (valid, 127/8, non-error) answer count under the filter? */
export function filterMatches(filter: ReturnCodeFilter, value: number): boolean {
  if (inRanges(value, filter.exclude)) return false;
  const explicit = filter.include.length > 0 || filter.bitmask !== undefined;
  if (!explicit) return filterMatches(DEFAULT_FILTER, value);
  if (inRanges(value, filter.include)) return true;
  return filter.bitmask !== undefined && (value & filter.bitmask & 255) !== 0;
}

export type AnswerProblem = 'outside_127' | 'error_code';

export interface AnswerClassification {
  /** Answers that count as a listing, in the order received. */
  readonly listed: readonly string[];
  /** The first problem seen, if any answer is a zone problem. */
  readonly problem?: AnswerProblem;
  /** The answers that made the problem (safe to log: addresses only). */
  readonly problemAnswers: readonly string[];
}

/** Sorts A answers into listings and zone problems; anything else is ignored (not listed). */
export function classifyAnswers(filter: ReturnCodeFilter, answers: readonly string[]): AnswerClassification {
  const listed: string[] = [];
  const problemAnswers: string[] = [];
  let problem: AnswerProblem | undefined;
  for (const answer of answers) {
    const value = ipv4ToInt(answer);
    if (Number.isNaN(value) || !inRanges(value, [LOOPBACK_NET])) {
      problem ??= 'outside_127';
      problemAnswers.push(answer);
    } else if (inRanges(value, [ERROR_RANGE])) {
      problem ??= 'error_code';
      problemAnswers.push(answer);
    } else if (filterMatches(filter, value)) {
      listed.push(answer);
    }
  }
  return problem ? { listed, problem, problemAnswers } : { listed, problemAnswers };
}
