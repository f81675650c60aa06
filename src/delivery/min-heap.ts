// A binary min-heap of (due, id): the queue runner's schedule. Entries are
// never updated in place; a rescheduled message gets a new entry and the old
// one is recognised as stale when it surfaces (its due no longer matches).
export interface HeapEntry {
  readonly due: number;
  readonly id: string;
}

export class MinHeap {
  readonly #items: HeapEntry[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): HeapEntry | undefined {
    return this.#items[0];
  }

  push(entry: HeapEntry): void {
    const a = this.#items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as HeapEntry).due <= entry.due) break;
      a[i] = a[parent] as HeapEntry;
      i = parent;
    }
    a[i] = entry;
  }

  pop(): HeapEntry | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      let value = last.due;
      if (l < a.length && (a[l] as HeapEntry).due < value) {
        smallest = l;
        value = (a[l] as HeapEntry).due;
      }
      if (r < a.length && (a[r] as HeapEntry).due < value) smallest = r;
      if (smallest === i) break;
      a[i] = a[smallest] as HeapEntry;
      i = smallest;
    }
    a[i] = last;
    return top;
  }
}
