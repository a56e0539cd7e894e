/**
 * The masked FFN over the runtime's grouped layout (assembly/grouped.ts) against the same bundles as plain
 * rows and against the standard layout's FFN, at the SmolLM2-135M (dim 576, n_ff 1536) and Qwen2.5-0.5B
 * (dim 896, n_ff 4864) shapes. `node --import tsx bench/ffn-grouped.ts [--rounds N] [--types q8_0,q4_0]
 * [--out FILE]`.
 *
 * Decode (T = 1) cycles through weight copies totalling ≥ 96 MiB, so every call reads its weights from
 * DRAM as generation does; prefill (T = 32) repeats one copy. The three variants run in interleaved
 * rounds; CPU time, best round. ×std = the standard FFN's time over the variant's (≥ 1 at density 1 is
 * parity). The standard layout does not prune: it runs dense at every density. Prints a table and writes
 * JSON (default bench/results/ffn-grouped.json).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernels } from '../src/engine/kernels.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';
import { randomWeights, activations, cycling, timeInterleaved, argValue } from './harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = argValue;
const ROUNDS = Number(opt('--rounds', '8'));
const TYPES = opt('--types', 'q8_0,q4_0').split(',').map((t) => ({ q8_0: QUANT.Q8_0, q4_0: QUANT.Q4_0 })[t as 'q8_0' | 'q4_0'] ?? (() => { throw new Error(`--types: ${t} is not q8_0 or q4_0`); })());
const OUT = opt('--out', join(root, 'bench', 'results', 'ffn-grouped.json'));
const COLD_BYTES = 96 * 2 ** 20;
/** --cold-prefill: prefill from DRAM too (as the runtime runs it: a layer's FFN is cold when its turn comes). */
const COLD_PREFILL = args.includes('--cold-prefill');

const K = await Kernels.create(new WebAssembly.Module(readFileSync(join(root, 'build', 'kernels.simd.wasm'))));
const rows: Record<string, unknown>[] = [];
console.log(`masked FFN: grouped vs plain bundles vs the standard layout — best of ${ROUNDS} interleaved rounds, CPU time, ms per call`);
console.log('| type | shape | T | density | standard | plain (×std) | grouped (×std) | grouped / plain |');
console.log('|---|---|---|---|---|---|---|---|');
for (const type of TYPES) {
  const q4 = type === QUANT.Q4_0;
  const tag = q4 ? 'q4_0' : 'q8_0';
  const matvec = q4 ? K.raw.matvec_q4_0_q8_0 : K.raw.matvec_q8_0_q8_0;
  const matmul = q4 ? K.raw.matmul_q4_0_q8_0 : K.raw.matmul_q8_0_q8_0;
  const masked = q4 ? K.raw.ffn_swiglu_masked_q4_0 : K.raw.ffn_swiglu_masked_q8_0;
  const grouped = q4 ? K.raw.ffn_swiglu_grouped_q4_0 : K.raw.ffn_swiglu_grouped_q8_0;
  for (const [shape, dim, nFf] of [['135M', 576, 1536], ['0.5B', 896, 4864]] as const) {
    for (const T of COLD_PREFILL ? [32] : [1, 32]) {
      const m = K.mark();
      const bundleBytes = 3 * nFf * rowBytes(type, dim);
      const copies = T === 1 || COLD_PREFILL ? Math.ceil(COLD_BYTES / bundleBytes) : 1;
      const plain: number[] = [];
      for (let c = 0; c < copies; c++) plain.push(randomWeights(K, type, 3 * nFf, dim, 11 + c));
      const std = Array.from({ length: copies }, (_, i) => [randomWeights(K, type, nFf, dim, 40 + 3 * i), randomWeights(K, type, nFf, dim, 41 + 3 * i), randomWeights(K, type, dim, nFf, 42 + 3 * i)]);
      const x = activations(K, type, T, dim);
      const out = K.alloc(T * dim * 4);
      const h1 = K.alloc(T * nFf * 4);
      const h3 = K.alloc(T * nFf * 4);
      const hq = K.alloc(T * rowBytes(QUANT.Q8_0, nFf));
      const xb = K.alloc(T * dim * 4);
      const standard = ([w1, w3, w2]: number[]) => {
        if (T === 1) {
          matvec(h1, w1!, x, nFf, dim);
          matvec(h3, w3!, x, nFf, dim);
        } else {
          matmul(h1, w1!, x, nFf, dim, T);
          matmul(h3, w3!, x, nFf, dim, T);
        }
        K.raw.silu_f32(h1, T * nFf);
        K.raw.mul_f32(h1, h3, T * nFf);
        K.raw.quantize_row_q8_0(hq, h1, T * nFf);
        if (T === 1) matvec(xb, w2!, hq, dim, nFf);
        else matmul(xb, w2!, hq, dim, nFf, T);
        K.raw.add_f32(out, xb, T * dim);
      };
      for (const density of [1, 0.5, 0.25]) {
        const k = Math.round(nFf * density);
        // a grouped set of k bundles, as the runtime's neuron loader writes it
        const groupedSets = plain.map((p) => {
          const g = K.alloc(k * 3 * rowBytes(type, dim));
          K.raw.bundles_regroup(g, p, k, dim, type.blockBytes, 1);
          return g;
        });
        const [s, p, g] = timeInterleaved(
          [cycling(std, standard), cycling(plain, (b) => masked(out, b, x, k, dim, T)), cycling(groupedSets, (b) => grouped(out, b, x, k, dim, T))],
          ROUNDS,
          25,
        ) as [number, number, number];
        rows.push({ type: tag, shape, dim, nFf, T, density, k, standardMs: s, plainMs: p, groupedMs: g, plainXStd: s / p, groupedXStd: s / g });
        console.log(`| ${tag} | ${shape} | ${T} | ${density} | ${s.toFixed(3)} | ${p.toFixed(3)} (${(s / p).toFixed(2)}) | ${g.toFixed(3)} (${(s / g).toFixed(2)}) | ${(p / g).toFixed(2)}× |`);
      }
      K.release(m);
    }
  }
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, rows }, null, 2) + '\n');
console.log(`wrote ${OUT}`);
