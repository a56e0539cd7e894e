/**
 * Pruning benchmark: `npm run bench:pruning` (or `node --import tsx bench/pruning.ts [--model M]
 * [--prompts N]`).
 *
 * On the bundled ifp-demo model (selective loading) for eval prompts of every domain:
 *   - TTFT split (tokenize / predict / load / prefill) per policy and density, and the predictor's share
 *     of TTFT;
 *   - decode tok/s and the FFN's share at densities 1, 0.5, 0.25;
 *   - the masked FFN kernel alone at k = n_ff and n_ff/4 (the same process, interleaved rounds, CPU time),
 *     at the demo's shape and at SmolLM2-135M's (dim 576, n_ff 1536), Q8_0, against the standard layout's
 *     dense FFN on the same shape (×standard ≥ 1 at k = n_ff is issue #11's parity).
 * Prints tables; writes bench/results/pruning.json. Wall-clock: run on a quiet machine.
 */
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { open, loadKernels } from '../src/platform/node.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { QUANT, rowBytes } from '../src/formats/quant.ts';
import type { PolicyName } from '../src/types.ts';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const modelPath = opt('model', fileURLToPath(new URL('../models/ifp-demo/ifp-demo.q8_0.gguf', import.meta.url)));
const nPrompts = Number(opt('prompts', '3'));
const evalDir = fileURLToPath(new URL('../models/ifp-demo/eval-sample/', import.meta.url));
const DOMAINS = ['python', 'javascript', 'english', 'german', 'arithmetic', 'manpages'];

const prompts: string[] = [];
for (const d of DOMAINS) {
  const f = `${evalDir}${d}.jsonl`;
  if (!existsSync(f)) continue;
  for (const line of readFileSync(f, 'utf8').trim().split('\n').slice(0, nPrompts)) prompts.push((JSON.parse(line) as { prompt: string }).prompt);
}
if (!prompts.length) throw new Error(`no eval prompts found in ${evalDir}`);

interface TtftRow { policy: PolicyName; density: number; ttftMs: number; tokenizeMs: number; predictMs: number; loadMs: number; prefillMs: number; predictShare: number; decodeTokS: number; neuronKiB: number }
const ttftRows: TtftRow[] = [];
const cases: [PolicyName, number][] = [['dense', 1], ['learned', 0.5], ['learned', 0.25], ['static', 0.25], ['prompt', 0.25]];
{
  // warm up the JIT
  const m = await open(modelPath, { ffn: 'selective' });
  for await (const _ of m.generate(prompts[0]!, { temperature: 0, maxTokens: 4, density: 0.25 })) void _;
  await m.close();
}
for (const [policy, density] of cases) {
  const acc = { ttftMs: 0, tokenizeMs: 0, predictMs: 0, loadMs: 0, prefillMs: 0, decodeTokS: 0, neuronKiB: 0 };
  for (const p of prompts) {
    // A fresh model per prompt: an empty neuron cache, so TTFT includes loading the neurons from the file.
    const model = await open(modelPath, { ffn: 'selective' });
    for await (const _ of model.generate(p, { temperature: 0, maxTokens: 32, density, policy })) void _;
    const s = model.stats();
    await model.close();
    acc.ttftMs += s.ttftMs;
    acc.tokenizeMs += s.tokenizeMs;
    acc.predictMs += s.predictMs;
    acc.loadMs += s.loadNeuronsMs;
    acc.prefillMs += s.prefillMs;
    acc.decodeTokS += s.decodeTokPerS;
    acc.neuronKiB += s.neuronBytesRead / 1024;
  }
  const n = prompts.length;
  const row: TtftRow = {
    policy, density,
    ttftMs: acc.ttftMs / n, tokenizeMs: acc.tokenizeMs / n, predictMs: acc.predictMs / n, loadMs: acc.loadMs / n, prefillMs: acc.prefillMs / n,
    predictShare: acc.predictMs / acc.ttftMs, decodeTokS: acc.decodeTokS / n, neuronKiB: acc.neuronKiB / n,
  };
  ttftRows.push(row);
}
console.log(`TTFT and decode on ${modelPath.split('/').pop()} (${prompts.length} eval prompts, each on a freshly opened model: neuron cache empty)`);
console.log('policy    density  TTFT ms  tokenize  predict  load   prefill  predict/TTFT  decode tok/s  neuron KiB');
for (const r of ttftRows) {
  console.log(
    `${r.policy.padEnd(9)} ${r.density.toFixed(2).padStart(7)} ${r.ttftMs.toFixed(2).padStart(8)} ${r.tokenizeMs.toFixed(2).padStart(9)} ${r.predictMs.toFixed(2).padStart(8)} ` +
      `${r.loadMs.toFixed(2).padStart(6)} ${r.prefillMs.toFixed(2).padStart(8)} ${(r.predictShare * 100).toFixed(1).padStart(11)}% ${r.decodeTokS.toFixed(0).padStart(13)} ${r.neuronKiB.toFixed(0).padStart(11)}`,
  );
}

