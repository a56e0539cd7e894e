// What both BPE variants share (mirrors src/tokenizer/heap.ts and the TokenModel interface of
// src/tokenizer/index.ts): the merge loop, a binary min-heap of candidate pairs over a linked list of
// symbols as llama.cpp's llm_tokenizer_spm and Hugging Face tokenizers' `Word::merge_all` do it,
// O(n log n) in the number of symbols; and the token → bytes table decoding reads.

/**
 * A BPE variant: text → ids (without BOS), and the bytes each id decodes to.
 *
 *   bytes     (sum of piece lengths) u8   every token's bytes, in id order
 *   offsets   (vocabSize + 1) i32         token id's bytes are bytes[offsets[id], offsets[id + 1])
 */
export abstract class TokenModel {
  vocabSize: i32 = 0;
  bytes: Uint8Array = new Uint8Array(0);
  offsets: StaticArray<i32> = new StaticArray<i32>(1);

  /** Ids for text, without BOS; an empty array after fail() when the text cannot be encoded. */
  abstract encode(text: string): Array<i32>;

  /** Control tokens (BOS, EOS, chat markers) decode to nothing. id must be in range. */
  abstract isControl(id: i32): bool;

  /** Bytes to drop from the front of token id's bytes when it is the first piece of a text (0 or 1). */
  abstract skipAtStart(id: i32): i32;

  /** Fills bytes/offsets from one array of bytes per token. */
  protected setBytes(perToken: Array<Array<u8>>): void {
    const n = perToken.length;
    const offsets = new StaticArray<i32>(n + 1);
    let total = 0;
    for (let id = 0; id < n; id++) {
      offsets[id] = total;
      total += perToken[id].length;
    }
    offsets[n] = total;
    const bytes = new Uint8Array(total);
    for (let id = 0; id < n; id++) {
      const piece = perToken[id];
      const at = offsets[id];
      for (let j = 0; j < piece.length; j++) bytes[at + j] = piece[j];
    }
    this.bytes = bytes;
    this.offsets = offsets;
  }
}

/**
 * Which adjacent pairs merge, and how soon: rank(text, a, b, c) says whether symbols text[a, b) and
 * text[b, c) merge, and when they do sets `value` (lower merges first).
 */
export abstract class Ranker {
  value: f64 = 0;
  abstract rank(text: string, a: i32, b: i32, c: i32): bool;
}

/** A pair that may merge: symbols left and right, whose texts were length units long together. */
class Candidate {
  constructor(public rank: f64, public left: i32, public right: i32, public length: i32) {}
}

/** Lower rank first, the leftmost pair on ties. */
// @ts-ignore: decorator
@inline function lessCandidate(a: Candidate, b: Candidate): bool {
  return a.rank < b.rank || (a.rank == b.rank && a.left < b.left);
}

/** A binary min-heap of candidates (src/tokenizer/heap.ts MinHeap, the same sift steps). */
class CandidateHeap {
  items: Array<Candidate> = [];

  push(item: Candidate): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!lessCandidate(item, unchecked(items[parent]))) break;
      unchecked((items[i] = items[parent]));
      i = parent;
    }
    unchecked((items[i] = item));
  }

  /** Removes and returns the least candidate (null when empty). */
  pop(): Candidate | null {
    const items = this.items;
    if (items.length == 0) return null;
    const top = unchecked(items[0]);
    const last = items.pop();
    const n = items.length;
    if (n == 0) return top;
    // sift `last` down from the root
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && lessCandidate(unchecked(items[child + 1]), unchecked(items[child]))) child++;
      if (!lessCandidate(unchecked(items[child]), last)) break;
      unchecked((items[i] = items[child]));
      i = child;
    }
    unchecked((items[i] = last));
    return top;
  }
}

/**
 * Repeatedly merges the adjacent pair of symbols with the lowest rank (the leftmost on ties) until no
 * adjacent pair merges, as src/tokenizer/heap.ts mergeByRank. The symbols are consecutive ranges of
 * `text` (UTF-16 units): symbol i is text[bounds[i], bounds[i + 1]). Returns the merged symbols' bounds
 * the same way (first bounds[0], last the end of text).
 */
export function mergeByRank(text: string, bounds: Array<i32>, ranker: Ranker): Array<i32> {
  const n = bounds.length - 1;
  if (n < 2) return bounds.slice(0);
  const start = new StaticArray<i32>(n); // symbol i is text[start[i], end[i]) while live
  const end = new StaticArray<i32>(n);
  const live = new StaticArray<bool>(n); // false once merged into its left neighbour
  const prev = new StaticArray<i32>(n);
  const next = new StaticArray<i32>(n);
  for (let i = 0; i < n; i++) {
    unchecked((start[i] = bounds[i]));
    unchecked((end[i] = bounds[i + 1]));
    unchecked((live[i] = true));
    unchecked((prev[i] = i - 1));
    unchecked((next[i] = i + 1 < n ? i + 1 : -1));
  }

  const queue = new CandidateHeap();
  const merger = new Merger(text, start, end, next, queue, ranker);
  for (let i = 0; i + 1 < n; i++) merger.consider(i);

  for (let c = queue.pop(); c != null; c = queue.pop()) {
    const left = c.left;
    const right = c.right;
    // Stale: a side was merged away, or grew by merging with its other neighbour, since c was queued.
    if (!unchecked(live[left]) || !unchecked(live[right])) continue;
    if (unchecked(end[left]) - unchecked(start[left]) + unchecked(end[right]) - unchecked(start[right]) != c.length) continue;
    unchecked((end[left] = end[right]));
    unchecked((live[right] = false));
    const after = unchecked(next[right]);
    unchecked((next[left] = after));
    if (after >= 0) unchecked((prev[after] = left));
    merger.consider(unchecked(prev[left]));
    merger.consider(left);
  }

  const out = new Array<i32>();
  for (let i = 0; i >= 0; i = unchecked(next[i])) out.push(unchecked(start[i]));
  out.push(bounds[n]);
  return out;
}

/** Queues the pair starting at a symbol when it merges (a class: AssemblyScript has no closures). */
class Merger {
  constructor(
    private text: string,
    private start: StaticArray<i32>,
    private end: StaticArray<i32>,
    private next: StaticArray<i32>,
    private queue: CandidateHeap,
    private ranker: Ranker,
  ) {}

  consider(left: i32): void {
    if (left < 0) return;
    const right = unchecked(this.next[left]);
    if (right < 0) return;
    const a = unchecked(this.start[left]);
    const b = unchecked(this.start[right]);
    const c = unchecked(this.end[right]);
    if (this.ranker.rank(this.text, a, b, c)) this.queue.push(new Candidate(this.ranker.value, left, right, c - a));
  }
}
