/**
 * The relaxed-SIMD kernel build against the SIMD build (docs/relaxed-simd.md): matvec (decode) from DRAM for
 * Q8_0 and Q4_0 weights at the SmolLM2-135M shapes (576×1536, 1536×576, 576×49152) and the Qwen2.5-0.5B ones
 * (896×4864, 4864×896), and matmul over a 32-token tile (prefill, weights in cache); then the masked FFN over
 * grouped bundles (ffn_swiglu_grouped_*, the pruned path) at density 1, decode from DRAM and a 32-token
 * prefill, at dim 576 / n_ff 1536 and 896 / 4864. Node 20 needs the flag:
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/relaxed.ts [--rounds N] [--types q8_0,q4_0]
 *        [--extra NAME=FILE.wasm] [--out FILE]
 *
 * Decode cycles through weight copies totalling ≥ 96 MiB per build, so every call reads its weights from
 * DRAM as generation does. Builds run in interleaved rounds in one process; CPU time, best round
 * (bench/harness.ts). `--extra` adds another kernel module as a third column (e.g. a relaxed build with
 * dot.ts RELAXED_Q8 = true). Prints a table (ms per call, ×simd = simd time / this build's) and writes JSON
 * (default bench/results/relaxed.json).
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
const ROUNDS = Number(opt('--rounds', '6'));
const TYPES = opt('--types', 'q8_0,q4_0').split(',').map((t) => ({ q8_0: QUANT.Q8_0, q4_0: QUANT.Q4_0 })[t as 'q8_0' | 'q4_0'] ?? (() => { throw new Error(`--types: ${t} is not q8_0 or q4_0`); })());
const OUT = opt('--out', join(root, 'bench', 'results', 'relaxed.json'));
const COLD_BYTES = 96 * 2 ** 20;
const PREFILL_T = 32;

const builds: [string, string][] = [
  ['simd', join(root, 'build', 'kernels.simd.wasm')],
  ['relaxed', join(root, 'build', 'kernels.relaxed.wasm')],
];
if (args.includes('--extra')) {
  const [name, file] = opt('--extra', '').split('=');
  if (!name || !file) throw new Error('--extra takes NAME=FILE.wasm');
  builds.push([name, file]);
}
let Ks: Kernels[];
try {
  Ks = await Promise.all(builds.map(async ([, f]) => Kernels.create(await WebAssembly.compile(readFileSync(f)))));
} catch (e) {
  console.error(`cannot compile the kernel builds (${(e as Error).message}); Node 20 needs --experimental-wasm-relaxed-simd`);
  process.exit(1);
}

const SHAPES = [
  ['135M ffn up', 1536, 576],
  ['135M ffn down', 576, 1536],
  ['135M classifier', 49152, 576],
  ['0.5B ffn up', 4864, 896],
  ['0.5B ffn down', 896, 4864],
] as const;

const rows: Record<string, unknown>[] = [];
const names = builds.map(([n]) => n);
console.log(`relaxed vs SIMD kernels — best of ${ROUNDS} interleaved rounds, CPU time, ms per call (×simd: simd ms / build ms)`);
console.log(`| type | shape (rows×cols) | op | ${names.join(' | ')} |`);
console.log(`|---|---|---|${names.map(() => '---|').join('')}`);
for (const type of TYPES) {
  const tag = type === QUANT.Q4_0 ? 'q4_0' : 'q8_0';
  for (const [label, nRows, cols] of SHAPES) {
    for (const T of [1, PREFILL_T]) {
      const wBytes = nRows * rowBytes(type, cols);
      const copies = T === 1 ? Math.max(1, Math.ceil(COLD_BYTES / wBytes)) : 1;
      const marks = Ks.map((K) => K.mark());
      const calls = Ks.map((K) => {
        const ws = Array.from({ length: copies }, (_, c) => randomWeights(K, type, nRows, cols, 7 + c));
        const x = activations(K, type, T, cols);
        const out = K.alloc(T * nRows * 4);
        const mv = type === QUANT.Q4_0 ? K.raw.matvec_q4_0_q8_0 : K.raw.matvec_q8_0_q8_0;
        const mm = type === QUANT.Q4_0 ? K.raw.matmul_q4_0_q8_0 : K.raw.matmul_q8_0_q8_0;
        return cycling(ws, T === 1 ? (w) => mv(out, w, x, nRows, cols) : (w) => mm(out, w, x, nRows, cols, T));
      });
      const ms = timeInterleaved(calls, ROUNDS, 25);
      const op = T === 1 ? 'matvec (DRAM)' : `matmul T=${T}`;
      const row: Record<string, unknown> = { type: tag, shape: label, rows: nRows, cols, T, copies };
      names.forEach((n, i) => (row[`${n}Ms`] = ms[i]));
      rows.push(row);
      const cells = ms.map((m, i) => (i === 0 ? m.toFixed(3) : `${m.toFixed(3)} (${(ms[0]! / m).toFixed(2)}×)`));
      console.log(`| ${tag} | ${label} ${nRows}×${cols} | ${op} | ${cells.join(' | ')} |`);
      Ks.forEach((K, i) => K.release(marks[i]!));
    }
  }
  for (const [label, dim, nFf] of [['135M', 576, 1536], ['0.5B', 896, 4864]] as const) {
    for (const T of [1, PREFILL_T]) {
      const setBytes = 3 * nFf * rowBytes(type, dim);
      const copies = T === 1 ? Math.max(1, Math.ceil(COLD_BYTES / setBytes)) : 1;
      const marks = Ks.map((K) => K.mark());
      const calls = Ks.map((K) => {
        // grouped sets of all n_ff bundles, as the runtime's neuron loader writes them
        const sets = Array.from({ length: copies }, (_, c) => {
          const plain = randomWeights(K, type, 3 * nFf, dim, 70 + c);
          const g = K.alloc(setBytes);
          K.raw.bundles_regroup(g, plain, nFf, dim, type.blockBytes, 1);
          return g;
        });
        const x = activations(K, type, T, dim);
        const out = K.alloc(T * dim * 4);
        const ffn = type === QUANT.Q4_0 ? K.raw.ffn_swiglu_grouped_q4_0 : K.raw.ffn_swiglu_grouped_q8_0;
        return cycling(sets, (b) => ffn(out, b, x, nFf, dim, T));
      });
      const ms = timeInterleaved(calls, ROUNDS, 25);
      const row: Record<string, unknown> = { type: tag, shape: `${label} ffn grouped`, dim, nFf, T, copies };
      names.forEach((n, i) => (row[`${n}Ms`] = ms[i]));
      rows.push(row);
      const cells = ms.map((m, i) => (i === 0 ? m.toFixed(3) : `${m.toFixed(3)} (${(ms[0]! / m).toFixed(2)}×)`));
      console.log(`| ${tag} | ${label} masked FFN, grouped, ${dim}×${nFf} | ${T === 1 ? 'decode (DRAM)' : `prefill T=${T}`} | ${cells.join(' | ')} |`);
      Ks.forEach((K, i) => K.release(marks[i]!));
    }
  }
}
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds: ROUNDS, builds: names, rows }, null, 2) + '\n');
console.log(`wrote ${OUT}`);
