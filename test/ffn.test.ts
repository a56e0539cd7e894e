/**
 * ffn_swiglu_masked_* (both builds) against the TS reference: k = 0, 1, odd, n_ff; T = 1, T not a
 * multiple of the 4-token tile, and T = 32 (a prefill tile); dim of one block, odd block counts and the
 * SmolLM2-135M / Qwen2.5-0.5B dims (short bundles touched ahead, long ones not); tokens with all-zero
 * activations inside 4-token tiles; and the masked FFN over a subset equals the dense FFN computed from the
 * same bundles restricted to that subset. ffn_swiglu_grouped_* (the runtime's layout, assembly/grouped.ts)
 * equal ffn_swiglu_masked_* on the same bundles bit for bit, and bundles_regroup is a permutation of blocks.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Kernels, KernelName } from '../src/engine/kernels.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';
import * as refq from '../src/formats/quant-values.ts';
import * as ref from '../src/reference/ffn.ts';
import { BUILDS, kernelsFor, put, getF32, getU8 } from './kernel-harness.ts';
import { rng, randomF32, assertClose, assertThrowsCode } from './helpers.ts';

/** silu's exp differs in the last bits between AS (musl) and V8; accumulation order differs too. */
const MAX_FFN_REL_ERR = 5e-5;
/** At the real dims (hundreds of elements per dot) outputs are sums of terms far larger than the result
 * and the residual, so the rounding of a different summation order is measured against the largest
 * |FFN contribution| of the case (out - residual), not against each output. */
const MAX_FFN_SCALED_ERR = 1e-5;
/** The SIMD Q8_0 / Q4_0 kernels sum the down rows in integers: each term h_j·d_j is rounded to 16 bits
 * against the largest of its group of 16 bundles (assembly/ffn.ts down_tile), an error of ≤ 2^-16 of that
 * term per term; the standard layout rounds h to 8 bits before its down matvec. Scaled as above. */
const MAX_FFN_INT_SCALED_ERR = 2e-4;

/** assertClose of got and expect divided by the largest |expect - base| (at least 1). */
function assertCloseScaled(got: Float32Array, expect: Float32Array, base: Float32Array, tol: number, label: string): void {
  let scale = 1;
  for (let i = 0; i < expect.length; i++) scale = Math.max(scale, Math.abs(expect[i]! - base[i]!));
  assertClose(got.map((v) => v / scale), expect.map((v) => v / scale), tol, `${label} (scale ${scale.toPrecision(3)})`);
}

interface FfnCase {
  name: string;
  type: QuantType;
  kernel: KernelName;
  ref: (out: Float32Array, bundles: any, x: any, k: number, dim: number, T: number) => void;
}
const CASES: FfnCase[] = [
  { name: 'f32', type: QUANT.F32, kernel: 'ffn_swiglu_masked_f32', ref: ref.ffnSwigluMaskedF32 },
  { name: 'q8_0', type: QUANT.Q8_0, kernel: 'ffn_swiglu_masked_q8_0', ref: ref.ffnSwigluMaskedQ8_0 },
  { name: 'q4_0', type: QUANT.Q4_0, kernel: 'ffn_swiglu_masked_q4_0', ref: ref.ffnSwigluMaskedQ4_0 },
];

/** k bundles of [gate | up | down] in the case's type. */
function makeBundles(c: FfnCase, r: () => number, k: number, dim: number): Float32Array | Uint8Array {
  const w = randomF32(r, k * 3 * dim, 0.5);
  if (c.type === QUANT.F32) return w;
  const out = new Uint8Array(k * 3 * rowBytes(c.type, dim));
  (c.type === QUANT.Q8_0 ? refq.quantizeRowQ8_0 : refq.quantizeRowQ4_0)(out, w, k * 3 * dim);
  return out;
}

/** x (T, dim) as the case's kernel takes it: f32 rows, or Q8_0 rows for quantized bundles. */
function kernelX(c: FfnCase, x: Float32Array, T: number, dim: number): Float32Array | Uint8Array {
  if (c.type === QUANT.F32) return x;
  const out = new Uint8Array(T * rowBytes(QUANT.Q8_0, dim));
  refq.quantizeRowQ8_0(out, x, T * dim);
  return out;
}

function makeX(c: FfnCase, r: () => number, T: number, dim: number): Float32Array | Uint8Array {
  return kernelX(c, randomF32(r, T * dim, 1), T, dim);
}

/** The kernel's output and the reference's, each accumulated onto a copy of base. */
function runBoth(K: Kernels, c: FfnCase, bundles: Float32Array | Uint8Array, x: Float32Array | Uint8Array, base: Float32Array, k: number, dim: number, T: number): { got: Float32Array; expect: Float32Array } {
  const expect = base.slice();
  c.ref(expect, bundles, x, k, dim, T);
  const m = K.mark();
  const out = put(K, base);
  K.call(c.kernel, out, put(K, bundles), put(K, x), k, dim, T);
  const got = getF32(K, out, T * dim);
  K.release(m);
  return { got, expect };
}

