// Selective loading, sans I/O: the neuron cache. The TS oracle is src/pruning/loader.ts (NeuronLoader);
// rows read, cache hits, requests and bytes are identical.
//
// Per layer the cache keeps `capacity` row slots in wasm memory, a map row → slot and a last-use stamp
// per slot. request(sets) picks, for each selected row not cached, a free slot (empty ones first, then
// the least recently used rows not selected now), plans the reads (plan.ts planRequests: adjacent rows
// and gaps up to gapBytes merge, at most MAX_REQUEST_BYTES each) and lists them as needs. A request
// that is exactly one row lands straight in its slot; one that covers several rows (or read-through
// gaps) lands in a staging buffer that finish() scatters into the slots. finish() then verifies every
// row read against its chunk hash (rows are chunks in ifprune files), maps it, and copies each layer's
// selection, in ascending row order, into the layer's packed buffer for the masked FFN kernel, as a set in
// the grouped layout (assembly/grouped.ts: the copy that was already made, in the order the kernel reads):
//
//   slots  (capacity, rowBytes)   rows in cache order      packed (capacity, rowBytes)   selected rows,
//   slotOf (n_ff) row → slot | -1                                                        ascending
//   rowOf  (capacity) slot → row | -1,  stamp (capacity) slot → last use
//
// A memory budget bounds the cache: per layer, capacity = budget / layers / (2 × row bytes) rows (a slot
// plus its place in the packed buffer). A selection larger than the capacity is 'out_of_memory'.
import { IfpruneInfo, BundleInfo } from './spec';
import { fail } from './error';
import { need, clearNeeds, FILE_MODEL } from './io';
import { verifyTensorBytes } from './ifprune';
import { bundleBlockBytes } from './quant';
import { bundle_copy } from '../grouped';
import { ByteRange, ReadRequest, planRequests, fitsInMemory, MAX_REQUEST_BYTES } from './plan';

/** What one load did (the public LoadReport of src/types.ts, without the time). */
export class LoadReport {
  rows: i32 = 0;
  cacheHits: i32 = 0;
  rowsRead: i32 = 0;
  requests: i32 = 0;
  bytesRead: f64 = 0;
}

class LayerCache {
  /** (capacity, rowBytes) */ slots: usize = 0;
  /** (capacity, rowBytes) */ packed: usize = 0;
  /** (n_ff) row → slot, or -1 */ slotOf: Int32Array;
  /** (capacity) slot → row, or -1 */ rowOf: Int32Array;
  /** (capacity) slot → clock of its last use */ stamp: Uint32Array;
  /** Rows in `packed`. */ count: i32 = 0;

  constructor(public capacity: i32, public rowBytes: i32, nff: i32) {
    const bytes = <usize>max<i32>(capacity, 1) * <usize>rowBytes;
    this.slots = heap.alloc(bytes);
    this.packed = heap.alloc(bytes);
    this.slotOf = new Int32Array(nff).fill(-1);
    this.rowOf = new Int32Array(capacity).fill(-1);
    this.stamp = new Uint32Array(capacity);
  }

  slotAt(s: i32): usize {
    return this.slots + <usize>s * <usize>this.rowBytes;
  }
}

/** A row being read: bundle row `row` of `layer` into slot `slot`. */
class PendingRow {
  constructor(public layer: i32, public row: i32, public slot: i32) {}
}

/** A request read into staging, scattered by finish(). */
class StagedRequest {
  constructor(public request: ReadRequest, public staging: usize) {}
}

export class NeuronCache {
  private layers: Array<LayerCache | null> = [];
  private clock: u32 = 0;
  private sets: Array<Int32Array> | null = null;
  private pending: Array<PendingRow> = [];
  private staged: Array<StagedRequest> = [];
  /** The last load (filled by request, complete after finish). */
  report: LoadReport = new LoadReport();
  /** Sums over the loads that finished. */
  totals: LoadReport = new LoadReport();

  /** budgetBytes 0 = unlimited (room for every neuron). */
  constructor(public info: IfpruneInfo, public budgetBytes: f64, public gapBytes: i32, public fileName: string) {
    for (let l = 0; l < info.bundles.length; l++) this.layers.push(null);
  }

  /** Rows of layer l the budget allows (0 for a layer the file does not have). */
  capacity(l: i32): i32 {
    if (l < 0 || l >= this.info.bundles.length) return 0;
    const b = this.info.bundles[l];
    if (this.budgetBytes <= 0 || b.rowBytes <= 0) return b.nFF;
    return <i32>min<f64>(<f64>b.nFF, Math.floor(this.budgetBytes / <f64>this.info.bundles.length / (2 * <f64>b.rowBytes)));
  }

