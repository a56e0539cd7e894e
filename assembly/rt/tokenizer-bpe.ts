// What both BPE variants share (mirrors src/tokenizer/heap.ts and the TokenModel interface of
// src/tokenizer/index.ts): the merge loop, a binary min-heap of candidate pairs over a linked list of
// symbols as llama.cpp's llm_tokenizer_spm and Hugging Face tokenizers' `Word::merge_all` do it,
// O(n log n) in the number of symbols; a string → id table looked up by ranges of the text; and the
// token → bytes table decoding reads.
//
// Encoding allocates almost nothing (no substring per pair looked up, no object per candidate, buffers
// reused across calls), so the incremental GC, which works in proportion to allocation, stays out of
// the way: a 2,000-character prompt encodes in a few milliseconds.

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

  /** Ids for text, without BOS; an empty array after fail() when the text cannot be encoded. atStart:
   * the text begins the input (SentencePiece: only then the dummy prefix). */
  abstract encode(text: string, atStart: bool): Array<i32>;

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

// ---- string → value, looked up by a range of another string -------------------------------------------

const FNV_OFFSET: u32 = 2166136261;
const FNV_PRIME: u32 = 16777619;
const EMPTY: i32 = -1;

/**
 * Strings → non-negative i32 values (the first value added for a key stays), found by a range of a
 * text (find) or by two ranges joined with a space (findPair, GPT-2's "left right" merges) without
 * building the string. Open addressing, linear probing, FNV-1a over UTF-16 units, at most half full.
 */
export class PieceMap {
  private keys: Array<string> = [];
  private values: Array<i32> = [];
  /** Index into keys, EMPTY for a free slot; a power of two long. */
  private slots: StaticArray<i32> = new StaticArray<i32>(16).fill(EMPTY);

  get size(): i32 {
    return this.keys.length;
  }

  /** Adds key → value unless key is already present. */
  add(key: string, value: i32): void {
    const p = changetype<usize>(key);
    const n = key.length;
    if (this.find(key, 0, n) >= 0) return;
    this.keys.push(key);
    this.values.push(value);
    if (this.keys.length * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    else this.place(this.keys.length - 1, hashUnits(FNV_OFFSET, p, n));
  }

  /** The value of text[a, c), or -1. */
  find(text: string, a: i32, c: i32): i32 {
    const p = changetype<usize>(text) + (<usize>a << 1);
    const n = c - a;
    const mask = this.slots.length - 1;
    for (let s = <i32>hashUnits(FNV_OFFSET, p, n) & mask; unchecked(this.slots[s]) != EMPTY; s = (s + 1) & mask) {
      const k = unchecked(this.slots[s]);
      if (equalUnits(unchecked(this.keys[k]), p, n)) return unchecked(this.values[k]);
    }
    return -1;
  }

  /** The value of text[a, b) + " " + text[b, c), or -1. */
  findPair(text: string, a: i32, b: i32, c: i32): i32 {
    const left = changetype<usize>(text) + (<usize>a << 1);
    const right = changetype<usize>(text) + (<usize>b << 1);
    const nl = b - a;
    const nr = c - b;
    const h = hashUnits((hashUnits(FNV_OFFSET, left, nl) ^ 0x20) * FNV_PRIME, right, nr);
    const mask = this.slots.length - 1;
    for (let s = <i32>h & mask; unchecked(this.slots[s]) != EMPTY; s = (s + 1) & mask) {
      const k = unchecked(this.slots[s]);
      const key = unchecked(this.keys[k]);
      if (key.length != nl + 1 + nr) continue;
      const kp = changetype<usize>(key);
      if (load<u16>(kp + (<usize>nl << 1)) != 0x20) continue;
      if (memory.compare(kp, left, <usize>nl << 1) != 0) continue;
      if (memory.compare(kp + (<usize>(nl + 1) << 1), right, <usize>nr << 1) != 0) continue;
      return unchecked(this.values[k]);
    }
    return -1;
  }

  private place(k: i32, h: u32): void {
    const mask = this.slots.length - 1;
    let s = <i32>h & mask;
    while (unchecked(this.slots[s]) != EMPTY) s = (s + 1) & mask;
    unchecked((this.slots[s] = k));
  }

  private rehash(size: i32): void {
    this.slots = new StaticArray<i32>(size).fill(EMPTY);
    for (let k = 0; k < this.keys.length; k++) {
      const key = unchecked(this.keys[k]);
      this.place(k, hashUnits(FNV_OFFSET, changetype<usize>(key), key.length));
    }
  }
}

/** FNV-1a of n UTF-16 units at p, continuing from h. */
function hashUnits(h: u32, p: usize, n: i32): u32 {
  for (let i = 0; i < n; i++) h = (h ^ <u32>load<u16>(p + (<usize>i << 1))) * FNV_PRIME;
  return h;
}

function equalUnits(key: string, p: usize, n: i32): bool {
  return key.length == n && memory.compare(changetype<usize>(key), p, <usize>n << 1) == 0;
}

// ---- the merge loop ---------------------------------------------------------------------------------

/**
 * Which adjacent pairs merge, and how soon: rank(text, a, b, c) says whether symbols text[a, b) and
 * text[b, c) merge, and when they do sets `value` (lower merges first).
 */
export abstract class Ranker {
  value: f64 = 0;
  abstract rank(text: string, a: i32, b: i32, c: i32): bool;
}

/**
 * Repeatedly merges the adjacent pair of symbols with the lowest rank (the leftmost on ties) until no
 * adjacent pair merges, as src/tokenizer/heap.ts mergeByRank. One Merger per model, its buffers reused.
 *
 * Symbols are consecutive ranges of a text (UTF-16 units), given and returned as bounds: symbol i is
 * text[bounds[i], bounds[i + 1]).
 *
 *   per symbol i < n        start, end (its range while live), live, prev, next (-1: none)
 *   per candidate pair      rank f64, left, right (symbols), length (units of both when queued);
 *                           at most 3n: n - 1 at first, 2 more per merge
 */
export class Merger {
  private start: StaticArray<i32> = new StaticArray<i32>(0);
  private end: StaticArray<i32> = new StaticArray<i32>(0);
  private live: StaticArray<bool> = new StaticArray<bool>(0);
  private prev: StaticArray<i32> = new StaticArray<i32>(0);
  private next: StaticArray<i32> = new StaticArray<i32>(0);
  // the candidate heap, a binary min-heap by (rank, left) as src/tokenizer/heap.ts MinHeap
  private rank: StaticArray<f64> = new StaticArray<f64>(0);
  private left: StaticArray<i32> = new StaticArray<i32>(0);
  private right: StaticArray<i32> = new StaticArray<i32>(0);
  private length: StaticArray<i32> = new StaticArray<i32>(0);
  private queued: i32 = 0;
  private text: string = '';

