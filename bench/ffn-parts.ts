/**
 * Where the masked FFN's time goes: `node --import tsx bench/ffn-parts.ts [--rounds N] [--base FILE]`.
 *
 * Builds three variants of the SIMD kernels from assembly/ (into a temporary directory, by inserting an
 * early return into one phase of assembly/ffn.ts ffn_groups_q) and times, in the same interleaved rounds
 * (CPU time, best round; see bench/kernels.ts), the Q8_0 masked FFN at k = n_ff and the standard layout's
 * FFN split the same way:
 *
 *   masked  full        the kernel as built (build/kernels.simd.wasm), at k = n_ff, n_ff / 2, n_ff / 4
 *           base        with --base FILE: another build of the kernels (a copy of an older
 *                       build/kernels.simd.wasm), at the same k: before/after in one process
 *           h only      gate/up dots and silu (the down sums replaced by a 16-byte store)
 *           down only   the down sums (h replaced by 16 loads of the bundle bytes)
 *           touch only  neither: what is left is the sweep that touches the next group of bundles
 *   std     gate+up     two matvecs (T = 1) or matmuls (T > 1) over ffn_gate and ffn_up
 *           act         silu, multiply, quantize h to Q8_0
 *           down        the matvec / matmul over ffn_down, plus the residual add
 *
 * Decode (T = 1) cycles through weight copies totalling ≥ 96 MiB (from DRAM, as in generation); prefill
 * (T = 32) repeats one copy. Prints a table and writes bench/results/ffn-parts.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernels } from '../src/engine/kernels.ts';
import { QUANT, rowBytes } from '../src/formats/quant.ts';
import { randomWeights, activations, cycling, timeInterleaved, withEarlyReturn, buildVariant } from './harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const roundsIdx = args.indexOf('--rounds');
const ROUNDS = roundsIdx >= 0 ? Number(args[roundsIdx + 1]) : 5;
const baseIdx = args.indexOf('--base');
const BASE = baseIdx >= 0 ? args[baseIdx + 1]! : '';
const DENSITIES = [1, 0.5, 0.25];
const MIN_ROUND_MS = 25;
const COLD_BYTES = 96 * 2 ** 20;
const type = QUANT.Q8_0;

// --- the variants: an early return at the top of one phase's dispatcher (h_call, down_call)
const HEAD_H = '@inline function h_call(';
const HEAD_DOWN = '@inline function down_call(';
const STUB_H = 'for (let i = 0; i < 16; i++) v128.store(H + (<usize>i << 4), f32x4.convert_i32x4_s(v128.load(g + <usize>i * 3 * partBytes, 2))); return;';
const STUB_DOWN = 'v128.store(out, f32x4.add(v128.load(out), v128.load(H))); return;';

const tmp = mkdtempSync(join(tmpdir(), 'ifprune-ffn-parts-'));
const ffnSrc = readFileSync(join(root, 'assembly', 'ffn.ts'), 'utf8');
const files: [string, string][] = [
  ['full', join(root, 'build', 'kernels.simd.wasm')],
  ['h only', buildVariant(tmp, 'h-only', { 'ffn.ts': withEarlyReturn(ffnSrc, HEAD_DOWN, STUB_DOWN) })],
  ['down only', buildVariant(tmp, 'down-only', { 'ffn.ts': withEarlyReturn(ffnSrc, HEAD_H, STUB_H) })],
  ['touch only', buildVariant(tmp, 'touch-only', { 'ffn.ts': withEarlyReturn(withEarlyReturn(ffnSrc, HEAD_DOWN, STUB_DOWN), HEAD_H, STUB_H) })],
];
if (BASE) files.push(['base', BASE]);
const Ks = await Promise.all(files.map(([, f]) => Kernels.create(new WebAssembly.Module(readFileSync(f)))));
rmSync(tmp, { recursive: true, force: true });

interface Row {
  dim: number;
  nFf: number;
  T: number;
  weights: 'hot' | 'cold';
  part: string;
  ms: number;
}
const rows: Row[] = [];

for (const [dim, nFf] of [[576, 1536], [896, 4864]] as const) {
  for (const T of [1, 32]) {
    const cold = T === 1;
    const weights = cold ? 'cold' : 'hot';
    const copies = cold ? Math.ceil(COLD_BYTES / (3 * nFf * rowBytes(type, dim))) : 1;
    const marks = Ks.map((K) => K.mark());
    // (part name, call): the full and base builds at every density, the stubbed variants at k = n_ff
    const calls: [string, () => unknown][] = [];
    Ks.forEach((K, i) => {
      const bs = Array.from({ length: copies }, (_, c) => randomWeights(K, type, 3 * nFf, dim, 11 + c));
      const x = activations(K, type, T, dim);
      const out = K.alloc(T * dim * 4);
      const name = files[i]![0];
      const ds = name === 'full' || name === 'base' ? DENSITIES : [1];
      for (const d of ds) {
        const k = Math.round(nFf * d);
        calls.push([d === 1 ? `masked ${name}` : `masked ${name} k=${k}`, cycling(bs, (b) => K.raw.ffn_swiglu_masked_q8_0(out, b, x, k, dim, T))]);
      }
    });
    const fns = calls.map(([, f]) => f);
    // the standard layout on the full build
    const K = Ks[0]!;
    const lin = (o: number, w: number, xin: number, r: number, c: number) => (T === 1 ? K.raw.matvec_q8_0_q8_0(o, w, xin, r, c) : K.raw.matmul_q8_0_q8_0(o, w, xin, r, c, T));
    const h1 = K.alloc(T * nFf * 4);
    const h3 = K.alloc(T * nFf * 4);
    const hq = K.alloc(T * rowBytes(QUANT.Q8_0, nFf));
    const xb = K.alloc(T * dim * 4);
    const x = activations(K, type, T, dim);
    const out = K.alloc(T * dim * 4);
    const W = Array.from({ length: copies }, (_, i) => [randomWeights(K, type, nFf, dim, 40 + 3 * i), randomWeights(K, type, nFf, dim, 41 + 3 * i), randomWeights(K, type, dim, nFf, 42 + 3 * i)]);
    fns.push(
      cycling(W, ([w1, w3]) => {
        lin(h1, w1!, x, nFf, dim);
        lin(h3, w3!, x, nFf, dim);
      }),
    );
    fns.push(() => {
      K.raw.silu_f32(h1, T * nFf);
      K.raw.mul_f32(h1, h3, T * nFf);
      K.raw.quantize_row_q8_0(hq, h1, T * nFf);
    });
    fns.push(
      cycling(W, ([, , w2]) => {
        lin(xb, w2!, hq, dim, nFf);
        K.raw.add_f32(out, xb, T * dim);
      }),
    );
    const ms = timeInterleaved(fns, ROUNDS, MIN_ROUND_MS);
    const parts = [...calls.map(([name]) => name), 'std gate+up', 'std act', 'std down'];
    parts.forEach((part, i) => rows.push({ dim, nFf, T, weights, part, ms: ms[i]! }));
    Ks.forEach((k, i) => k.release(marks[i]!));
  }
}

console.log(`masked FFN parts — Q8_0, k = n_ff, Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'}, 1 thread, best of ${ROUNDS} interleaved rounds (CPU time)\n`);
console.log(`${'shape'.padEnd(32)}${'part'.padEnd(24)}${'ms'.padStart(10)}`);
for (const r of rows) console.log(`${`dim ${r.dim} n_ff ${r.nFf} T=${r.T} ${r.weights}`.padEnd(32)}${r.part.padEnd(24)}${r.ms.toFixed(4).padStart(10)}`);
for (const [dim, nFf] of [[576, 1536], [896, 4864]] as const) {
  for (const T of [1, 32]) {
    const of = (part: string) => rows.find((r) => r.dim === dim && r.T === T && r.part === part)!.ms;
    const std = of('std gate+up') + of('std act') + of('std down');
    const ratios = (name: string) =>
      DENSITIES.map((d) => {
        const part = d === 1 ? `masked ${name}` : `masked ${name} k=${Math.round(nFf * d)}`;
        return `${d}: ${(std / of(part)).toFixed(2)}`;
      }).join(', ');
    console.log(`dim ${dim} T=${T}: standard (sum of parts) ${std.toFixed(3)} ms; ×std at density ${ratios('full')}${BASE ? `; base ${ratios('base')}` : ''}`);
  }
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const outFile = new URL('./results/ffn-parts.json', import.meta.url);
writeFileSync(outFile, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, rounds: ROUNDS, rows }, null, 1));
console.log(`\nwrote ${outFile.pathname}`);
