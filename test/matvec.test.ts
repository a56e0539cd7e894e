/**
 * matvec_* and matmul_* (both builds) against the TS reference at awkward shapes: one block, odd
 * block counts, row counts not a multiple of 4, T = 1 and T not a multiple of the 4-token tile.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Kernels, KernelName } from '../src/engine/kernels.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';
import * as refq from '../src/formats/quant-values.ts';
import * as ref from '../src/reference/matvec.ts';
import { BUILDS, kernelsFor, put, zeros, getF32 } from './kernel-harness.ts';
import { rng, randomF32, assertClose, assertThrowsCode } from './helpers.ts';

/** Float accumulation order differs (4 lanes, 4 rows); the integer block sums are exact. */
const MAX_MATVEC_REL_ERR = 2e-5;

const ROWS = [1, 2, 3, 4, 5, 7, 8, 13];
const COL_BLOCKS = [1, 2, 3, 5, 7, 16, 33];
const TOKENS = [1, 2, 3, 4, 5, 7, 9, 32];

interface WeightCase {
  name: string;
  type: QuantType;
  matvec: KernelName;
  matmul: KernelName;
  refMatvec: (out: Float32Array, w: any, x: any, rows: number, cols: number) => void;
  refMatmul: (out: Float32Array, w: any, x: any, rows: number, cols: number, T: number) => void;
}

const CASES: WeightCase[] = [
  { name: 'f32', type: QUANT.F32, matvec: 'matvec_f32', matmul: 'matmul_f32', refMatvec: ref.matvecF32, refMatmul: ref.matmulF32 },
  { name: 'f16', type: QUANT.F16, matvec: 'matvec_f16', matmul: 'matmul_f16', refMatvec: ref.matvecF16, refMatmul: ref.matmulF16 },
  { name: 'q8_0', type: QUANT.Q8_0, matvec: 'matvec_q8_0_q8_0', matmul: 'matmul_q8_0_q8_0', refMatvec: ref.matvecQ8_0Q8_0, refMatmul: ref.matmulQ8_0Q8_0 },
  { name: 'q4_0', type: QUANT.Q4_0, matvec: 'matvec_q4_0_q8_0', matmul: 'matmul_q4_0_q8_0', refMatvec: ref.matvecQ4_0Q8_0, refMatmul: ref.matmulQ4_0Q8_0 },
];

/** Weights (rows, cols) in the case's type: Float32Array for f32, bytes otherwise. */
function makeWeights(c: WeightCase, r: () => number, rows: number, cols: number): Float32Array | Uint8Array {
  const w = randomF32(r, rows * cols);
  if (c.type === QUANT.F32) return w;
  const out = new Uint8Array(rows * rowBytes(c.type, cols));
  const quant = c.type === QUANT.F16 ? refq.quantizeRowF16 : c.type === QUANT.Q8_0 ? refq.quantizeRowQ8_0 : refq.quantizeRowQ4_0;
  quant(out, w, rows * cols);
  return out;
}

/** Activations (T, cols): f32 for float weights, Q8_0 rows for quantized weights. */
function makeActivations(c: WeightCase, r: () => number, T: number, cols: number): Float32Array | Uint8Array {
  const x = randomF32(r, T * cols, 2);
  if (c.type.blockElems === 1) return x;
  const out = new Uint8Array(T * rowBytes(QUANT.Q8_0, cols));
  refq.quantizeRowQ8_0(out, x, T * cols);
  return out;
}