  /**
   * Emits needs (io.ts need(FILE_MODEL, …)) for the rows of `sets` (per layer, distinct bundle rows in
   * [0, n_ff)) not cached, merged as the TS loader merges them, into cache memory. false with
   * fail('bad_option') for malformed sets, fail('out_of_memory', …) when the budget (or wasm memory)
   * cannot hold them; the cache keeps its rows then. A load requested but not finished is dropped first (drop()).
   */
  request(sets: Array<Int32Array>): bool {
    this.drop();
    const bundles = this.info.bundles;
    if (sets.length != bundles.length) return fail('bad_option', 'load: ' + sets.length.toString() + ' neuron sets for ' + bundles.length.toString() + ' layers');
    const sorted = new Array<Int32Array>(sets.length);
    let newBytes: f64 = 0;
    for (let l = 0; l < sets.length; l++) {
      const b = bundles[l];
      if (b.nFF < 0 || b.rowBytes <= 0) return fail('corrupt', this.fileName + ': ' + b.name + ' has ' + b.nFF.toString() + ' rows of ' + b.rowBytes.toString() + ' bytes');
      const ids = sets[l].slice().sort();
      for (let i = 0; i < ids.length; i++) {
        if (!(ids[i] >= 0 && ids[i] < b.nFF) || (i > 0 && ids[i] == ids[i - 1])) {
          return fail('bad_option', 'layer ' + l.toString() + ': neuron ids must be distinct integers in [0, ' + b.nFF.toString() + '); found ' + ids[i].toString());
        }
      }
      const capacity = this.capacity(l);
      if (ids.length > capacity) {
        return fail('out_of_memory', 'layer ' + l.toString() + ' needs ' + ids.length.toString() + ' neuron bundles (' + fixed1(<f64>ids.length * <f64>b.rowBytes / 1048576) +
          ' MiB) but the memory budget allows ' + capacity.toString() + ' per layer; raise memoryBudget or lower the density');
      }
      if (this.layers[l] === null) newBytes += 2 * <f64>capacity * <f64>b.rowBytes + 9 * <f64>b.nFF;
      sorted[l] = ids;
    }
    // Allocate every layer's cache before planning: all or nothing.
    if (!fitsInMemory(newBytes)) {
      return fail('out_of_memory', this.fileName + ': the neuron cache needs ' + fixed1(newBytes / 1048576) + ' MiB more than wasm memory can hold; set a memory budget');
    }
    for (let l = 0; l < sorted.length; l++) if (this.layers[l] === null) this.layers[l] = new LayerCache(this.capacity(l), bundles[l].rowBytes, bundles[l].nFF);
    const pending = new Array<PendingRow>();
    const now = ++this.clock;
    const ranges = new Array<ByteRange>();
    let hits = 0;
    let rows = 0;
    for (let l = 0; l < sorted.length; l++) {
      const c = this.layers[l]!;
      const b = bundles[l];
      const ids = sorted[l];
      rows += ids.length;
      const selected = new Uint8Array(b.nFF);
      for (let i = 0; i < ids.length; i++) selected[ids[i]] = 1;
      const reusable = reusableSlots(c, selected);
      let next = 0;
      for (let i = 0; i < ids.length; i++) {
        const r = ids[i];
        const cached = c.slotOf[r];
        if (cached >= 0) {
          hits++;
          c.stamp[cached] = now;
          continue;
        }
        const s = reusable[next++]; // capacity ≥ ids.length leaves one per missing row
        pending.push(new PendingRow(l, r, s));
        ranges.push(new ByteRange(b.offset + <u64>r * <u64>b.rowBytes, <u64>b.rowBytes, c.slotAt(s)));
      }
    }
    const planned = planRequests(ranges, <u64>max<i32>(this.gapBytes, 0), MAX_REQUEST_BYTES);
    let bytes: f64 = 0;
    let stagingBytes: f64 = 0;
    for (let i = 0; i < planned.length; i++) {
      bytes += <f64>planned[i].length;
      if (!direct(planned[i])) stagingBytes += <f64>planned[i].length;
    }
    if (!fitsInMemory(stagingBytes)) {
      return fail('out_of_memory', this.fileName + ': reading ' + fixed1(stagingBytes / 1048576) + ' MiB of neuron bundles does not fit in wasm memory; lower gapBytes or the density');
    }
    // Committed: evict the slots' old rows; a slot is filled (and mapped) only once its bytes are verified.
    for (let i = 0; i < pending.length; i++) {
      const p = pending[i];
      const c = this.layers[p.layer]!;
      if (c.rowOf[p.slot] >= 0) c.slotOf[c.rowOf[p.slot]] = -1;
      c.rowOf[p.slot] = -1;
    }
    this.pending = pending;
    for (let i = 0; i < planned.length; i++) {
      const q = planned[i];
      if (direct(q)) {
        need(FILE_MODEL, q.offset, <u32>q.length, q.parts[0].dest);
        continue;
      }
      const staging = heap.alloc(<usize>q.length);
      this.staged.push(new StagedRequest(q, staging));
      need(FILE_MODEL, q.offset, <u32>q.length, staging);
    }
    const rep = new LoadReport();
    rep.rows = rows;
    rep.cacheHits = hits;
    rep.rowsRead = pending.length;
    rep.requests = planned.length;
    rep.bytesRead = bytes;
    this.report = rep;
    this.sets = sorted;
    return true;
  }

