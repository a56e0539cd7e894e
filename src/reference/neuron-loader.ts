/**
 * Selective loading: fetch the neuron bundles an instruction needs into wasm memory, verify them, and
 * pack each layer's selection contiguously for the masked FFN kernel (DESIGN §1, load(plan)).
 *
 * Per layer the loader keeps a neuron cache: `capacity` row slots in wasm memory, a map row → slot and a
 * last-use stamp per slot. Loading a selection reads only the rows not cached, straight into free (or
 * least recently used, not selected) slots, each row a range; `readRanges` merges adjacent rows and small
 * gaps into few requests. Every row read is checked against its chunk hash (rows are chunks in ifprune
 * files) before it is used; a mismatch leaves the slot empty and throws 'hash_mismatch'. Then the selected
 * rows are copied, in ascending row order, into the layer's packed buffer and handed to the engine.
 *
 * A memory budget bounds the cache: per layer, capacity = budget / layers / (2 × row bytes) rows (a slot
 * plus its place in the packed buffer). A selection larger than the capacity is 'out_of_memory'.
 * Loads must not overlap with each other or with generation (the engine is single-threaded).
 */
import { IfpruneError } from '../errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { LoadReport } from '../types.ts';
import { MAX_REQUEST_BYTES, readRanges, type RangeRead, type RangeSource } from '../sources/ranges.ts';
import { DEFAULT_GAP_ROWS, type BundleLayout } from '../pruning/plan.ts';

export interface NeuronLoaderOptions {
  /** Bytes of wasm memory for cached and packed bundles (default: room for every neuron). */
  memoryBudget?: number;
  /** Gaps up to this many bytes between needed rows are read through (default: DEFAULT_GAP_ROWS rows). */
  gapBytes?: number;
  /** Checks the bytes of rows [offset, offset + bytes.length) of a layer's bundle tensor. */
  verify?: (layer: number, offsetInTensor: number, bytes: Uint8Array) => void;
}

/** What one load did (rows, cache hits, requests, bytes, time): the public LoadReport. */
export type LoadStats = LoadReport;

interface LayerCache {
  capacity: number;
  slots: number; // ptr of capacity rows
  packed: number; // ptr of capacity rows
  slotOf: Int32Array; // row → slot or -1
  rowOf: Int32Array; // slot → row or -1
  stamp: Float64Array; // slot → last use
}

export class NeuronLoader {
  private readonly layers: (LayerCache | null)[];
  private clock = 0;
  /** Totals since the loader was made. */
  readonly totals = { rows: 0, cacheHits: 0, rowsRead: 0, requests: 0, bytesRead: 0 };

  constructor(
    private readonly engine: Engine,
    private readonly source: RangeSource,
    private readonly layout: BundleLayout,
    private readonly opts: NeuronLoaderOptions = {},
  ) {
    if (!engine.bundleFormat) throw new IfpruneError('bad_option', 'selective loading needs an ifprune bundled model');
    this.layers = layout.offsets.map(() => null);
  }

  /** Rows per layer the budget allows. */
  get capacity(): number {
    const { memoryBudget } = this.opts;
    const perRow = 2 * this.layout.rowBytes;
    if (memoryBudget === undefined) return this.layout.rows;
    return Math.min(this.layout.rows, Math.floor(memoryBudget / this.layout.offsets.length / perRow));
  }

  private cache(l: number): LayerCache {
    let c = this.layers[l];
    if (!c) {
      const K = this.engine.kernels;
      const capacity = this.capacity;
      const bytes = capacity * this.layout.rowBytes;
      c = {
        capacity,
        slots: K.alloc(bytes),
        packed: K.alloc(bytes),
        slotOf: new Int32Array(this.layout.rows).fill(-1),
        rowOf: new Int32Array(capacity).fill(-1),
        stamp: new Float64Array(capacity),
      };
      this.layers[l] = c;
    }
    return c;
  }