  constructor(private ranker: Ranker) {}

  /** Merges the symbols text[bounds[i], bounds[i + 1]); writes the merged symbols' bounds to out. */
  merge(text: string, bounds: Array<i32>, out: Array<i32>): void {
    out.length = 0;
    const n = bounds.length - 1;
    if (n < 2) {
      for (let i = 0; i < bounds.length; i++) out.push(bounds[i]);
      return;
    }
    this.reserve(n);
    this.text = text;
    const start = this.start;
    const end = this.end;
    const live = this.live;
    const prev = this.prev;
    const next = this.next;
    for (let i = 0; i < n; i++) {
      unchecked((start[i] = bounds[i]));
      unchecked((end[i] = bounds[i + 1]));
      unchecked((live[i] = true));
      unchecked((prev[i] = i - 1));
      unchecked((next[i] = i + 1 < n ? i + 1 : -1));
    }
    this.queued = 0;
    for (let i = 0; i + 1 < n; i++) this.consider(i);

    while (this.queued > 0) {
      const l = unchecked(this.left[0]);
      const r = unchecked(this.right[0]);
      const length = unchecked(this.length[0]);
      this.pop();
      // Stale: a side was merged away, or grew by merging with its other neighbour, since it was queued.
      if (!unchecked(live[l]) || !unchecked(live[r])) continue;
      if (unchecked(end[r]) - unchecked(start[l]) != length) continue;
      unchecked((end[l] = end[r]));
      unchecked((live[r] = false));
      const after = unchecked(next[r]);
      unchecked((next[l] = after));
      if (after >= 0) unchecked((prev[after] = l));
      this.consider(unchecked(prev[l]));
      this.consider(l);
    }

    for (let i = 0; i >= 0; i = unchecked(next[i])) out.push(unchecked(start[i]));
    out.push(bounds[n]);
    this.text = '';
  }

  private reserve(n: i32): void {
    if (this.start.length >= n) return;
    this.start = new StaticArray<i32>(n);
    this.end = new StaticArray<i32>(n);
    this.live = new StaticArray<bool>(n);
    this.prev = new StaticArray<i32>(n);
    this.next = new StaticArray<i32>(n);
    this.rank = new StaticArray<f64>(3 * n);
    this.left = new StaticArray<i32>(3 * n);
    this.right = new StaticArray<i32>(3 * n);
    this.length = new StaticArray<i32>(3 * n);
  }

  /** Queues the pair starting at symbol l when it merges. */
  private consider(l: i32): void {
    if (l < 0) return;
    const r = unchecked(this.next[l]);
    if (r < 0) return;
    const a = unchecked(this.start[l]);
    const c = unchecked(this.end[r]);
    if (this.ranker.rank(this.text, a, unchecked(this.start[r]), c)) this.push(this.ranker.value, l, r, c - a);
  }

  private set(i: i32, rank: f64, l: i32, r: i32, length: i32): void {
    unchecked((this.rank[i] = rank));
    unchecked((this.left[i] = l));
    unchecked((this.right[i] = r));
    unchecked((this.length[i] = length));
  }

  private copy(to: i32, from: i32): void {
    this.set(to, unchecked(this.rank[from]), unchecked(this.left[from]), unchecked(this.right[from]), unchecked(this.length[from]));
  }

  /** Lower rank first, the leftmost pair on ties: candidate i before candidate j. */
  private less(i: i32, j: i32): bool {
    return lessValues(unchecked(this.rank[i]), unchecked(this.left[i]), unchecked(this.rank[j]), unchecked(this.left[j]));
  }

  private push(rank: f64, l: i32, r: i32, length: i32): void {
    // sift up from the free slot past the heap
    let i = this.queued++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!lessValues(rank, l, unchecked(this.rank[parent]), unchecked(this.left[parent]))) break;
      this.copy(i, parent);
      i = parent;
    }
    this.set(i, rank, l, r, length);
  }

  /** Removes the least candidate (read it from slot 0 first). */
  private pop(): void {
    const n = --this.queued;
    if (n == 0) return;
    // sift the last item down from the root
    const rank = unchecked(this.rank[n]);
    const l = unchecked(this.left[n]);
    const r = unchecked(this.right[n]);
    const length = unchecked(this.length[n]);
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(child + 1, child)) child++;
      if (!lessValues(unchecked(this.rank[child]), unchecked(this.left[child]), rank, l)) break;
      this.copy(i, child);
      i = child;
    }
    this.set(i, rank, l, r, length);
  }
}

/** Lower rank first, the leftmost pair on ties. */
// @ts-ignore: decorator
@inline function lessValues(ra: f64, la: i32, rb: f64, lb: i32): bool {
  return ra < rb || (ra == rb && la < lb);
}
