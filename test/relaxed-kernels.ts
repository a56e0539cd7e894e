/**
 * The relaxed kernel build against the SIMD build, bit for bit: a plain program run by test/relaxed.test.ts
 * in a child `node --experimental-wasm-relaxed-simd` (Node 20 runs relaxed SIMD only with that flag), once
 * per V8 tier. First the two builds' export names, then the kernels. Prints one JSON line per case: { name, n, mismatches, maxAbsDiff } and exits 0; a module that
 * does not compile (no flag) exits 1 with the error.
 *
 * Inputs are random Q8_0 / Q4_0 blocks whose quant bytes are uniform over every byte (int8 -128..127, every
 * nibble), with finite scales: the relaxed dot's operand ranges are covered at their ends, not only what a
 * quantizer emits. Shapes are awkward on purpose: 1 block, rows and T not multiples of 4, k not a multiple of
 * the FFN's groups of 16, rows short enough to be touched ahead and long enough not to be.
 */
import { readFileSync } from 'node:fs';
import { Kernels, type KernelName } from '../src/engine/kernels.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';
import * as refq from '../src/formats/quant-values.ts';
import { rng, randomF32 } from './helpers.ts';

const load = async (name: string) => Kernels.create(await WebAssembly.compile(readFileSync(new URL(`../build/${name}`, import.meta.url))));

let simd: Kernels;
let relaxed: Kernels;
try {
  simd = await load('kernels.simd.wasm');
  relaxed = await load('kernels.relaxed.wasm');
} catch (e) {
  process.stderr.write(`could not load the kernel builds: ${(e as Error).message}\n`);
  process.exit(1);
}

/** n rows of `cols` in type q, quant bytes uniform (scales from quantizing random floats, so finite). */
function blocks(r: () => number, q: QuantType, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(rows * rowBytes(q, cols));
  (q === QUANT.Q8_0 ? refq.quantizeRowQ8_0 : refq.quantizeRowQ4_0)(out, randomF32(r, rows * cols, 0.5), rows * cols);
  const bb = q.blockBytes;
  for (let b = 0; b < out.length; b += bb) for (let j = 2; j < bb; j++) out[b + j] = Math.floor(r() * 256);
  return out;
}

/** Runs kernel name on K over copies of the inputs; returns the f32 output (outLen values, starting from base). */
function run(K: Kernels, name: KernelName, inputs: Uint8Array[], base: Float32Array, tail: number[]): Float32Array {
  const m = K.mark();
  const put = (d: Uint8Array | Float32Array) => {
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    const p = K.alloc(bytes.length);
    K.u8(p, bytes.length).set(bytes);
    return p;
  };
  const out = put(base);
  K.call(name, out, ...inputs.map(put), ...tail);
  const got = K.f32(out, base.length).slice();
  K.release(m);
  return got;
}

function report(name: string, a: Float32Array, b: Float32Array): void {
  const ua = new Uint32Array(a.buffer);
  const ub = new Uint32Array(b.buffer);
  let mismatches = 0;
  let maxAbsDiff = 0;
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) {
      mismatches++;
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(a[i]! - b[i]!));
    }
  }
  console.log(JSON.stringify({ name, n: a.length, mismatches, maxAbsDiff }));
}

function compare(name: string, kernel: KernelName, inputs: Uint8Array[], base: Float32Array, tail: number[]): void {
  report(name, run(relaxed, kernel, inputs, base, tail), run(simd, kernel, inputs, base, tail));
}

// the same ABI: export names of both builds (a case of its own: mismatches = names in one build only)
{
  const names = async (f: string) => WebAssembly.Module.exports(await WebAssembly.compile(readFileSync(new URL(`../build/${f}`, import.meta.url)))).map((e) => e.name);
  const a = new Set(await names('kernels.relaxed.wasm'));
  const b = new Set(await names('kernels.simd.wasm'));
  const only = [...a].filter((n) => !b.has(n)).concat([...b].filter((n) => !a.has(n)));
  console.log(JSON.stringify({ name: `exports (${a.size})`, n: a.size, mismatches: only.length, maxAbsDiff: 0 }));
}

const r = rng(11);
const TYPES = [
  ['q8_0', QUANT.Q8_0],
  ['q4_0', QUANT.Q4_0],
] as const;

for (const [tn, q] of TYPES) {
  const mv = `matvec_${tn}_q8_0` as KernelName;
  const mm = `matmul_${tn}_q8_0` as KernelName;
  // matvec: 1 block; odd rows; rows touched ahead (short) and not (cols 8192: ≥ 4 KiB rows in both types)
  for (const [rows, cols] of [[1, 32], [3, 32], [5, 96], [7, 576], [13, 576], [67, 1536], [9, 8192]] as const) {
    const w = blocks(r, q, rows, cols);
    const x = blocks(r, QUANT.Q8_0, 1, cols);
    compare(`${mv} rows=${rows} cols=${cols}`, mv, [w, x], new Float32Array(rows), [rows, cols]);
  }
  // matmul: rows 1..7 (pairs, a lone row, groups of 4), T around the 4-token tile
  for (const [rows, cols, T] of [[1, 32, 1], [2, 64, 3], [3, 96, 4], [5, 32, 5], [6, 576, 7], [7, 160, 9], [12, 576, 8]] as const) {
    const w = blocks(r, q, rows, cols);
    const x = blocks(r, QUANT.Q8_0, T, cols);
    compare(`${mm} rows=${rows} cols=${cols} T=${T}`, mm, [w, x], new Float32Array(T * rows), [rows, cols, T]);
  }
  // one thread's share of a matmul (rows r0..r1 - 1, out keeping its stride)
  {
    const [rows, cols, T, r0, r1] = [11, 96, 5, 4, 11];
    const w = blocks(r, q, rows, cols);
    const x = blocks(r, QUANT.Q8_0, T, cols);
    const rowsKernel = `matmul_rows_${tn}_q8_0` as KernelName;
    compare(`${rowsKernel} rows=${rows} cols=${cols} T=${T} r=${r0}..${r1}`, rowsKernel, [w, x], new Float32Array(T * rows), [rows, cols, T, r0, r1]);
  }
  // the masked FFN, plain and grouped: k below, at and past the groups of 16; T = 1, 3, 4, 6
  for (const [k, dim, T] of [[1, 32, 1], [4, 96, 3], [5, 64, 4], [16, 576, 1], [17, 96, 6], [37, 160, 4], [32, 576, 5]] as const) {
    const bundles = blocks(r, q, 3 * k, dim);
    const x = blocks(r, QUANT.Q8_0, T, dim);
    const base = randomF32(r, T * dim, 1);
    compare(`ffn_swiglu_masked_${tn} k=${k} dim=${dim} T=${T}`, `ffn_swiglu_masked_${tn}` as KernelName, [bundles, x], base, [k, dim, T]);
    // the grouped layout of the same bundles (bundles_regroup is a byte permutation, the same in both builds)
    const m = simd.mark();
    const src = simd.alloc(bundles.length);
    const dst = simd.alloc(bundles.length);
    simd.u8(src, bundles.length).set(bundles);
    simd.call('bundles_regroup', dst, src, k, dim, q.blockBytes, 1);
    const grouped = simd.u8(dst, bundles.length).slice();
    simd.release(m);
    compare(`ffn_swiglu_grouped_${tn} k=${k} dim=${dim} T=${T}`, `ffn_swiglu_grouped_${tn}` as KernelName, [grouped, x], base, [k, dim, T]);
  }
}
