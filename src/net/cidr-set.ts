// PURE. A CidrSet built once per snapshot, answering lookups in O(log n).
//
// CIDR ranges never partially overlap: two are either disjoint or one holds
// the other. So the address space splits into disjoint segments, each owned by
// the most specific entry covering it; a lookup is a binary search over the
// segment starts, in typed arrays: IPv4 as one 32-bit word, IPv6 as four
// (no bigint arithmetic on the lookup path). Building sorts the entries once:
// O(n log n), and at most 2n segments per family.
// Identical networks written twice: the first line wins (its reason is used).
import type { Network } from './cidr.ts';
import { isMappedGroups, parseClientV4, parseV6Groups } from './ip-text.ts';

/** One line of a CIDR list file, as the administrator wrote it. */
export interface CidrEntry {
  readonly cidr: string;
  readonly file: string;
  readonly line: number;
  /** Optional free text after the CIDR (denylist reasons). */
  readonly reason?: string;
}

/** A set of networks answering membership without scanning every entry. */
export interface CidrSet {
  readonly size: number;
  /** The most specific entry containing `ip` (IPv4-mapped IPv6 matches IPv4 entries). */
  lookup(ip: string): CidrEntry | undefined;
  contains(ip: string): boolean;
}

export interface NetworkEntry {
  readonly network: Network;
  readonly entry: CidrEntry;
}

interface Range<T> {
  readonly start: T;
  readonly end: T;
  readonly prefix: number;
  readonly index: number;
}

interface Segments<T> {
  readonly starts: T[];
  readonly ends: T[];
  readonly owners: number[];
}

/** Sweeps nested-or-disjoint ranges into disjoint segments owned by the innermost range. */
function flatten<T extends number | bigint>(ranges: Range<T>[], next: (x: T) => T, previous: (x: T) => T): Segments<T> {
  ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.prefix - b.prefix || a.index - b.index));
  const out: Segments<T> = { starts: [], ends: [], owners: [] };
  const emit = (start: T, end: T, owner: number): void => {
    if (start > end) return;
    out.starts.push(start);
    out.ends.push(end);
    out.owners.push(owner);
  };
  const stack: Range<T>[] = [];
  let cursor: T | undefined;
  const closeUntil = (limit: T | undefined): void => {
    let top = stack[stack.length - 1];
    while (top && (limit === undefined || top.end < limit)) {
      emit(cursor as T, top.end, top.index);
      cursor = next(top.end);
      stack.pop();
      top = stack[stack.length - 1];
    }
  };
  for (const range of ranges) {
    closeUntil(range.start);
    const top = stack[stack.length - 1];
    if (top && top.start === range.start && top.end === range.end) continue; // duplicate: first wins
    if (top) emit(cursor as T, previous(range.start), top.index);
    stack.push(range);
    cursor = range.start;
  }
  closeUntil(undefined);
  return out;
}

/** Index of the last segment whose start is <= x, or -1. */
function search4(starts: Uint32Array, x: number): number {
  let low = 0;
  let high = starts.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if ((starts[mid] as number) <= x) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

/** Compares the 128-bit value at `index` (four 32-bit words) with `x`. */
function compare6(words: Uint32Array, index: number, x: Uint32Array): number {
  const base = index * 4;
  for (let k = 0; k < 4; k++) {
    const difference = (words[base + k] as number) - (x[k] as number);
    if (difference !== 0) return difference;
  }
  return 0;
}

function search6(starts: Uint32Array, x: Uint32Array): number {
  let low = 0;
  let high = starts.length / 4 - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (compare6(starts, mid, x) <= 0) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

function toWords(values: readonly bigint[]): Uint32Array {
  const words = new Uint32Array(values.length * 4);
  values.forEach((value, i) => {
    for (let k = 0; k < 4; k++) words[i * 4 + k] = Number((value >> BigInt(96 - 32 * k)) & 0xffffffffn);
  });
  return words;
}

class SegmentCidrSet implements CidrSet {
  readonly size: number;
  private readonly entries: readonly CidrEntry[];
  private readonly v4Starts: Uint32Array;
  private readonly v4Ends: Uint32Array;
  private readonly v4Owners: Int32Array;
  private readonly v6Starts: Uint32Array;
  private readonly v6Ends: Uint32Array;
  private readonly v6Owners: Int32Array;
  private readonly scratch = new Uint32Array(4);

  constructor(items: readonly NetworkEntry[]) {
    this.size = items.length;
    this.entries = items.map((item) => item.entry);
    const v4: Range<number>[] = [];
    const v6: Range<bigint>[] = [];
    items.forEach(({ network }, index) => {
      if (network.family === 4) v4.push({ start: network.start, end: network.end, prefix: network.prefix, index });
      else v6.push({ start: network.start, end: network.end, prefix: network.prefix, index });
    });
    const flat4 = flatten(v4, (x) => x + 1, (x) => x - 1);
    this.v4Starts = Uint32Array.from(flat4.starts);
    this.v4Ends = Uint32Array.from(flat4.ends);
    this.v4Owners = Int32Array.from(flat4.owners);
    const flat6 = flatten(v6, (x) => x + 1n, (x) => x - 1n);
    this.v6Starts = toWords(flat6.starts);
    this.v6Ends = toWords(flat6.ends);
    this.v6Owners = Int32Array.from(flat6.owners);
  }

  lookup(ip: string): CidrEntry | undefined {
    if (this.size === 0) return undefined;
    const v4 = parseClientV4(ip);
    if (v4 >= 0) return this.lookup4(v4);
    const groups = parseV6Groups(ip);
    if (!groups) return undefined;
    if (isMappedGroups(groups)) return this.lookup4((groups[6] as number) * 65536 + (groups[7] as number));
    const x = this.scratch;
    for (let k = 0; k < 4; k++) x[k] = (groups[2 * k] as number) * 65536 + (groups[2 * k + 1] as number);
    const at = search6(this.v6Starts, x);
    return at >= 0 && compare6(this.v6Ends, at, x) >= 0 ? this.entries[this.v6Owners[at] as number] : undefined;
  }

  private lookup4(value: number): CidrEntry | undefined {
    const at = search4(this.v4Starts, value);
    return at >= 0 && value <= (this.v4Ends[at] as number) ? this.entries[this.v4Owners[at] as number] : undefined;
  }

  contains(ip: string): boolean {
    return this.lookup(ip) !== undefined;
  }
}

/** Builds the set; `items` in file order (the order decides between identical networks). */
export function createCidrSet(items: readonly NetworkEntry[]): CidrSet {
  return new SegmentCidrSet(items);
}

export function emptyCidrSet(): CidrSet {
  return new SegmentCidrSet([]);
}
