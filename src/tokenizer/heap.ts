/**
 * The merge loop both BPE variants share: a binary min-heap of candidate pairs over a linked list of
 * symbols, as llama.cpp's llm_tokenizer_spm and Hugging Face tokenizers' `Word::merge_all` do it.
 * O(n log n) in the number of symbols, where rescanning all pairs after every merge (llama2.c run.c,
 * the GPT-2 reference `bpe()`) is O(n²).
 */

/** A binary min-heap ordered by `less`. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(item, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = item;
  }

  /** Removes and returns the least item (undefined when empty). */
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    // sift `last` down from the root
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && this.less(items[child + 1], items[child])) child++;
      if (!this.less(items[child], last)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = last;
    return top;
  }
}

interface Candidate {
  rank: number; // lower merges first
  left: number; // symbol index of the left half; ties go to the leftmost pair
  right: number;
  length: number; // left + right text length when queued; a mismatch means a side has merged since
}

const lessCandidate = (a: Candidate, b: Candidate): boolean => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);

/**
 * Repeatedly merges the adjacent pair of `symbols` with the lowest `rankOf(left, right)` (the leftmost
 * on ties) until no adjacent pair has a rank, and returns the merged symbols in order. `rankOf`
 * returns undefined for a pair that does not merge. Symbols must be non-empty strings.
 */
export function mergeByRank(symbols: readonly string[], rankOf: (left: string, right: string) => number | undefined): string[] {
  const n = symbols.length;
  if (n < 2) return symbols.slice();
  const text = symbols.slice(); // '' once merged into its left neighbour
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }

  const queue = new MinHeap<Candidate>(lessCandidate);
  const consider = (left: number): void => {
    if (left < 0) return;
    const right = next[left];
    if (right < 0) return;
    const rank = rankOf(text[left], text[right]);
    if (rank !== undefined) queue.push({ rank, left, right, length: text[left].length + text[right].length });
  };
  for (let i = 0; i + 1 < n; i++) consider(i);

  for (let c = queue.pop(); c !== undefined; c = queue.pop()) {
    const { left, right } = c;
    // Stale: a side was merged away, or grew by merging with its other neighbour, since c was queued.
    if (text[left] === '' || text[right] === '' || text[left].length + text[right].length !== c.length) continue;
    text[left] += text[right];
    text[right] = '';
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    consider(prev[left]);
    consider(left);
  }

  const out: string[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(text[i]);
  return out;
}
