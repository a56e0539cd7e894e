/**
 * Where the time goes, per wasm function: `node --import tsx bench/profile.ts -m MODEL.gguf [--density D]
 * [--prompt-tokens 128] [--tokens 64] [--reps 3] [--ffn dense|selective] [--wasm FILE] [--out FILE]`.
 *
 * Builds the SIMD runtime once more with function names kept (asc --debug adds a name section; the code
 * is the same -O3 build), opens the model on it, and runs two generations per rep under V8's sampling
 * profiler (node:inspector, 100 µs): the prompt with 1 new token (prefill + the first sample) and the
 * prompt with N + 1 new tokens. Self time per function, summed over reps: prefill = the first run, decode =
 * the second minus the first, per token. Kernels that are @inline helpers appear inside their caller;
 * the masked FFN's group helpers (h16*, down16*) are their own functions and are listed under it. Prints
 * a table per phase (top functions, ms per token, share) and writes JSON (default
 * bench/results/profile.json). CPU samples, so another process's load does not add to them.
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session } from 'node:inspector/promises';
import { openRuntime } from '../src/runtime.ts';
import { fileSource } from '../src/sources/file.ts';
import { randomNeurons } from '../src/cli/bench.ts';
import type { PolicyName } from '../src/types.ts';
import { argValue } from './harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const opt = argValue;
const MODEL = opt('-m') ?? opt('--model');
if (!MODEL) {
  console.error('usage: node --import tsx bench/profile.ts -m MODEL.gguf [--density D] [--prompt-tokens 128] [--tokens 64] [--reps 3] [--ffn dense|selective] [--out FILE]');
  process.exit(2);
}
const DENSITY = Number(opt('--density', '1'));
const PROMPT_TOKENS = Number(opt('--prompt-tokens', '128'));
const TOKENS = Number(opt('--tokens', '64'));
const REPS = Number(opt('--reps', '3'));
const FFN = opt('--ffn', 'dense') as 'dense' | 'selective';
const OUT = opt('--out', join(root, 'bench', 'results', 'profile.json'))!;

/** The runtime with names: built from assembly/ (or --wasm FILE, a runtime built with asc --debug). */
function namedRuntime(): WebAssembly.Module {
  const given = opt('--wasm');
  if (given) return new WebAssembly.Module(readFileSync(given));
  const tmp = mkdtempSync(join(tmpdir(), 'ifprune-profile-'));
  try {
    const wasm = join(tmp, 'ifprune.names.wasm');
    const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
    console.error('building the runtime with function names…');
    const b = spawnSync(process.execPath, [asc, join(root, 'assembly', 'runtime.ts'), '--runtime', 'incremental', '-O3', '--noAssert', '--enable', 'simd', '--debug', '-o', wasm], { stdio: 'inherit' });
    if (b.status !== 0) throw new Error('bench/profile: building the runtime failed');
    return new WebAssembly.Module(readFileSync(wasm));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
const module = namedRuntime();

const model = await openRuntime(module, await fileSource(MODEL), { ffn: FFN });
// Pruned runs: a random neuron set of the density, loaded once before profiling (as `ifprune bench` does
// for a file without a predictor), so the profiles hold the forward pass alone; generate() keeps it.
if (DENSITY < 1 || FFN === 'selective') {
  const { nLayers, hiddenDim } = model.config;
  const neurons = randomNeurons(nLayers, hiddenDim, DENSITY, 1);
  await model.load({ policy: 'random' as PolicyName, density: DENSITY, neurons, promptIds: [], predictMs: 0, plan: { requests: 0, readBytes: 0, selectedBytes: 0 } });
}
// a prompt of exactly PROMPT_TOKENS tokens
const words = 'the quick brown fox jumps over the lazy dog while a small model counts its neurons'.split(' ');
let prompt = '';
for (let i = 0; model.tokenizer.encode(prompt).length < PROMPT_TOKENS; i++) prompt += (i ? ' ' : '') + words[i % words.length];
const ids = model.tokenizer.encode(prompt).slice(0, PROMPT_TOKENS);
prompt = model.tokenizer.decode(ids);

interface Node { id: number; callFrame: { functionName: string; url: string }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });

/** Self ms per function name over one generation of `tokens` new tokens. */
async function profiled(tokens: number): Promise<{ self: Map<string, number>; generated: number }> {
  await session.post('Profiler.start');
  const g = model.generate(prompt, { maxTokens: tokens, temperature: 0, stop: [] });
  let generated = 0;
  for await (const _ of g) generated++;
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i]!)!;
    const wasmFn = n.callFrame.url.startsWith('wasm://');
    const name = wasmFn ? n.callFrame.functionName.replace(/^\$/, '') : n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(program)' || n.callFrame.functionName === '(garbage collector)' ? n.callFrame.functionName : '(JavaScript host)';
    self.set(name, (self.get(name) ?? 0) + profile.timeDeltas[i]! / 1000);
  }
  return { self, generated };
}

