/**
 * Kernel benchmarks: `npm run bench` (or `node --import tsx bench/kernels.ts [--quick] [--filter S]`).
 *
 * For each kernel at edge-model shapes: GFLOP/s and weight GB/s of the SIMD build, the scalar build
 * and the TS reference, and the weight GB/s as a fraction of a wasm streaming-read probe (the
 * memory-bandwidth ceiling, measured in the same process). Prints a table; writes the same rows as
 * JSON to bench/results/kernels.json.
 *
 * Timing: each case runs in interleaved rounds (simd, scalar, ref, simd, ...) so a noisy neighbour
 * hits all implementations alike; a round repeats the call until ≥ 25 ms of this process's CPU time
 * (process.cpuUsage: time spent waiting for a busy core does not count) and the best round's
 * per-call time is reported (the least disturbed one).
 *
 * Weights hot and cold: `hot` repeats the call on one weight copy (in cache when it fits: 576×1536
 * Q8_0 is 0.9 MB); `cold` cycles through copies totalling ≥ COLD_BYTES (L3 here is 32 MiB), so the
 * weights stream from DRAM as they do in decode, where a model's layers never fit in cache. A weight
 * set that alone exceeds COLD_BYTES (8192×8192) is cold in both. The matmul rows compare prefill
 * with the matvec on the same weights and the same hotness (×matvec: GFLOP/s ratio); the fair
 * comparison for prefill is the cold one, since decode reads the weights from DRAM. The masked FFN rows
 * compare with the standard layout's dense FFN on the same shape (`ffn standard` rows; ×std: its time over
 * the bundled row's, same hotness, same rounds): ≥ 1 at k = n_ff is parity.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { Kernels, type KernelName } from '../src/engine/kernels.ts';
import { loadKernels } from '../src/platform/node.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';
import * as refMatvec from '../src/reference/matvec.ts';
import * as refFfn from '../src/reference/ffn.ts';
import { randomWeights, activations, cycling, timeInterleaved } from './harness.ts';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const filterIdx = args.indexOf('--filter');
const FILTER = filterIdx >= 0 ? args[filterIdx + 1]! : '';
const ROUNDS = QUICK ? 3 : 5;
const MIN_ROUND_MS = QUICK ? 10 : 25;

const SHAPES: [rows: number, cols: number][] = [
  [576, 1536],
  [1536, 576],
  [896, 4864],
  [4864, 896],
  [8192, 8192],
];
/** Weight bytes cycled through for `cold` rows: 3× the 32 MiB L3 of the machine this was tuned on. */
const COLD_BYTES = 96 * 2 ** 20;
/** The TS reference is ~100× slower: run it only up to this many weights. */
const REF_MAX_WEIGHTS = 5e6;

interface Row {
  kernel: string;
  shape: string;
  impl: 'simd' | 'scalar' | 'ts-ref';
  /** hot: one weight copy, repeated; cold: cycling through ≥ COLD_BYTES of copies (from DRAM). */
  weights: 'hot' | 'cold';
  ms: number;
  gflops: number;
  weightGBs: number;
  ofCeiling: number;
  /** matmul rows: GFLOP/s over the matvec's on the same shape and hotness. */
  vsMatvec?: number;
  /** masked FFN rows (simd): the standard layout's dense FFN time over this row's, same shape and hotness. */
  vsStandard?: number;
}

const [simd, scalar] = await Promise.all([Kernels.create(await loadKernels('simd')), Kernels.create(await loadKernels('scalar'))]);

/** Copies of random weights for hot (1 copy) or cold (≥ COLD_BYTES in all) timing. */
function weightCopies(K: Kernels, type: QuantType, rows: number, cols: number, seed: number, cold: boolean): number[] {
  const n = cold ? Math.max(1, Math.ceil(COLD_BYTES / (rows * rowBytes(type, cols)))) : 1;
  return Array.from({ length: n }, (_, i) => randomWeights(K, type, rows, cols, seed + i));
}

const rows: Row[] = [];
let ceilingGBs = 0;

function record(kernel: string, shape: string, impl: Row['impl'], ms: number, flops: number, weightBytes: number, weights: Row['weights'] = 'hot'): Row {
  const weightGBs = weightBytes / (ms * 1e6);
  const row: Row = { kernel, shape, impl, weights, ms, gflops: flops / (ms * 1e6), weightGBs, ofCeiling: weightGBs / ceilingGBs };
  rows.push(row);
  return row;
}