for (const build of BUILDS) {
  for (const c of CASES) {
    const s = suite(`${c.matvec} / ${c.matmul} [${build}]`);
    let K: Kernels;
    s.before(async () => {
      K = await kernelsFor(build);
    });

    s(`${c.matvec} equals the reference at ${ROWS.length}×${COL_BLOCKS.length} shapes`, () => {
      let seed = 100;
      for (const rows of ROWS) {
        for (const nb of COL_BLOCKS) {
          const r = rng(seed++);
          const cols = nb * 32;
          const w = makeWeights(c, r, rows, cols);
          const x = makeActivations(c, r, 1, cols);
          const expect = new Float32Array(rows);
          c.refMatvec(expect, w, x, rows, cols);
          const m = K.mark();
          const out = zeros(K, rows, NaN);
          K.call(c.matvec, out, put(K, w), put(K, x), rows, cols);
          assertClose(getF32(K, out, rows), expect, MAX_MATVEC_REL_ERR, `${c.matvec} ${rows}×${cols}`);
          K.release(m);
        }
      }
    });

    s(`${c.matmul} equals the reference for T in {${TOKENS.join(', ')}}`, () => {
      let seed = 500;
      for (const T of TOKENS) {
        for (const [rows, nb] of [[1, 1], [3, 2], [5, 3], [8, 7], [13, 5]] as const) {
          const r = rng(seed++);
          const cols = nb * 32;
          const w = makeWeights(c, r, rows, cols);
          const x = makeActivations(c, r, T, cols);
          const expect = new Float32Array(T * rows);
          c.refMatmul(expect, w, x, rows, cols, T);
          const m = K.mark();
          const out = zeros(K, T * rows, NaN);
          K.call(c.matmul, out, put(K, w), put(K, x), rows, cols, T);
          assertClose(getF32(K, out, T * rows), expect, MAX_MATVEC_REL_ERR, `${c.matmul} T=${T} ${rows}×${cols}`);
          K.release(m);
        }
      }
    });

    if (c.type.blockElems === 1) {
      s(`${c.matvec} / ${c.matmul} handle cols that are not a multiple of 4 or 8`, () => {
        let seed = 900;
        for (const cols of [1, 3, 5, 7, 9, 33, 100]) {
          for (const T of [1, 4, 5]) {
            const r = rng(seed++);
            const rows = 6;
            const w = makeWeights(c, r, rows, cols);
            const x = makeActivations(c, r, T, cols);
            const expect = new Float32Array(T * rows);
            c.refMatmul(expect, w, x, rows, cols, T);
            const m = K.mark();
            const out = zeros(K, T * rows, NaN);
            K.call(c.matmul, out, put(K, w), put(K, x), rows, cols, T);
            assertClose(getF32(K, out, T * rows), expect, MAX_MATVEC_REL_ERR, `${c.matmul} T=${T} cols=${cols}`);
            if (T === 1) {
              K.call(c.matvec, out, put(K, w), put(K, x), rows, cols);
              assertClose(getF32(K, out, rows), expect, MAX_MATVEC_REL_ERR, `${c.matvec} cols=${cols}`);
            }
            K.release(m);
          }
        }
      });
    }

    s(`${c.matmul} with T = 1 equals ${c.matvec}`, () => {
      const r = rng(9);
      const rows = 9;
      const cols = 96;
      const w = put(K, makeWeights(c, r, rows, cols));
      const x = put(K, makeActivations(c, r, 1, cols));
      const a = zeros(K, rows);
      const b = zeros(K, rows);
      K.call(c.matvec, a, w, x, rows, cols);
      K.call(c.matmul, b, w, x, rows, cols, 1);
      assertClose(getF32(K, b, rows), getF32(K, a, rows), MAX_MATVEC_REL_ERR, 'T=1');
    });

    if (c.type === QUANT.Q8_0 || c.type === QUANT.Q4_0) {
      const rowsKernel = c.matmul.replace('matmul_', 'matmul_rows_') as KernelName;
      s(`${rowsKernel}: shares of the rows split at multiples of 4 give exactly ${c.matmul}`, async () => {
        // (a row's arithmetic depends on its place in a group of 4 rows: a split elsewhere regroups them)
        let seed = 70;
        for (const [rows, cols, T, cuts] of [[37, 64, 5, [0, 12, 20, 37]], [64, 96, 32, [0, 32, 64]], [9, 32, 3, [0, 4, 9]], [8, 160, 4, [0, 0, 8, 8]], [38, 32, 7, [0, 36, 38]]] as const) {
          const r = rng(seed++);
          const m = K.mark();
          const w = put(K, makeWeights(c, r, rows, cols));
          const x = put(K, makeActivations(c, r, T, cols));
          const whole = zeros(K, T * rows, NaN);
          const parts = zeros(K, T * rows, NaN);
          K.call(c.matmul, whole, w, x, rows, cols, T);
          for (let i = 0; i + 1 < cuts.length; i++) K.call(rowsKernel, parts, w, x, rows, cols, T, cuts[i]!, cuts[i + 1]!);
          assert.equal(Array.from(getF32(K, parts, T * rows)), Array.from(getF32(K, whole, T * rows)), `rows=${rows} T=${T} cuts=${cuts}`);
          K.release(m);
        }
        const m = K.mark();
        const w = K.alloc(rowBytes(c.type, 32) * 8);
        await assertThrowsCode(() => K.call(rowsKernel, K.alloc(256), w, K.alloc(64), 8, 32, 1, 4, 9), 'bad_option');
        K.release(m);
      });
    }

    s(`${c.matvec} rejects a weight matrix that runs past the end of memory`, async () => {
      const size = K.memory.buffer.byteLength;
      const x = K.alloc(4096);
      const out = K.alloc(64);
      await assertThrowsCode(() => K.call(c.matvec, out, size - 100, x, 4, 64), 'out_of_bounds');
    });

    s.run();
  }
}

const shape = suite('matvec shape checks');
shape('quantized matvec with cols not a multiple of 32 is bad_option', async () => {
  const K = await kernelsFor('simd');
  const p = K.alloc(65536);
  await assertThrowsCode(() => K.fn.matvec_q8_0_q8_0(p, p, p, 2, 48), 'bad_option');
  await assertThrowsCode(() => K.fn.matmul_q4_0_q8_0(p, p, p, 2, 40, 3), 'bad_option');
});
shape('a wrong argument count is bad_option', async () => {
  const K = await kernelsFor('simd');
  await assertThrowsCode(() => (K.fn.matvec_f32 as (...a: number[]) => number)(0, 0, 0, 1), 'bad_option');
});
shape.run();