const prefill = new Map<string, number>();
const whole = new Map<string, number>();
let decodeTokens = 0;
const add = (into: Map<string, number>, from: Map<string, number>) => from.forEach((v, k) => into.set(k, (into.get(k) ?? 0) + v));
await profiled(2); // warm-up: compile tiers, neuron load
for (let r = 0; r < REPS; r++) {
  console.error(`rep ${r + 1}/${REPS}`);
  const a = await profiled(1);
  const w = await profiled(TOKENS + 1);
  add(prefill, a.self);
  add(whole, w.self);
  decodeTokens += w.generated - a.generated;
}
await session.post('Profiler.disable');
session.disconnect();
await model.close();

/** The kernel a function belongs to (helpers that stay functions of their own are listed under it). */
function kernelOf(name: string): string {
  if (/^(h16|down16|down4)/.test(name) || name.startsWith('ffn_swiglu')) return 'masked FFN (ffn_swiglu_*)';
  return name;
}
function table(title: string, self: Map<string, number>, per: number, unit: string): { kernel: string; ms: number; share: number }[] {
  const byKernel = new Map<string, number>();
  self.forEach((v, k) => {
    if (k === '(idle)') return;
    byKernel.set(kernelOf(k), (byKernel.get(kernelOf(k)) ?? 0) + v);
  });
  const total = [...byKernel.values()].reduce((s, v) => s + v, 0);
  const rows = [...byKernel.entries()].map(([kernel, v]) => ({ kernel, ms: v / per, share: v / total })).sort((x, y) => y.ms - x.ms);
  console.log(`\n${title}: ${(total / per).toFixed(3)} ms ${unit} of CPU samples`);
  console.log('| function | ms ' + unit + ' | share |');
  console.log('|---|---|---|');
  for (const r of rows.filter((r) => r.share >= 0.005)) console.log(`| ${r.kernel} | ${r.ms.toFixed(3)} | ${(100 * r.share).toFixed(1)}% |`);
  return rows;
}

const decode = new Map<string, number>();
// the two runs' prefills are the same work: what is left of a prefill-only function is noise (± a few samples)
whole.forEach((v, k) => decode.set(k, Math.max(0, v - (prefill.get(k) ?? 0))));
console.log(`${basename(MODEL)}: density ${DENSITY}, ffn ${FFN}, prompt ${ids.length} tokens, ${TOKENS} new, ${REPS} reps (simd runtime with names)`);
const prefillRows = table(`prefill (${ids.length} tokens + the first sample)`, prefill, REPS * ids.length, 'per prompt token');
const decodeRows = table(`decode (${decodeTokens / REPS} tokens a rep)`, decode, decodeTokens, 'per token');
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), model: basename(MODEL), density: DENSITY, ffn: FFN, promptTokens: ids.length, tokens: TOKENS, reps: REPS, prefill: prefillRows, decode: decodeRows }, null, 2) + '\n');
console.log(`\nwrote ${OUT}`);