  /**
   * After the host read the needs: scatters staged reads, verifies every row read (verifyTensorBytes),
   * maps it into the cache and packs each layer's selected bundles contiguously. false with
   * fail('hash_mismatch', …) leaving the cache consistent (the rows of a failed read are not cached;
   * the rows verified before it are), or fail('bad_option') without a request.
   */
  finish(): bool {
    const sets = this.sets;
    if (sets === null) return fail('bad_option', 'NeuronCache.finish: no load in progress; call request(sets) first');
    this.sets = null;
    for (let i = 0; i < this.staged.length; i++) {
      const st = this.staged[i];
      const parts = st.request.parts;
      for (let k = 0; k < parts.length; k++) memory.copy(parts[k].dest, st.staging + <usize>parts[k].at, <usize>parts[k].length);
    }
    this.freeStaging();
    const bundles = this.info.bundles;
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i];
      const c = this.layers[p.layer]!;
      const b = bundles[p.layer];
      if (!verifyTensorBytes(this.info, b.name, <u64>p.row * <u64>b.rowBytes, c.slotAt(p.slot), <usize>b.rowBytes)) {
        this.pending.length = 0;
        return false;
      }
      c.slotOf[p.row] = p.slot;
      c.rowOf[p.slot] = p.row;
      c.stamp[p.slot] = this.clock;
    }
    this.pending.length = 0;
    // Pack each layer's selection: bundle i of the (grouped) set = bundle row ids[i].
    for (let l = 0; l < sets.length; l++) {
      const c = this.layers[l]!;
      const ids = sets[l];
      const rowBytes = <usize>c.rowBytes;
      const wb = bundleBlockBytes(bundles[l].type);
      for (let i = 0; i < ids.length; i++) bundle_copy(c.packed, ids.length, i, c.slotAt(c.slotOf[ids[i]]), rowBytes, wb, true);
      c.count = ids.length;
    }
    const t = this.totals;
    const r = this.report;
    t.rows += r.rows;
    t.cacheHits += r.cacheHits;
    t.rowsRead += r.rowsRead;
    t.requests += r.requests;
    t.bytesRead += r.bytesRead;
    return true;
  }

  /** Layer l's packed selection (count(l) bundles of rowBytes, a grouped set; 0 before its first load).
   * The caller then calls engine.setActiveBundles(l, packed(l), count(l), true). */
  packed(l: i32): usize {
    if (l < 0 || l >= this.layers.length) return 0;
    const c = this.layers[l];
    return c === null ? 0 : c.packed;
  }

  count(l: i32): i32 {
    if (l < 0 || l >= this.layers.length) return 0;
    const c = this.layers[l];
    return c === null ? 0 : c.count;
  }

  /** Bytes of wasm memory the cache holds (slots and packed buffers of the layers loaded so far). */
  memoryBytes(): f64 {
    let n: f64 = 0;
    for (let l = 0; l < this.layers.length; l++) {
      const c = this.layers[l];
      if (c !== null) n += 2 * <f64>max<i32>(c.capacity, 1) * <f64>c.rowBytes;
    }
    return n;
  }

  /**
   * Drops a load requested but not finished — the host's read failed or was aborted, so it never
   * resumed — with the needs it listed: a host would otherwise read them again, into slots now free
   * and staging buffers freed here. Its evicted slots stay empty (rows are mapped only once verified),
   * and the packed selection the engine runs on is only rewritten by finish(), so the cache and the
   * active neurons stay consistent; the next request reads what it needs.
   */
  private drop(): void {
    clearNeeds();
    this.freeStaging();
    this.pending.length = 0;
    this.sets = null;
  }

  private freeStaging(): void {
    for (let i = 0; i < this.staged.length; i++) heap.free(this.staged[i].staging);
    this.staged.length = 0;
  }
}

/**
 * Slots of c free for rows read now: those not holding a selected row, empty ones first, then by last
 * use (oldest first), ties by slot (the TS loader's stable sort).
 *   key (u64) = [ 0 (empty) | stamp + 1 (u32) | slot (u32) ]
 */
function reusableSlots(c: LayerCache, selected: Uint8Array): Int32Array {
  const keys = new Uint64Array(c.capacity);
  let n = 0;
  for (let s = 0; s < c.capacity; s++) {
    const row = c.rowOf[s];
    if (row >= 0 && selected[row] != 0) continue;
    const age: u64 = row < 0 ? 0 : <u64>c.stamp[s] + 1;
    keys[n++] = (age << 32) | <u64>s;
  }
  const sorted = keys.subarray(0, n).sort();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = <i32><u32>sorted[i];
  return out;
}

/** A request that is exactly one range's bytes reads straight into it; others go through staging. */
function direct(q: ReadRequest): bool {
  return q.parts.length == 1 && q.parts[0].at == 0 && q.parts[0].length == q.length;
}

/** x with one decimal (JS x.toFixed(1) for the sizes in messages). */
function fixed1(x: f64): string {
  const tenths = <i64>Math.round(x * 10);
  return (tenths / 10).toString() + '.' + (tenths % 10).toString();
}
