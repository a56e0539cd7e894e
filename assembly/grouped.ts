// The grouped layout of an active set of neuron bundles: what the runtime's neuron loader writes and the
// masked FFN's group kernel reads (ffn.ts ffn_swiglu_grouped_*).
//
// A plain set of k bundles is k rows [gate_j | up_j | down_j], each part nb blocks of wb bytes (Q8_0: 34,
// Q4_0: 18), rb = 3·nb·wb bytes a row. The kernel works in groups of 16 bundles, and read from plain rows
// a group is 16 interleaved streams (48 with the three parts), which the hardware prefetcher does not
// follow: decode then waits on memory (docs/performance.md, "Masked FFN kernel"). The grouped layout holds
// the same blocks in the order the kernel reads them, so a group is one stream, front to back:
//
//   group g (bundles 16g..16g+15), at g·16·rb, 16·rb bytes:
//     quad q (bundles 16g+4q..16g+4q+3), at q·8·nb·wb:  for each block b: the gate blocks b of the quad's 4
//                                                        bundles, then their up blocks b (8 blocks)
//     down, at 32·nb·wb:                                 for each block b: the down blocks b of the 16 bundles
//   the last k mod 16 bundles: plain rows after the groups (bundle i at i·rb)
//
// A grouped set is exactly as large as the plain one, and group g occupies the same bytes in both.
// Only quantized bundles in SIMD builds are grouped: F32 bundles and the scalar build (neither has the group
// kernel) keep their sets plain, and every function here then copies whole rows.
import { Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES } from './common';

/** Bundles per group. */
export const GROUP: i32 = 16;

/** Whether this build groups sets of quantized bundles. */
export const GROUPED: bool = ASC_FEATURE_SIMD;

/** Byte offset, in a grouped set of k bundles, of block b of part (0 gate, 1 up, 2 down) of bundle i
 * (i inside the groups: i < k - k mod 16). */
// @ts-ignore: decorator
@inline function grouped_at(i: i32, part: i32, b: i32, nb: i32, wb: usize): usize {
  const partBytes = <usize>nb * wb;
  const base = <usize>(i >> 4) * 48 * partBytes;
  const r = i & (GROUP - 1);
  if (part == 2) return base + 32 * partBytes + <usize>(b * GROUP + r) * wb;
  return base + <usize>(r >> 2) * 8 * partBytes + <usize>(b * 8 + part * 4 + (r & 3)) * wb;
}

/** Copies one block of wb bytes (dst and src do not overlap). */
// @ts-ignore: decorator
@inline function copy_block(dst: usize, src: usize, wb: usize): void {
  if (ASC_FEATURE_SIMD && wb == Q8_0_BLOCK_BYTES) {
    v128.store(dst, v128.load(src));
    v128.store(dst, v128.load(src, 16), 16);
    store<u16>(dst, load<u16>(src, 32), 32);
  } else if (ASC_FEATURE_SIMD && wb == Q4_0_BLOCK_BYTES) {
    v128.store(dst, v128.load(src));
    store<u16>(dst, load<u16>(src, 16), 16);
  } else {
    memory.copy(dst, src, wb);
  }
}

/**
 * Bundle i of the set at `set` (k bundles of rowBytes, quant blocks of wb bytes; wb = 0: F32 bundles,
 * never grouped) from the plain row at `row` (toSet), or back to it. Used by every writer and reader of
 * a set: the neuron loader, Engine.setNeuronMask, the observer, bundles_regroup.
 */
export function bundle_copy(set: usize, k: i32, i: i32, row: usize, rowBytes: usize, wb: usize, toSet: bool): void {
  if (!GROUPED || wb == 0 || i >= (k & ~(GROUP - 1))) {
    const p = set + <usize>i * rowBytes;
    if (toSet) memory.copy(p, row, rowBytes);
    else memory.copy(row, p, rowBytes);
    return;
  }
  const nb = <i32>(rowBytes / (3 * wb));
  let r = row;
  for (let part = 0; part < 3; part++) {
    for (let b = 0; b < nb; b++) {
      const p = set + grouped_at(i, part, b, nb, wb);
      if (toSet) copy_block(p, r, wb);
      else copy_block(r, p, wb);
      r += wb;
    }
  }
}

/**
 * dst = the k bundles at src (rows of 3·dim/32 blocks of blockBytes: 34 Q8_0, 18 Q4_0) in the grouped
 * layout (toGrouped), or a grouped set back to plain rows. dst and src do not overlap. (The runtime writes
 * sets row by row with bundle_copy; this export lets hosts and tests build sets for ffn_swiglu_grouped_*.)
 */
export function bundles_regroup(dst: usize, src: usize, k: i32, dim: i32, blockBytes: i32, toGrouped: bool): void {
  const wb = <usize>blockBytes;
  const rowBytes: usize = 3 * <usize>(dim / 32) * wb;
  for (let i = 0; i < k; i++) {
    if (toGrouped) bundle_copy(dst, k, i, src + <usize>i * rowBytes, rowBytes, wb, true);
    else bundle_copy(src, k, i, dst + <usize>i * rowBytes, rowBytes, wb, false);
  }
}
