/**
 * Load plans: which byte ranges of a model file hold the selected neuron bundles.
 *
 * Layer l's bundles are the rows of `blk.l.ffn_bundle` (row r = [gate | up | down] of one neuron,
 * rowBytes each, docs/format.md), so a set of neurons is a set of rows: runs of adjacent rows become one
 * range each, and ranges separated by at most `gapBytes` are read through as one request
 * (src/sources/ranges.ts planRequests: the same merging the loader's reads use).
 */
import { MAX_REQUEST_BYTES, planRequests, type RangeRead } from '../sources/ranges.ts';

export interface BundleLayout {
  /** Absolute byte offset of each layer's ffn_bundle tensor in the file. */
  offsets: number[];
  /** Bytes of one bundle row. */
  rowBytes: number;
  /** Rows (neurons) per layer. */
  rows: number;
}

/** A run of adjacent selected rows of one layer. */
export interface RowRun {
  layer: number;
  row: number;
  count: number;
}

export interface LoadPlan {
  runs: RowRun[];
  /** Requests after read-through merging, and the bytes they read. */
  requests: number;
  readBytes: number;
  /** Bytes of the selected rows. */
  selectedBytes: number;
}

/**
 * Default read-through gap, in bundle rows: none. Reading through a gap only pays when a request costs
 * more than the gap's bytes (HTTP with high latency); by default the loader reads exactly the selected
 * rows, so the bytes loaded are density × FFN bytes. Raise it with open({ gapBytes }) / eval --gap.
 */
export const DEFAULT_GAP_ROWS = 0;


/** Runs of adjacent rows in each layer's (sorted) selection. */
export function rowRuns(sets: ArrayLike<number>[]): RowRun[] {
  const runs: RowRun[] = [];
  sets.forEach((ids, layer) => {
    const rows = Int32Array.from(ids as ArrayLike<number>).sort();
    for (let i = 0; i < rows.length; ) {
      let j = i + 1;
      while (j < rows.length && rows[j] === rows[j - 1]! + 1) j++;
      runs.push({ layer, row: rows[i]!, count: j - i });
      i = j;
    }
  });
  return runs;
}

export function planLoad(layout: BundleLayout, sets: ArrayLike<number>[], gapBytes = 0): LoadPlan {
  const runs = rowRuns(sets);
  const longest = runs.reduce((m, r) => Math.max(m, r.count), 0) * layout.rowBytes;
  const scratch = new Uint8Array(longest); // planning writes nothing: targets are only measured
  const ranges: RangeRead[] = runs.map((r) => ({ offset: layout.offsets[r.layer]! + r.row * layout.rowBytes, length: r.count * layout.rowBytes, target: scratch.subarray(0, r.count * layout.rowBytes) }));
  const requests = planRequests(ranges, { gapBytes, maxRequestBytes: MAX_REQUEST_BYTES });
  return {
    runs,
    requests: requests.length,
    readBytes: requests.reduce((s, q) => s + q.length, 0),
    selectedBytes: runs.reduce((s, r) => s + r.count * layout.rowBytes, 0),
  };
}