// --- memory-bandwidth ceiling: streaming read of 256 MiB in wasm
{
  const n = (256 * 2 ** 20) / 4;
  const p = simd.alloc(n * 4);
  simd.f32(p, n).fill(1);
  const [ms] = timeInterleaved([() => simd.raw.mem_read_f32(p, n)], ROUNDS, MIN_ROUND_MS);
  ceilingGBs = (n * 4) / (ms! * 1e6);
  rows.push({ kernel: 'mem_read_f32 (ceiling)', shape: '256 MiB', impl: 'simd', weights: 'cold', ms: ms!, gflops: (n / ms!) / 1e6, weightGBs: ceilingGBs, ofCeiling: 1 });
  simd.release(p);
}

const MATVEC: { type: QuantType; kernel: KernelName; ref?: (...a: any[]) => void }[] = [
  { type: QUANT.Q8_0, kernel: 'matvec_q8_0_q8_0', ref: refMatvec.matvecQ8_0Q8_0 },
  { type: QUANT.Q4_0, kernel: 'matvec_q4_0_q8_0', ref: refMatvec.matvecQ4_0Q8_0 },
  { type: QUANT.F32, kernel: 'matvec_f32', ref: refMatvec.matvecF32 },
  { type: QUANT.F16, kernel: 'matvec_f16', ref: refMatvec.matvecF16 },
];

function bytesView(K: Kernels, p: number, type: QuantType, n: number): Float32Array | Uint8Array {
  return type === QUANT.F32 ? K.f32(p, n).slice() : K.u8(p, n * (type.blockElems === 1 ? type.blockBytes : 1)).slice();
}

// --- matvec at every shape
for (const m of MATVEC) {
  if (FILTER && !m.kernel.includes(FILTER)) continue;
  for (const [R, C] of SHAPES) {
    if (QUICK && R * C > 5e6) continue;
    const shape = `${R}×${C}`;
    const wBytes = R * rowBytes(m.type, C);
    const marks = [simd.mark(), scalar.mark()];
    const ops = [simd, scalar].map((K, i) => {
      const w = randomWeights(K, m.type, R, C, 7);
      const x = activations(K, m.type, 1, C);
      const out = K.alloc(R * 4);
      return () => K.callRaw(m.kernel, out, w, x, R, C);
    });
    const fns: (() => unknown)[] = [...ops];
    if (m.ref && R * C <= REF_MAX_WEIGHTS) {
      const K = simd;
      const w = randomWeights(K, m.type, R, C, 7);
      const x = activations(K, m.type, 1, C);
      const wv = m.type === QUANT.F32 ? K.f32(w, R * C).slice() : K.u8(w, wBytes).slice();
      const xv = m.type.blockElems === 1 ? K.f32(x, C).slice() : K.u8(x, rowBytes(QUANT.Q8_0, C)).slice();
      const out = new Float32Array(R);
      fns.push(() => m.ref!(out, wv, xv, R, C));
    }
    const hasRef = fns.length === 3;
    {
      const ws = weightCopies(simd, m.type, R, C, 17, true);
      const x = activations(simd, m.type, 1, C);
      const out = simd.alloc(R * 4);
      fns.push(cycling(ws, (w) => simd.callRaw(m.kernel, out, w, x, R, C)));
    }
    const ms = timeInterleaved(fns, ROUNDS, MIN_ROUND_MS);
    const impls: Row['impl'][] = hasRef ? ['simd', 'scalar', 'ts-ref', 'simd'] : ['simd', 'scalar', 'simd'];
    ms.forEach((t, i) => record(m.kernel, shape, impls[i]!, t, 2 * R * C, wBytes, i === ms.length - 1 ? 'cold' : 'hot'));
    simd.release(marks[0]!);
    scalar.release(marks[1]!);
  }
}