for (const build of BUILDS) {
  for (const c of CASES) {
    const s = suite(`${c.kernel} [${build}]`);
    let K: Kernels;
    const intDown = build === 'simd' && c.type !== QUANT.F32;
    s.before(async () => {
      K = await kernelsFor(build);
    });

    s('equals the reference for k in {0, 1, 3, 17, n_ff}, T in {1, 2, 3, 4, 5, 9}, dim of 1, 3, 6 blocks', () => {
      let seed = 1;
      for (const dimBlocks of [1, 3, 6]) {
        const dim = dimBlocks * 32;
        const nFf = 40;
        for (const k of [0, 1, 3, 17, nFf]) {
          for (const T of [1, 2, 3, 4, 5, 9]) {
            const r = rng(seed++);
            const bundles = makeBundles(c, r, k, dim);
            const x = makeX(c, r, T, dim);
            const base = randomF32(r, T * dim); // out accumulates onto what is there (the residual)
            const { got, expect } = runBoth(K, c, bundles, x, base, k, dim, T);
            if (intDown) assertCloseScaled(got, expect, base, MAX_FFN_INT_SCALED_ERR, `${c.kernel} dim=${dim} k=${k} T=${T}`);
            else assertClose(got, expect, MAX_FFN_REL_ERR, `${c.kernel} dim=${dim} k=${k} T=${T}`);
            if (k === 0) assert.equal(Array.from(got), Array.from(base), 'k = 0 leaves out unchanged');
          }
        }
      }
    });

    s('equals the reference at T = 32 (a prefill tile) and k past several 4-bundle steps, dims of 1, 5, 18, 28 blocks', () => {
      // 18 blocks: SmolLM2-135M's dim (1836-byte Q8_0 bundles, touched ahead); 28: Qwen2.5-0.5B's (2856 bytes, not)
      let seed = 500;
      for (const dimBlocks of [1, 5, 18, 28]) {
        const dim = dimBlocks * 32;
        for (const [k, T] of [[0, 32], [1, 32], [37, 32], [70, 7], [70, 1]] as const) {
          const r = rng(seed++);
          const bundles = makeBundles(c, r, k, dim);
          const x = makeX(c, r, T, dim);
          const base = randomF32(r, T * dim);
          const { got, expect } = runBoth(K, c, bundles, x, base, k, dim, T);
          assertCloseScaled(got, expect, base, intDown ? MAX_FFN_INT_SCALED_ERR : MAX_FFN_SCALED_ERR, `${c.kernel} dim=${dim} k=${k} T=${T}`);
        }
      }
    });

    s('a token whose activations are all zero adds nothing, and the tokens beside it in a 4-token tile are unchanged', () => {
      // the 4-token down sums scale each token separately (assembly/ffn.ts coef4): a token with h = 0 has no
      // scale, which must neither disturb its neighbours nor write NaN into its own output
      let seed = 900;
      for (const [dimBlocks, k, T] of [[18, 32, 4], [5, 48, 9], [28, 16, 8]] as const) {
        const dim = dimBlocks * 32;
        const r = rng(seed++);
        const bundles = makeBundles(c, r, k, dim);
        const xf = randomF32(r, T * dim, 1);
        for (const t of [0, 2, T - 1]) xf.fill(0, t * dim, (t + 1) * dim);
        const base = randomF32(r, T * dim);
        const { got, expect } = runBoth(K, c, bundles, kernelX(c, xf, T, dim), base, k, dim, T);
        for (const t of [0, 2, T - 1]) assert.equal(Array.from(got.subarray(t * dim, (t + 1) * dim)), Array.from(base.subarray(t * dim, (t + 1) * dim)), `token ${t} unchanged`);
        assertCloseScaled(got, expect, base, intDown ? MAX_FFN_INT_SCALED_ERR : MAX_FFN_SCALED_ERR, `${c.kernel} dim=${dim} k=${k} T=${T}`);
      }
    });

    s('is additive over bundles: FFN(first a) + FFN(rest) = FFN(all)', () => {
      const r = rng(77);
      const dim = 64;
      const k = 24;
      const T = 6;
      const bundles = makeBundles(c, r, k, dim);
      const x = makeX(c, r, T, dim);
      const bundleBytes = bundles.byteLength / k;
      const m = K.mark();
      const pb = put(K, bundles);
      const px = put(K, x);
      const all = put(K, new Float32Array(T * dim));
      const split = put(K, new Float32Array(T * dim));
      K.call(c.kernel, all, pb, px, k, dim, T);
      K.call(c.kernel, split, pb, px, 10, dim, T);
      K.call(c.kernel, split, pb + 10 * bundleBytes, px, k - 10, dim, T);
      const zero = new Float32Array(T * dim);
      assertCloseScaled(getF32(K, split, T * dim), getF32(K, all, T * dim), zero, intDown ? MAX_FFN_INT_SCALED_ERR : MAX_FFN_REL_ERR, 'split');
      K.release(m);
    });

    s('bundles past the end of memory are out_of_bounds; dim not a whole block is bad_option', async () => {
      const size = K.memory.buffer.byteLength;
      const p = K.alloc(4096);
      await assertThrowsCode(() => K.call(c.kernel, p, size - 64, p, 4, 32, 1), 'out_of_bounds');
      if (c.type !== QUANT.F32) await assertThrowsCode(() => K.call(c.kernel, p, p, p, 1, 48, 1), 'bad_option');
    });

    s.run();
  }
}

