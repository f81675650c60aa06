// PURE. A CidrSet built once per snapshot, answering lookups in O(log n).
//
// CIDR ranges never partially overlap: two are either disjoint or one holds
// the other. So the address space splits into disjoint segments, each owned by
// the most specific entry covering it; a lookup is a binary search over the
// segment starts (typed arrays for IPv4, bigints for IPv6). Building sorts the
// entries once: O(n log n), and at most 2n+1 segments per family.
// Identical networks written twice: the first line wins (its reason is used).
import { parseClientAddress, type Network } from './cidr.ts';
import type { CidrEntry, CidrSet } from './snapshot.ts';

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
function search<T extends number | bigint>(starts: ArrayLike<T>, x: T): number {
  let low = 0;
  let high = starts.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if ((starts[mid] as T) <= x) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

class SegmentCidrSet implements CidrSet {
  readonly size: number;
  private readonly entries: readonly CidrEntry[];
  private readonly v4Starts: Uint32Array;
  private readonly v4Ends: Uint32Array;
  private readonly v4Owners: Int32Array;
  private readonly v6: Segments<bigint>;

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
    this.v6 = flatten(v6, (x) => x + 1n, (x) => x - 1n);
  }

  lookup(ip: string): CidrEntry | undefined {
    if (this.size === 0) return undefined;
    const address = parseClientAddress(ip);
    if (!address) return undefined;
    if (address.family === 4) {
      const at = search(this.v4Starts, address.value);
      return at >= 0 && address.value <= (this.v4Ends[at] as number) ? this.entries[this.v4Owners[at] as number] : undefined;
    }
    const at = search(this.v6.starts, address.value);
    return at >= 0 && address.value <= (this.v6.ends[at] as bigint) ? this.entries[this.v6.owners[at] as number] : undefined;
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