// --- prefill matmul, T = 32 (and T = 7: a partial token tile), against matvec on the same weights
// (weights reused across tokens)
for (const m of [
  { type: QUANT.Q8_0, matmul: 'matmul_q8_0_q8_0', matvec: 'matvec_q8_0_q8_0' },
  { type: QUANT.Q4_0, matmul: 'matmul_q4_0_q8_0', matvec: 'matvec_q4_0_q8_0' },
  { type: QUANT.F32, matmul: 'matmul_f32', matvec: 'matvec_f32' },
] as const) {
  if (FILTER && !m.matmul.includes(FILTER)) continue;
  for (const [R, C, T] of [[896, 4864, 32], [576, 1536, 32], [896, 4864, 7]] as const) {
    const shape = `${R}×${C} T=${T}`;
    const marks = [simd.mark(), scalar.mark()];
    const fns: (() => unknown)[] = [simd, scalar].map((K) => {
      const w = randomWeights(K, m.type, R, C, 9);
      const x = activations(K, m.type, T, C);
      const out = K.alloc(T * R * 4);
      return () => K.callRaw(m.matmul, out, w, x, R, C, T);
    });
    // simd matmul cold, then the matvec on the same weights, hot and cold
    const hot = [randomWeights(simd, m.type, R, C, 9)];
    const cold = weightCopies(simd, m.type, R, C, 19, true);
    const x = activations(simd, m.type, T, C);
    const out = simd.alloc(T * R * 4);
    fns.push(cycling(cold, (w) => simd.callRaw(m.matmul, out, w, x, R, C, T)));
    for (const ws of [hot, cold]) fns.push(cycling(ws, (w) => simd.callRaw(m.matvec, out, w, x, R, C)));
    const ms = timeInterleaved(fns, ROUNDS, MIN_ROUND_MS);
    const wBytes = R * rowBytes(m.type, C);
    const flops = 2 * R * C * T;
    record(m.matmul, shape, 'simd', ms[0]!, flops, wBytes).vsMatvec = (ms[3]! * T) / ms[0]!;
    record(m.matmul, shape, 'scalar', ms[1]!, flops, wBytes);
    record(m.matmul, shape, 'simd', ms[2]!, flops, wBytes, 'cold').vsMatvec = (ms[4]! * T) / ms[2]!;
    simd.release(marks[0]!);
    scalar.release(marks[1]!);
  }
}

// --- masked FFN over bundles at densities 1, 1/2, 1/4 (decode, T = 1; and prefill T = 32), against the
// standard layout on the same shape (×std: the standard dense FFN's time over the bundled one's, same
// hotness, timed in the same interleaved rounds; issue #11 asks for ≥ 1 at k = n_ff)
const MATVEC_OF: Record<string, KernelName> = { Q8_0: 'matvec_q8_0_q8_0', Q4_0: 'matvec_q4_0_q8_0', F32: 'matvec_f32' };
const MATMUL_OF: Record<string, KernelName> = { Q8_0: 'matmul_q8_0_q8_0', Q4_0: 'matmul_q4_0_q8_0', F32: 'matmul_f32' };

/** The standard layout's FFN, as the engines run it: out (T, dim) += W2 (silu(x·W1ᵀ) ⊙ x·W3ᵀ). */
function standardFfn(K: Kernels, type: QuantType, dim: number, nFf: number, T: number): { weights: (seed: number) => number[]; run: (w: number[]) => void } {
  const quantized = type.blockElems > 1;
  const h1 = K.alloc(T * nFf * 4);
  const h3 = K.alloc(T * nFf * 4);
  const hq = quantized ? K.alloc(T * rowBytes(QUANT.Q8_0, nFf)) : 0;
  const xb = K.alloc(T * dim * 4);
  const x = activations(K, type, T, dim);
  const out = K.alloc(T * dim * 4);
  const mv = MATVEC_OF[type.name]!, mm = MATMUL_OF[type.name]!;
  const lin = (o: number, w: number, xin: number, rows: number, cols: number) => (T === 1 ? K.callRaw(mv, o, w, xin, rows, cols) : K.callRaw(mm, o, w, xin, rows, cols, T));
  return {
    weights: (seed) => [randomWeights(K, type, nFf, dim, seed), randomWeights(K, type, nFf, dim, seed + 1), randomWeights(K, type, dim, nFf, seed + 2)],
    run: ([w1, w3, w2]) => {
      lin(h1, w1!, x, nFf, dim);
      lin(h3, w3!, x, nFf, dim);
      K.raw.silu_f32(h1, T * nFf);
      K.raw.mul_f32(h1, h3, T * nFf);
      if (quantized) K.raw.quantize_row_q8_0(hq, h1, T * nFf);
      lin(xb, w2!, quantized ? hq : h1, dim, nFf);
      K.raw.add_f32(out, xb, T * dim);
    },
  };
}