  /** Loads the rows `sets[l]` of every layer and makes them the engine's active FFN. */
  async load(sets: ArrayLike<number>[], signal?: AbortSignal): Promise<LoadStats> {
    const t0 = performance.now();
    const { rowBytes, rows: nff } = this.layout;
    if (sets.length !== this.layout.offsets.length) throw new IfpruneError('bad_option', `load: ${sets.length} neuron sets for ${this.layout.offsets.length} layers`);
    const sorted = sets.map((s, l) => {
      const ids = Int32Array.from(s as ArrayLike<number>).sort();
      for (let i = 0; i < ids.length; i++) {
        if (!(ids[i]! >= 0 && ids[i]! < nff) || (i > 0 && ids[i] === ids[i - 1])) throw new IfpruneError('bad_option', `layer ${l}: neuron ids must be distinct integers in [0, ${nff}); found ${ids[i]}`);
      }
      if (ids.length > this.capacity) {
        throw new IfpruneError(
          'out_of_memory',
          `layer ${l} needs ${ids.length} neuron bundles (${((ids.length * rowBytes) / 2 ** 20).toFixed(1)} MiB) but the memory budget allows ${this.capacity} per layer; ` +
            `raise memoryBudget or lower the density`,
        );
      }
      return ids;
    });
    // Allocate every cache before any read: no memory growth while views are in flight.
    sorted.forEach((_, l) => this.cache(l));
    const K = this.engine.kernels;
    const now = ++this.clock;
    const ranges: RangeRead[] = [];
    const pending: [layer: number, row: number, slot: number][] = [];
    let hits = 0;
    for (let l = 0; l < sorted.length; l++) {
      const c = this.cache(l);
      const ids = sorted[l]!;
      const selected = new Uint8Array(nff);
      for (const r of ids) selected[r] = 1;
      // Slots free for reuse: empty ones first, then the least recently used rows not selected now.
      const reusable: number[] = [];
      for (let s = 0; s < c.capacity; s++) if (c.rowOf[s]! < 0 || !selected[c.rowOf[s]!]) reusable.push(s);
      reusable.sort((a, b) => (c.rowOf[a]! < 0 ? -1 : c.stamp[a]!) - (c.rowOf[b]! < 0 ? -1 : c.stamp[b]!));
      let next = 0;
      for (const r of ids) {
        if (c.slotOf[r]! >= 0) {
          hits++;
          c.stamp[c.slotOf[r]!] = now;
          continue;
        }
        const s = reusable[next++]!;
        if (c.rowOf[s]! >= 0) c.slotOf[c.rowOf[s]!] = -1;
        c.rowOf[s] = -1; // filled (and mapped) only once its bytes are verified
        pending.push([l, r, s]);
        ranges.push({ offset: this.layout.offsets[l]! + r * rowBytes, length: rowBytes, target: K.u8(c.slots + s * rowBytes, rowBytes) });
      }
    }
    const io = await readRanges(this.source, ranges, { gapBytes: this.opts.gapBytes ?? DEFAULT_GAP_ROWS * rowBytes, maxRequestBytes: MAX_REQUEST_BYTES }, signal);
    for (const [l, r, s] of pending) {
      const c = this.cache(l);
      this.opts.verify?.(l, r * rowBytes, K.u8(c.slots + s * rowBytes, rowBytes));
      c.slotOf[r] = s;
      c.rowOf[s] = r;
      c.stamp[s] = now;
    }
    // Pack each layer's selection and hand it to the engine.
    const mem = K.u8(0, K.memory.buffer.byteLength);
    sorted.forEach((ids, l) => {
      const c = this.cache(l);
      ids.forEach((r, i) => {
        const from = c.slots + c.slotOf[r]! * rowBytes;
        mem.copyWithin(c.packed + i * rowBytes, from, from + rowBytes);
      });
      this.engine.setActiveBundles(l, c.packed, ids.length);
    });
    const rowsTotal = sorted.reduce((s, a) => s + a.length, 0);
    const stats: LoadStats = { rows: rowsTotal, cacheHits: hits, rowsRead: pending.length, requests: io.requests, bytesRead: io.bytes, ms: performance.now() - t0 };
    this.totals.rows += stats.rows;
    this.totals.cacheHits += stats.cacheHits;
    this.totals.rowsRead += stats.rowsRead;
    this.totals.requests += stats.requests;
    this.totals.bytesRead += stats.bytesRead;
    return stats;
  }
}
