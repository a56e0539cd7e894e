/**
 * The wasm runtime against the TypeScript engine it replaced (src/engine/engine.ts, now the test oracle
 * and the offline tools' engine), in one process, rounds interleaved, timed by this process's CPU time
 * (process.cpuUsage: what other jobs on a shared machine do does not count). Same model, same kernels,
 * same greedy ids; the difference is who drives the kernels: JS calling ~15 exports per layer per token, or
 * the runtime calling them inside wasm.
 *
 *   node --import tsx bench/engines.ts [--rounds N] [--keep DIR]
 *
 * Model: a random SmolLM2-135M-shaped Q8_0 GGUF (tools/random-model.ts). Prefill of a 128-token prompt
 * (4 tiles) and 64 greedy decode steps. Prints a table and writes bench/results/engines.json.
 */
import { writeFileSync, mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { open, loadKernels, fileSource } from '../src/platform/node.ts';
import { openModel } from '../src/formats/model.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { Engine, TILE } from '../src/engine/engine.ts';
import { writeRandomModel, SHAPES } from '../tools/random-model.ts';
import { argValue } from './harness.ts';

const args = process.argv.slice(2);
const opt = argValue;
const ROUNDS = Number(opt('--rounds', '3'));
const keep = args.includes('--keep');
const dir = keep ? opt('--keep', '') : mkdtempSync(join(tmpdir(), 'ifprune-bench-'));
mkdirSync(dir, { recursive: true });
const path = join(dir, 'smollm2-135m-random-q8_0.gguf');
if (!existsSync(path)) {
  process.stderr.write(`generating ${path} ...\n`);
  await writeRandomModel(path, { ...SHAPES['smollm2-135m'], type: 'q8_0' });
}
const PREFILL = 128;
const DECODE = 64;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// The runtime (the public API).
const model = await open(path, { contextLength: 512 });
const ids = Array.from({ length: PREFILL }, (_, i) => 1 + ((i * 7919) % 4000));
const prompt = model.tokenizer.decode(ids);
const promptIds = model.tokenizer.encode(prompt);

// The TS engine over the kernel module, on the same file.
const spec = await openModel(await fileSource(path));
const engine = await Engine.load(await Kernels.create(await loadKernels('simd')), spec, { contextLength: 512 });

interface Sample { prefillTokS: number; decodeTokS: number }
async function runtimeRound(): Promise<Sample> {
  let t = cpuMs();
  let first = true;
  let prefillMs = 0;
  let n = 0;
  for await (const _ of model.generate(prompt, { temperature: 0, maxTokens: DECODE + 1, bos: false })) {
    void _;
    if (first) (prefillMs = cpuMs() - t), (first = false), (t = cpuMs());
    else n++;
  }
  return { prefillTokS: promptIds.length / (prefillMs / 1000), decodeTokS: n / ((cpuMs() - t) / 1000) };
}
function tsRound(): Sample {
  engine.reset();
  let t = cpuMs();
  let logits!: Float32Array;
  for (let i = 0; i < promptIds.length; i += TILE) logits = engine.forward(promptIds.slice(i, i + TILE));
  const argmax = (l: Float32Array) => l.reduce((b, v, i, a) => (v > a[b]! ? i : b), 0);
  let next = argmax(logits);
  const prefillMs = cpuMs() - t;
  t = cpuMs();
  for (let i = 0; i < DECODE; i++) next = argmax(engine.forward([next]));
  return { prefillTokS: promptIds.length / (prefillMs / 1000), decodeTokS: DECODE / ((cpuMs() - t) / 1000) };
}

await runtimeRound(); // warm up both (JIT, page-in)
tsRound();
const rows: { engine: string; round: number; prefillTokS: number; decodeTokS: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  rows.push({ engine: 'TS engine', round: r, ...tsRound() });
  rows.push({ engine: 'wasm runtime', round: r, ...(await runtimeRound()) });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = ['TS engine', 'wasm runtime'].map((e) => {
  const rs = rows.filter((r) => r.engine === e);
  return { engine: e, prefillTokS: median(rs.map((r) => r.prefillTokS)), decodeTokS: median(rs.map((r) => r.decodeTokS)) };
});
console.log(`SmolLM2-135M-shape random Q8_0, ${promptIds.length}-token prefill, ${DECODE} decode steps, ${ROUNDS} interleaved rounds, CPU-time medians`);
for (const s of summary) console.log(`${s.engine.padEnd(14)} prefill ${s.prefillTokS.toFixed(1).padStart(7)} tok/s   decode ${s.decodeTokS.toFixed(1).padStart(7)} tok/s`);
console.log(`ratio (runtime / TS): prefill ${(summary[1]!.prefillTokS / summary[0]!.prefillTokS).toFixed(3)}, decode ${(summary[1]!.decodeTokS / summary[0]!.decodeTokS).toFixed(3)}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/engines.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, rows, summary }, null, 1));
await model.close();
if (!keep) rmSync(dir, { recursive: true, force: true });