for (const f of [
  { type: QUANT.Q8_0, kernel: 'ffn_swiglu_masked_q8_0', ref: refFfn.ffnSwigluMaskedQ8_0 },
  { type: QUANT.Q4_0, kernel: 'ffn_swiglu_masked_q4_0', ref: refFfn.ffnSwigluMaskedQ4_0 },
  { type: QUANT.F32, kernel: 'ffn_swiglu_masked_f32', ref: refFfn.ffnSwigluMaskedF32 },
] as const) {
  if (FILTER && !f.kernel.includes(FILTER)) continue;
  for (const [dim, nFf] of [[576, 1536], [896, 4864]] as const) {
    for (const T of [1, 32]) {
      if (QUICK && T > 1) continue;
      const marks = [simd.mark(), scalar.mark()];
      const setups = [simd, scalar].map((K) => ({
        K,
        b: randomWeights(K, f.type, nFf * 3, dim, 11),
        x: activations(K, f.type, T, dim),
        out: K.alloc(T * dim * 4),
      }));
      const coldBundles = T === 1 ? weightCopies(simd, f.type, nFf * 3, dim, 21, true) : [];
      // the standard layout (simd): hot, and cold for decode
      const std = standardFfn(simd, f.type, dim, nFf, T);
      const stdBytes = 3 * nFf * rowBytes(f.type, dim);
      const stdHot = [std.weights(31)];
      const stdCold = T === 1 ? Array.from({ length: Math.max(1, Math.ceil(COLD_BYTES / stdBytes)) }, (_, i) => std.weights(41 + 3 * i)) : [];
      for (const density of [1, 0.5, 0.25]) {
        const k = Math.round(nFf * density);
        const shape = `dim ${dim} k=${k}/${nFf} T=${T}`;
        const fns: (() => unknown)[] = setups.map(({ K, b, x, out }) => () => K.callRaw(f.kernel, out, b, x, k, dim, T));
        if (T === 1 && dim * nFf <= 1e6) {
          const K = simd;
          const bv = f.type === QUANT.F32 ? K.f32(setups[0]!.b, nFf * 3 * dim).slice() : K.u8(setups[0]!.b, nFf * 3 * rowBytes(f.type, dim)).slice();
          const xv = f.type === QUANT.F32 ? K.f32(setups[0]!.x, dim).slice() : K.u8(setups[0]!.x, rowBytes(QUANT.Q8_0, dim)).slice();
          const out = new Float32Array(dim);
          fns.push(() => f.ref(out as any, bv as any, xv as any, k, dim, 1));
        }
        const nHot = fns.length;
        if (T === 1) fns.push(cycling(coldBundles, (b) => simd.callRaw(f.kernel, setups[0]!.out, b, setups[0]!.x, k, dim, T)));
        const iStd = fns.length;
        fns.push(cycling(stdHot, std.run));
        if (T === 1) fns.push(cycling(stdCold, std.run));
        const ms = timeInterleaved(fns, ROUNDS, MIN_ROUND_MS);
        const wBytes = k * 3 * rowBytes(f.type, dim);
        const impls: Row['impl'][] = ['simd', 'scalar', 'ts-ref'];
        const stdMs = { hot: ms[iStd]!, cold: ms[iStd + 1] ?? NaN };
        ms.slice(0, iStd).forEach((t, i) => {
          const weights = i < nHot ? 'hot' : 'cold';
          const row = record(f.kernel, shape, i < nHot ? impls[i]! : 'simd', t, 2 * 3 * k * dim * T, wBytes, weights);
          if (row.impl === 'simd') row.vsStandard = stdMs[weights] / t;
        });
        if (density === 1) {
          const stdShape = `dim ${dim} n_ff ${nFf} T=${T}`;
          record(`ffn standard ${f.type.name}`, stdShape, 'simd', stdMs.hot, 2 * 3 * nFf * dim * T, stdBytes, 'hot');
          if (T === 1) record(`ffn standard ${f.type.name}`, stdShape, 'simd', stdMs.cold, 2 * 3 * nFf * dim * T, stdBytes, 'cold');
        }
      }
      simd.release(marks[0]!);
      scalar.release(marks[1]!);
    }
  }
}

