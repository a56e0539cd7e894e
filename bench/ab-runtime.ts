/**
 * Two builds of the runtime, end to end, interleaved in one process (old against new):
 *   node --import tsx bench/ab-runtime.ts --old OLD.wasm [--new build/ifprune.simd.wasm] [--reps 3]
 *     [--standard FILE] [--bundled FILE] [--densities 1,0.25]
 * Build OLD.wasm from another commit: `git archive COMMIT assembly | tar -x -C DIR`, link node_modules into
 * DIR, then in DIR `node node_modules/assemblyscript/bin/asc.js assembly/runtime.ts --runtime incremental -O3
 * --noAssert --enable simd -o OLD.wasm`. Each rep opens every file with each build in turn (the same random
 * neuron sets for a bundled file, seeded by the rep), prefills a 128-token prompt and decodes 64 tokens
 * greedy; prints medians of prefill and decode tok/s by this process's CPU time, and new / old.
 */
import { readFileSync } from 'node:fs';
import { openRuntime } from '../src/runtime.ts';
import { fileSource } from '../src/sources/file.ts';
import { randomNeurons, cpuMs, median } from '../src/cli/bench.ts';
import type { PolicyName } from '../src/types.ts';
import { argValue } from './harness.ts';

const opt = argValue;
const oldWasm = opt('--old');
if (!oldWasm) {
  console.error('usage: node --import tsx bench/ab-runtime.ts --old OLD.wasm [--new NEW.wasm] [--reps N] [--standard FILE] [--bundled FILE] [--densities D,...]');
  process.exit(2);
}
const builds = { old: new WebAssembly.Module(readFileSync(oldWasm)), new: new WebAssembly.Module(readFileSync(opt('--new', 'build/ifprune.simd.wasm')!)) };
const REPS = Number(opt('--reps', '3'));
const rows: { file: string; bundled: boolean; density: number }[] = [];
const standard = opt('--standard', '/tmp/p3m/smollm2-135m-q8_0.gguf')!;
const bundled = opt('--bundled', '/tmp/p3m/smollm2-135m-q8_0.bundled.gguf')!;
if (standard !== 'none') rows.push({ file: standard, bundled: false, density: 1 });
if (bundled !== 'none') for (const d of opt('--densities', '1,0.25')!.split(',').map(Number)) rows.push({ file: bundled, bundled: true, density: d });

const words = 'the quick brown fox jumps over the lazy dog while a small model counts its neurons'.split(' ');
const got = new Map<string, { prefill: number[]; decode: number[] }>();
for (let rep = 0; rep < REPS; rep++) {
  for (const r of rows) {
    for (const v of ['old', 'new'] as const) {
      const m = await openRuntime(builds[v], await fileSource(r.file), { ffn: r.bundled ? 'selective' : 'dense' });
      if (r.bundled) {
        const neurons = randomNeurons(m.config.nLayers, m.config.hiddenDim, r.density, 1 + rep);
        await m.load({ policy: 'random' as PolicyName, density: r.density, neurons, promptIds: [], predictMs: 0, plan: { requests: 0, readBytes: 0, selectedBytes: 0 } });
      }
      let prompt = '';
      for (let i = 0; m.tokenizer.encode(prompt).length < 128; i++) prompt += (i ? ' ' : '') + words[i % words.length];
      const c0 = cpuMs();
      let c1 = NaN;
      let n = 0;
      for await (const _ of m.generate(prompt, { maxTokens: 64, temperature: 0, stop: [] })) {
        if (Number.isNaN(c1)) c1 = cpuMs();
        n++;
      }
      const c2 = cpuMs();
      const k = `${r.file} ${r.density} ${v}`;
      const s = got.get(k) ?? { prefill: [], decode: [] };
      s.prefill.push(m.stats().promptTokens / ((c1 - c0) / 1000));
      s.decode.push((n - 1) / ((c2 - c1) / 1000));
      got.set(k, s);
      await m.close();
    }
  }
}
console.log(`old ${oldWasm} against new, ${REPS} interleaved reps, medians of CPU-time tok/s`);
for (const r of rows) {
  const o = got.get(`${r.file} ${r.density} old`)!;
  const n = got.get(`${r.file} ${r.density} new`)!;
  const line = (what: 'prefill' | 'decode') => `${what} ${median(o[what]).toFixed(1)} -> ${median(n[what]).toFixed(1)} (${(median(n[what]) / median(o[what])).toFixed(2)}x)`;
  console.log(`${r.file} density ${r.density}: ${line('prefill')}; ${line('decode')}`);
}
