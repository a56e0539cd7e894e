// Load plans: which byte ranges of a model file hold the selected neuron bundles, and how those ranges
// merge into few reads. The TS oracles are src/pruning/plan.ts (planLoad) and src/sources/ranges.ts
// (planRequests); the counts and bytes are identical.
//
// Layer l's bundles are the rows of blk.l.ffn_bundle (row r = [gate | up | down] of one neuron, rowBytes
// each; docs/format.md), so a set of neurons is a set of rows: runs of adjacent rows become one range
// each, and ranges separated by at most gapBytes are read through as one request.
//
//   ranges   [a----)  [b--)      [c------)                       [d--)
//   requests [a-------b--)-gap-->[c------)       (gap > gapBytes) [d--)
import { BundleInfo } from './spec';

/** Largest span of one planned request (bytes), as src/sources/ranges.ts MAX_REQUEST_BYTES. */
export const MAX_REQUEST_BYTES: u64 = 8 << 20;

/** One range wanted: file bytes [offset, offset + length), to land at wasm address dest (0: only counted). */
export class ByteRange {
  constructor(public offset: u64, public length: u64, public dest: usize) {}
}

/** The part of a request's body that belongs to one range: body bytes [at, at + length) → dest. */
export class RequestPart {
  constructor(public at: u64, public length: u64, public dest: usize) {}
}

/** One read: file bytes [offset, offset + length), scattered into `parts` (sorted by `at`). */
export class ReadRequest {
  parts: Array<RequestPart> = [];
  constructor(public offset: u64, public length: u64) {}
}

/**
 * Merges `ranges` into requests, sorted by offset and disjoint (src/sources/ranges.ts planRequests).
 * Zero-length ranges are dropped; overlapping ranges share the bytes they overlap.
 * 1. The union of the ranges, as sorted disjoint intervals.
 * 2. Requests, greedily over the union: an interval joins the current request if the gap before it is
 *    at most gapBytes and the request stays within `cap`; if it starts within the cap but ends past
 *    it, the request is filled up to the cap and the rest starts the next one.
 * 3. Each range is cut along the requests it meets.
 */
export function planRequests(ranges: Array<ByteRange>, gapBytes: u64, cap: u64): Array<ReadRequest> {
  const sorted = new Array<ByteRange>();
  for (let i = 0; i < ranges.length; i++) if (ranges[i].length > 0) sorted.push(ranges[i]);
  sorted.sort((a: ByteRange, b: ByteRange): i32 => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  // 1. union: [start, end) pairs
  const starts = new Array<u64>();
  const ends = new Array<u64>();
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i];
    const last = ends.length - 1;
    if (last >= 0 && r.offset <= ends[last]) ends[last] = max<u64>(ends[last], r.offset + r.length);
    else {
      starts.push(r.offset);
      ends.push(r.offset + r.length);
    }
  }
  // 2. requests
  const out = new Array<ReadRequest>();
  for (let i = 0; i < starts.length; i++) {
    let a = starts[i];
    const b = ends[i];
    if (out.length > 0) {
      const cur = out[out.length - 1];
      const curEnd = cur.offset + cur.length;
      if (a - curEnd <= gapBytes && a < cur.offset + cap) {
        const end = min<u64>(b, cur.offset + cap);
        cur.length = end - cur.offset;
        a = end;
      }
    }
    while (a < b) {
      const q = new ReadRequest(a, min<u64>(cap, b - a));
      out.push(q);
      a += q.length;
    }
  }
  // 3. parts: requests and ranges are both sorted, so the first request a range meets never moves back.
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i];
    const end = r.offset + r.length;
    while (j < out.length && out[j].offset + out[j].length <= r.offset) j++;
    for (let k = j; k < out.length && out[k].offset < end; k++) {
      const q = out[k];
      const from = max<u64>(r.offset, q.offset);
      const to = min<u64>(end, q.offset + q.length);
      q.parts.push(new RequestPart(from - q.offset, to - from, r.dest == 0 ? 0 : r.dest + <usize>(from - r.offset)));
    }
  }
  return out;
}

export class LoadPlan {
  /** Requests after read-through merging, and the bytes they read (gaps included). */
  requests: i32 = 0;
  readBytes: f64 = 0;
  /** Bytes of the selected rows. */
  selectedBytes: f64 = 0;
}

/**
 * What loading `sets` (per layer, neuron rows) from the bundles would read, with gaps up to gapBytes
 * read through. Rows are bundle rows; sets beyond the bundles' layers are left out.
 */
export function planLoad(bundles: Array<BundleInfo>, sets: Array<Int32Array>, gapBytes: i32): LoadPlan {
  const plan = new LoadPlan();
  const ranges = new Array<ByteRange>();
  const layers = min<i32>(sets.length, bundles.length);
  for (let l = 0; l < layers; l++) {
    const b = bundles[l];
    const rowBytes = <u64>b.rowBytes;
    const rows = sets[l].slice().sort();
    // runs of adjacent rows: rows[i..j) = row, row + 1, …
    for (let i = 0; i < rows.length; ) {
      let j = i + 1;
      while (j < rows.length && rows[j] == rows[j - 1] + 1) j++;
      const length = <u64>(j - i) * rowBytes;
      ranges.push(new ByteRange(b.offset + <u64>(<i64>rows[i] * <i64>rowBytes), length, 0));
      plan.selectedBytes += <f64>length;
      i = j;
    }
  }
  const requests = planRequests(ranges, <u64>max<i32>(gapBytes, 0), MAX_REQUEST_BYTES);
  plan.requests = requests.length;
  for (let i = 0; i < requests.length; i++) plan.readBytes += <f64>requests[i].length;
  return plan;
}

/** Whether `bytes` more can be allocated in wasm32 memory (4 GiB at most): checked before a large
 * heap.alloc, since a failed memory.grow aborts the module instead of returning an error. */
export function fitsInMemory(bytes: f64): bool {
  const MAX_MEMORY: f64 = 4294967296;
  const HEADROOM: f64 = 16777216; // allocator overhead and the small allocations that follow
  return bytes >= 0 && <f64>memory.size() * 65536 + bytes + HEADROOM <= MAX_MEMORY;
}