// --- activation quantization and attention (per decode step)
if (!FILTER || 'quantize_row_q8_0'.includes(FILTER)) {
  for (const n of [576, 4864]) {
    const fns = [simd, scalar].map((K) => {
      const x = K.alloc(n * 4);
      K.f32(x, n).fill(0.5);
      const q = K.alloc(rowBytes(QUANT.Q8_0, n));
      return () => K.raw.quantize_row_q8_0(q, x, n);
    });
    const ms = timeInterleaved(fns, ROUNDS, MIN_ROUND_MS);
    record('quantize_row_q8_0', `n=${n}`, 'simd', ms[0]!, n, n * 4);
    record('quantize_row_q8_0', `n=${n}`, 'scalar', ms[1]!, n, n * 4);
  }
}
if (!FILTER || 'attention_f32'.includes(FILTER)) {
  const nHeads = 9, nKv = 3, hs = 64, nPos = 512;
  const fns = [simd, scalar].map((K) => {
    const q = K.alloc(nHeads * hs * 4);
    const kc = K.alloc(nPos * nKv * hs * 4);
    const vc = K.alloc(nPos * nKv * hs * 4);
    K.f32(q, nHeads * hs).fill(0.1);
    K.f32(kc, nPos * nKv * hs).fill(0.01);
    K.f32(vc, nPos * nKv * hs).fill(0.02);
    const att = K.alloc(nPos * 4);
    const out = K.alloc(nHeads * hs * 4);
    return () => K.raw.attention_f32(out, q, kc, vc, att, nHeads, nKv, hs, nPos);
  });
  const ms = timeInterleaved(fns, ROUNDS, MIN_ROUND_MS);
  const flops = 4 * nHeads * hs * nPos;
  const bytes = 2 * nPos * nKv * hs * 4;
  record('attention_f32', `9h/3kv ×64, 512 pos`, 'simd', ms[0]!, flops, bytes);
  record('attention_f32', `9h/3kv ×64, 512 pos`, 'scalar', ms[1]!, flops, bytes);
}

// --- report
const pad = (s: string, n: number) => s.padEnd(n);
const num = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`ifprune kernel benchmark — Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}, 1 thread`);
console.log(`memory-bandwidth ceiling (wasm streaming read of 256 MiB): ${ceilingGBs.toFixed(1)} GB/s\n`);
console.log(`${pad('kernel', 24)}${pad('shape', 26)}${pad('impl', 8)}${pad('weights', 8)}${'ms'.padStart(10)}${'GFLOP/s'.padStart(10)}${'GB/s(w)'.padStart(9)}${'%ceil'.padStart(7)}${'×scalar'.padStart(9)}${'×ts-ref'.padStart(9)}${'×matvec'.padStart(9)}${'×std'.padStart(7)}`);
for (const r of rows) {
  const same = rows.filter((o) => o.kernel === r.kernel && o.shape === r.shape && o.weights === r.weights);
  const sc = same.find((o) => o.impl === 'scalar');
  const tr = same.find((o) => o.impl === 'ts-ref');
  const vsScalar = r.impl === 'simd' && sc ? `${(sc.ms / r.ms).toFixed(1)}×` : '';
  const vsRef = r.impl === 'simd' && tr ? `${(tr.ms / r.ms).toFixed(1)}×` : '';
  const vsMatvec = r.vsMatvec ? `${r.vsMatvec.toFixed(2)}×` : '';
  const vsStandard = r.vsStandard ? `${r.vsStandard.toFixed(2)}×` : '';
  console.log(
    `${pad(r.kernel, 24)}${pad(r.shape, 26)}${pad(r.impl, 8)}${pad(r.weights, 8)}${num(r.ms, 4).padStart(10)}${num(r.gflops).padStart(10)}${num(r.weightGBs).padStart(9)}${num(r.ofCeiling * 100, 0).padStart(6)}%${vsScalar.padStart(9)}${vsRef.padStart(9)}${vsMatvec.padStart(9)}${vsStandard.padStart(7)}`,
  );
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const out = new URL('./results/kernels.json', import.meta.url);
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, quick: QUICK, ceilingGBs, rows }, null, 1));
console.log(`\nwrote ${out.pathname}`);