// The masked FFN kernel alone: k = n_ff vs n_ff / 4, interleaved rounds, best round.
const K = await Kernels.create(await loadKernels('simd'));
interface FfnRow { shape: string; k: number; ms: number; vsDense: number; standardMs: number; vsStandard: number }
const ffnRows: FfnRow[] = [];
for (const [dim, nff] of [[192, 768], [576, 1536]] as const) {
  const rb = rowBytes(QUANT.Q8_0, 3 * dim);
  const copies = Math.max(1, Math.ceil((96 << 20) / (nff * rb))); // cold: cycle through > L3
  const w = Array.from({ length: copies }, () => {
    const p = K.alloc(nff * rb);
    const u = K.u8(p, nff * rb);
    for (let i = 0; i < u.length; i++) u[i] = (i * 131 + 7) & 0x3f; // small scales (fp16 bytes < 0x40)
    return p;
  });
  const x = K.alloc(rowBytes(QUANT.Q8_0, dim));
  K.u8(x, rowBytes(QUANT.Q8_0, dim)).fill(3);
  const out = K.alloc(dim * 4);
  // the standard layout's dense FFN on the same shape, as the engines run it (matvec gate, up; silu·up;
  // quantize; matvec down; residual add), over the same 96 MiB of weight copies
  const gB = nff * rowBytes(QUANT.Q8_0, dim), dB = dim * rowBytes(QUANT.Q8_0, nff);
  const std = Array.from({ length: Math.max(1, Math.ceil((96 << 20) / (2 * gB + dB))) }, () => {
    const p = K.alloc(2 * gB + dB);
    const u = K.u8(p, 2 * gB + dB);
    for (let i = 0; i < u.length; i++) u[i] = (i * 131 + 7) & 0x3f;
    return p;
  });
  const h1 = K.alloc(nff * 4), h3 = K.alloc(nff * 4), hq = K.alloc(rowBytes(QUANT.Q8_0, nff)), xb = K.alloc(dim * 4);
  const standard = (p: number) => {
    K.raw.matvec_q8_0_q8_0(h1, p, x, nff, dim);
    K.raw.matvec_q8_0_q8_0(h3, p + gB, x, nff, dim);
    K.raw.silu_f32(h1, nff);
    K.raw.mul_f32(h1, h3, nff);
    K.raw.quantize_row_q8_0(hq, h1, nff);
    K.raw.matvec_q8_0_q8_0(xb, p + 2 * gB, hq, dim, nff);
    K.raw.add_f32(out, xb, dim);
  };
  const ks = [nff, nff / 4];
  const best = ks.map(() => Infinity);
  let bestStd = Infinity;
  const cpuMs = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 1000;
  };
  // interleaved rounds, CPU time (a busy neighbour's time does not count), best round
  for (let round = 0; round < 7; round++) {
    ks.forEach((k, i) => {
      const t0 = cpuMs();
      let n = 0;
      while (cpuMs() - t0 < 30) for (const p of w) (K.raw.ffn_swiglu_masked_q8_0(out, p, x, k, dim, 1), n++);
      best[i] = Math.min(best[i]!, (cpuMs() - t0) / n);
    });
    const t0 = cpuMs();
    let n = 0;
    while (cpuMs() - t0 < 30) for (const p of std) (standard(p), n++);
    bestStd = Math.min(bestStd, (cpuMs() - t0) / n);
  }
  ks.forEach((k, i) => ffnRows.push({ shape: `dim ${dim}, n_ff ${nff}`, k, ms: best[i]!, vsDense: best[0]! / best[i]!, standardMs: bestStd, vsStandard: bestStd / best[i]! }));
}
console.log('\nmasked FFN kernel (Q8_0, T = 1, weights cycling through 96 MiB) and the standard layout\'s dense FFN');
for (const r of ffnRows) {
  console.log(
    `${r.shape.padEnd(20)} k ${String(r.k).padStart(5)}  ${(r.ms * 1000).toFixed(1).padStart(8)} µs  ${r.vsDense.toFixed(2)}× faster than k = n_ff, ` +
      `${r.vsStandard.toFixed(2)}× the standard layout (${(r.standardMs * 1000).toFixed(1)} µs)`,
  );
}

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/pruning.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, model: modelPath, prompts: prompts.length, ttft: ttftRows, ffn: ffnRows }, null, 1));
