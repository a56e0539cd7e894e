/**
 * Load plans: which byte ranges of a model file hold the selected neuron bundles.
 *
 * Layer l's bundles are the rows of `blk.l.ffn_bundle` (row j = [gate_j | up_j | down_j], rowBytes each,
 * docs/format.md), so a set of neurons is a set of rows. Sorted rows become ranges; adjacent rows merge;
 * a gap of at most `gapBytes` between two ranges is read through (one request instead of two: worth it
 * when a request costs more than reading the gap, as over HTTP). Rows already in the neuron cache are
 * skipped by the caller before planning.
 */
export interface BundleLayout {
  /** Absolute byte offset of each layer's ffn_bundle tensor in the file. */
  offsets: number[];
  /** Bytes of one bundle row. */
  rowBytes: number;
  /** Rows (neurons) per layer. */
  rows: number;
}

export interface Range {
  layer: number;
  /** First row and row count covered (including read-through rows). */
  row: number;
  count: number;
  offset: number;
  length: number;
}

export interface LoadPlan {
  ranges: Range[];
  /** Bytes of the selected rows. */
  selectedBytes: number;
  /** Bytes the ranges read (selected + read-through gaps). */
  readBytes: number;
}

export function planLoad(layout: BundleLayout, sets: ArrayLike<number>[], gapBytes = 0): LoadPlan {
  const gapRows = Math.floor(gapBytes / layout.rowBytes);
  const ranges: Range[] = [];
  let selected = 0;
  sets.forEach((ids, layer) => {
    const rows = Array.from(ids).sort((a, b) => a - b);
    selected += rows.length * layout.rowBytes;
    let start = -1;
    let end = -1; // exclusive
    const flush = () => {
      if (start < 0) return;
      ranges.push({ layer, row: start, count: end - start, offset: layout.offsets[layer]! + start * layout.rowBytes, length: (end - start) * layout.rowBytes });
    };
    for (const r of rows) {
      if (start >= 0 && r <= end + gapRows) end = Math.max(end, r + 1);
      else {
        flush();
        start = r;
        end = r + 1;
      }
    }
    flush();
  });
  return { ranges, selectedBytes: selected, readBytes: ranges.reduce((s, r) => s + r.length, 0) };
}