// --- the grouped layout ------------------------------------------------------------------------------

for (const build of BUILDS) {
  for (const c of CASES.filter((c) => c.type !== QUANT.F32)) {
    const grouped = c.kernel.replace('masked', 'grouped') as KernelName;
    const s = suite(`${grouped} [${build}]`);
    let K: Kernels;
    s.before(async () => {
      K = await kernelsFor(build);
    });
    const wb = c.type.blockBytes;

    s('bundles_regroup moves whole blocks: a permutation (groups of 16 reordered, the last k mod 16 plain) that round-trips', () => {
      let seed = 3000;
      for (const [dimBlocks, k] of [[1, 0], [1, 1], [3, 15], [3, 16], [5, 17], [18, 32], [2, 37], [28, 48]] as const) {
        const dim = dimBlocks * 32;
        const rb = 3 * dimBlocks * wb;
        const plain = makeBundles(c, rng(seed++), k, dim) as Uint8Array;
        const m = K.mark();
        const src = put(K, plain);
        const dst = K.alloc(Math.max(plain.length, 1));
        const back = K.alloc(Math.max(plain.length, 1));
        K.call('bundles_regroup', dst, src, k, dim, wb, 1);
        K.call('bundles_regroup', back, dst, k, dim, wb, 0);
        const g = getU8(K, dst, plain.length);
        assert.equal(Buffer.compare(getU8(K, back, plain.length), plain), 0, `k=${k} dim=${dim}: round trip`);
        const tail = k - (k % 16);
        // the tail is plain in either build; the groups are reordered in the SIMD build only
        assert.equal(Buffer.compare(g.subarray(tail * rb), plain.subarray(tail * rb)), 0, `k=${k}: tail plain`);
        if (tail > 0) assert.is(Buffer.compare(g.subarray(0, tail * rb), plain.subarray(0, tail * rb)) === 0, build === 'scalar', `k=${k}: groups ${build === 'scalar' ? 'plain' : 'reordered'}`);
        // a permutation of whole blocks: the multiset of blocks per group is unchanged
        for (let gi = 0; gi < tail / 16; gi++) {
          const blocks = (b: Uint8Array) => {
            const out: string[] = [];
            for (let o = gi * 16 * rb; o < (gi + 1) * 16 * rb; o += wb) out.push(Buffer.from(b.subarray(o, o + wb)).toString('hex'));
            return out.sort();
          };
          assert.equal(blocks(g), blocks(plain), `k=${k} group ${gi}: the same blocks`);
        }
        K.release(m);
      }
    });

    s('equals ffn_swiglu_masked on the same bundles, bit for bit: k around the groups of 16, T = 1..9 and 32, dims of 1, 3, 18, 28 blocks', () => {
      let seed = 4000;
      for (const dimBlocks of [1, 3, 18, 28]) {
        const dim = dimBlocks * 32;
        for (const k of [0, 1, 15, 16, 17, 20, 32, 37, 64]) {
          for (const T of [1, 3, 4, 5, 9, 32]) {
            if (dimBlocks >= 18 && T > 5 && T !== 32) continue;
            const r = rng(seed++);
            const plain = makeBundles(c, r, k, dim);
            const x = makeX(c, r, T, dim);
            const base = randomF32(r, T * dim);
            const m = K.mark();
            const pb = put(K, plain);
            const gb = K.alloc(Math.max(plain.byteLength, 1));
            K.call('bundles_regroup', gb, pb, k, dim, wb, 1);
            const px = put(K, x);
            const o1 = put(K, base);
            const o2 = put(K, base);
            K.call(c.kernel, o1, pb, px, k, dim, T);
            K.call(grouped, o2, gb, px, k, dim, T);
            const want = getF32(K, o1, T * dim);
            const got = getF32(K, o2, T * dim);
            for (let i = 0; i < want.length; i++) {
              if (!Object.is(got[i], want[i])) assert.unreachable(`dim=${dim} k=${k} T=${T}: out[${i}] = ${got[i]}, plain layout ${want[i]}`);
            }
            K.release(m);
          }
        }
      }
    });

    s('bundles past the end of memory are out_of_bounds; a block size that is not Q8_0 or Q4_0 is bad_option', async () => {
      const size = K.memory.buffer.byteLength;
      const p = K.alloc(4096);
      await assertThrowsCode(() => K.call(grouped, p, size - 64, p, 4, 32, 1), 'out_of_bounds');
      await assertThrowsCode(() => K.call('bundles_regroup', p, p + 2048, 2, 32, 16, 1), 'bad_option');
      await assertThrowsCode(() => K.call('bundles_regroup', p, size - 64, 4, 32, wb, 1), 'out_of_bounds');
    });

    s.run();
  }
}
