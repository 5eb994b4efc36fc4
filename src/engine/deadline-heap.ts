import type { BountyJob } from './queue.js';

/** A job waiting in the embedded queue, ranked by its scan deadline. */
export interface Entry {
  job: BountyJob;
  deadline: number;
  /** What the heap orders by: the deadline (the default), or the arrival order (`order: 'arrival'`). */
  rank: number;
  seq: number;
}

/** Earlier deadline first; equal deadlines in arrival order. */
const before = (a: Entry, b: Entry) => a.rank < b.rank || (a.rank === b.rank && a.seq < b.seq);

/** A binary min-heap of entries by deadline. */
export class DeadlineHeap {
  readonly #items: Entry[] = [];
  get size(): number {
    return this.#items.length;
  }
  peek(): Entry | undefined {
    return this.#items[0];
  }
  push(entry: Entry): void {
    const items = this.#items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  pop(): Entry | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && before(items[l]!, items[m]!)) m = l;
        if (r < items.length && before(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m]!, items[i]!];
        i = m;
      }
    }
    return top;
  }
  drain(): BountyJob[] {
    return this.#items.splice(0).map((e) => e.job);
  }
}
