/**
 * `ifprune bench -m A.gguf [-m B.gguf ...] [options]`: the llama-bench of ifprune. For every model and
 * density it opens the model afresh, generates greedily from a prompt of exactly --prompt-tokens tokens
 * and reports load time, TTFT (neuron loading included), prefill and decode speed and the FFN bytes read.
 *
 *   standard GGUF (or llama2.c)   dense only: rows with density < 1 are skipped with a note
 *   ifprune bundled file          every density, selective: the core at open, then only the chosen
 *                                 neurons; policy = the file's learned predictor, else its static
 *                                 ranking, else random neuron sets (seeded by the repetition)
 *
 * Repetitions interleave the models and densities (rep 1: A 1, A 0.5, B 1, ...; rep 2: the same), so a
 * busy neighbour's noise spreads over every row alike; each row reports the median over reps and the best
 * one. A first untimed run per model warms the JIT. Text mode prints a table; --json prints one JSON
 * object per row on stdout and nothing else. Progress and notes go to stderr in both.
 */
import { basename } from 'node:path';
import { IfpruneError } from '../errors.ts';
import { open, resolveModel } from '../platform/node.ts';
import { KERNEL_BUILDS, chooseBuild, type KernelBuild } from '../engine/simd.ts';
import { mulberry32 } from '../reference/sampler.ts';
import { neuronsAt } from '../pruning/select.ts';
import { PRED } from '../pruning/predictor-file.ts';
import type { Instruction, Model, PolicyName } from '../types.ts';
import {
  UsageError, choiceOption, escapeText, flagOption, formatHelp, intOption, listOption, parseArgs, shownName, stringOption,
  type CommandInfo,
} from './args.ts';
import { formatBytes } from './inspect.ts';
import { Progress } from './output.ts';
import { openForPruning } from './pruning.ts';

/** Defaults, shown in --help. */
export const BENCH_DEFAULTS = Object.freeze({ densities: [1, 0.5, 0.25], promptTokens: 128, tokens: 64, reps: 3 });
/** Untimed warm-up run per model: prompt and new tokens. */
const WARMUP_TOKENS = 8;

export const BENCH: CommandInfo = {
  name: 'bench',
  usage: ['ifprune bench -m MODEL [-m MODEL ...] [--density 1,0.5,0.25] [--prompt-tokens N] [--tokens N] [--reps N] [--json]'],
  summary: 'measure load, TTFT, prefill and decode speed and FFN bytes read, per model and density',
  options: [
    { name: 'model', short: 'm', kind: 'string', value: 'MODEL', multiple: true, help: 'model file or http(s) URL (repeatable; rows interleave across models)' },
    { name: 'density', short: 'd', kind: 'string', value: 'D[,D...]', help: `FFN densities in (0, 1] (default ${BENCH_DEFAULTS.densities.join(',')}); a standard file runs density 1 only` },
    { name: 'prompt-tokens', short: 'p', kind: 'string', value: 'N', help: `prompt length in tokens, BOS included (default ${BENCH_DEFAULTS.promptTokens})` },
    { name: 'tokens', short: 'n', kind: 'string', value: 'N', help: `new tokens to generate, greedy (default ${BENCH_DEFAULTS.tokens})` },
    { name: 'reps', short: 'r', kind: 'string', value: 'N', help: `repetitions, interleaved across rows (default ${BENCH_DEFAULTS.reps})` },
    { name: 'policy', kind: 'string', value: 'P', help: 'neurons for density < 1: learned, static or random (default: learned if the file has a predictor, else static, else random)' },
    { name: 'gap-bytes', kind: 'string', value: 'BYTES', help: 'read through gaps up to BYTES between needed neuron rows (open option gapBytes; default: the runtime\'s)' },
    { name: 'threads', short: 't', kind: 'string', value: 'N[,N]', help: 'threads: 1, 2, or 1,2 for rows of each (2: a worker thread computes half of prefill; it runs the SIMD build) (default 1)' },
    { name: 'kernels', kind: 'string', value: 'BUILD', help: `kernel build: auto, ${KERNEL_BUILDS.join(', ')} (default auto: the fastest this Node runs; relaxed needs --experimental-wasm-relaxed-simd on Node 20)` },
    { name: 'cpu', kind: 'boolean', help: "table: TTFT, prefill and decode by this process's CPU time, not wall clock (JSON has both)" },
    { name: 'json', kind: 'boolean', help: 'print one JSON object per row instead of the table' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'Each row opens the model afresh, so loadMs is the open (a bundled file: the core and predictor) and TTFT\n' +
    'includes choosing and reading the neurons. Columns are "median (best)" over --reps; tok/s and ms are\n' +
    'wall-clock (--cpu: this process\'s CPU time, which a busy neighbour does not inflate). Examples:\n' +
    '  ifprune bench -m smollm2-135m-q8_0.gguf -m smollm2-135m-q8_0.ifp.gguf --density 1,0.5,0.25\n' +
    '  ifprune bench -m models/ifp-demo/ifp-demo.q8_0.gguf --reps 5 --json > rows.jsonl',
};

export type BenchPolicy = PolicyName | 'random';

export interface BenchArgs {
  models: string[];
  densities: number[];
  promptTokens: number;
  tokens: number;
  reps: number;
  policy?: Exclude<BenchPolicy, 'dense' | 'prompt'>;
  gapBytes?: number;
  /** Thread counts, a row each (1, 2). */
  threads: number[];
  /** The kernel build every row runs on (chooseBuild of --kernels); 2-thread rows run the SIMD threads build. */
  kernels: KernelBuild;
  cpu: boolean;
  json: boolean;
}

/** Validates the command line; every mistake is a UsageError naming the option. */
export function parseBenchArgs(argv: string[]): BenchArgs | 'help' {
  const args = parseArgs(argv, BENCH.options, 'bench');
  if (flagOption(args, 'help') || argv.length === 0) return 'help';
  if (args.positionals.length) throw new UsageError(`bench takes no positional arguments; got "${escapeText(args.positionals[0]!)}" (models go after -m)`, 'bench');
  const models = listOption(args, 'model');
  if (models.length === 0 || models.some((m) => m === '')) throw new UsageError('bench needs a model: -m MODEL (repeat -m for more)', 'bench');
  const threads = parseThreads(stringOption(args, 'threads'), shownName(args, 'threads'));
  return {
    models,
    densities: parseDensities(stringOption(args, 'density'), shownName(args, 'density')),
    promptTokens: intOption(args, 'prompt-tokens', { min: 1 }, 'bench') ?? BENCH_DEFAULTS.promptTokens,
    tokens: intOption(args, 'tokens', { min: 1 }, 'bench') ?? BENCH_DEFAULTS.tokens,
    reps: intOption(args, 'reps', { min: 1 }, 'bench') ?? BENCH_DEFAULTS.reps,
    policy: choiceOption(args, 'policy', ['learned', 'static', 'random'] as const, 'bench'),
    gapBytes: intOption(args, 'gap-bytes', { min: 0 }, 'bench'),
    threads,
    kernels: kernelsOption(choiceOption(args, 'kernels', ['auto', ...KERNEL_BUILDS] as const, 'bench') ?? 'auto', shownName(args, 'kernels')),
    cpu: flagOption(args, 'cpu'),
    json: flagOption(args, 'json'),
  };
}

/** --threads: 1, 2 or both ("1,2"), in order, each once. */
function parseThreads(s: string | undefined, shown: string): number[] {
  if (s === undefined) return [1];
  const out: number[] = [];
  for (const part of s.split(',')) {
    const n = Number(part.trim());
    if (!(n === 1 || n === 2) || part.trim() === '') throw new UsageError(`${shown} takes thread counts 1 and 2 (e.g. 1,2); got "${escapeText(part)}"`, 'bench');
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** The build --kernels names (auto: the best this runtime runs); one this runtime cannot run is a usage error. */
function kernelsOption(requested: KernelBuild | 'auto', shown: string): KernelBuild {
  try {
    return chooseBuild(requested);
  } catch (e) {
    throw new UsageError(`${shown} ${requested}: ${(e as Error).message}`, 'bench');
  }
}

/** "1,0.5,0.25" → [1, 0.5, 0.25] in the order given, repeats dropped. */
function parseDensities(raw: string | undefined, shown: string): number[] {
  if (raw === undefined) return [...BENCH_DEFAULTS.densities];
  const out: number[] = [];
  for (const item of raw.split(',')) {
    const s = item.trim();
    const d = /^(\d+\.?\d*|\.\d+)$/.test(s) ? Number(s) : NaN;
    if (!(d > 0 && d <= 1)) throw new UsageError(`${shown} takes densities in (0, 1] separated by commas; got "${escapeText(s)}" in "${escapeText(raw)}"`, 'bench');
    if (!out.includes(d)) out.push(d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// What a model is (from its header), before anything is timed.

export interface BenchModel {
  /** As given with -m. */
  path: string;
  /** The file name, escaped for printing. */
  name: string;
  /** Weight type of the FFN (q8_0, q4_0, f16, f32, ...). */
  type: string;
  layout: 'standard' | 'bundled';
  fileBytes: number;
  nLayers: number;
  /** FFN neurons per layer. */
  nFF: number;
  /** Positions the model allows: prompt + new tokens must fit. */
  seqLen: number;
  /** Who picks neurons at density < 1 (bundled files). */
  policy: Exclude<BenchPolicy, 'dense' | 'prompt'>;
}

/** Reads a model's header: layout, type, shape, and the policy its rows at density < 1 use. */
export async function describeModel(path: string, forced: BenchArgs['policy']): Promise<BenchModel> {
  const m = await openForPruning(path, 'bench');
  try {
    const bundled = (m.info?.bundles.length ?? 0) > 0;
    const hasLearned = m.spec.metadata[PRED.kind] !== undefined;
    const hasStatic = m.spec.tensors.has(PRED.static);
    const ffn = m.spec.tensors.get('blk.0.ffn_gate.weight') ?? m.spec.tensors.get('blk.0.ffn_down.weight');
    const type = bundled ? m.info!.type : (ffn?.type.name ?? 'unknown').toLowerCase();
    const name = escapeText(basename(path));
    if (bundled && forced === 'learned' && !hasLearned) throw new IfpruneError('bad_option', `${name} has no learned predictor: fit one with \`ifprune calibrate\`, or bench with --policy static or random`);
    if (bundled && forced === 'static' && !hasStatic) throw new IfpruneError('bad_option', `${name} has no static ranking: fit one with \`ifprune calibrate\`, or bench with --policy learned or random`);
    return {
      path,
      name,
      type,
      layout: bundled ? 'bundled' : 'standard',
      fileBytes: m.src.size,
      nLayers: m.spec.config.nLayers,
      nFF: m.spec.config.hiddenDim,
      seqLen: m.spec.config.seqLen,
      policy: forced ?? (hasLearned ? 'learned' : hasStatic ? 'static' : 'random'),
    };
  } finally {
    await m.src.close?.();
  }
}

// ---------------------------------------------------------------------------------------------------
// One timed run: open, (choose and load neurons,) generate, close.

export interface BenchSample {
  loadMs: number;
  ttftMs: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  promptTokens: number;
  generatedTokens: number;
  loadNeuronsMs: number;
  neuronBytesRead: number;
  neuronRequests: number;
  ffnBytesTotal: number;
  bytesRead: number;
  kernels: string;
  /** The same phases by this process's CPU time: TTFT, prefill (tokenize and first sample included), decode. */
  cpuTtftMs: number;
  cpuPrefillTokPerS: number;
  cpuDecodeTokPerS: number;
}

export interface RunPlan {
  model: BenchModel;
  density: number;
  /** 1, or 2: a worker thread (open's threads option). */
  threads?: number;
  /** The policy this row runs: dense for density 1 or a standard file. */
  policy: BenchPolicy;
}

/** k random neuron rows per layer (ascending), the same for the same seed. */
export function randomNeurons(nLayers: number, nFF: number, density: number, seed: number): Int32Array[] {
  const rand = mulberry32(seed);
  const k = neuronsAt(density, nFF);
  const ids = Int32Array.from({ length: nFF }, (_, i) => i);
  return Array.from({ length: nLayers }, () => {
    for (let i = 0; i < k; i++) {
      // partial Fisher-Yates: ids[0..k) become a uniform random k-subset
      const j = i + Math.floor(rand() * (nFF - i));
      const t = ids[i]!;
      ids[i] = ids[j]!;
      ids[j] = t;
    }
    return ids.slice(0, k).sort();
  });
}

async function openFor(plan: RunPlan, a: BenchRunArgs): Promise<Model> {
  const r = await resolveModel(plan.model.path);
  const threads = plan.threads ?? 1;
  return open(r.source, {
    // the threads build runs the SIMD kernels: --kernels applies to 1-thread rows
    kernels: threads > 1 ? undefined : a.kernels,
    threads,
    tokenizer: r.tokenizer,
    config: r.config,
    contextLength: Math.min(plan.model.seqLen, a.promptTokens + a.tokens + 1),
    ffn: plan.model.layout === 'bundled' ? 'selective' : 'dense',
    gapBytes: a.gapBytes,
  });
}

/** What a run needs of the command line (kernels: default auto). */
export type BenchRunArgs = Pick<BenchArgs, 'promptTokens' | 'tokens' | 'gapBytes'> & Partial<Pick<BenchArgs, 'kernels'>>;

/** This process's CPU time (user + system), ms: what a busy neighbour does not add to. */
export const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * One timed run of a row: a fresh open; for a bundled file, choose the neurons (instruct, or a random set
 * seeded by `rep`) and load them; then a greedy generation. TTFT = choosing + loading + the generation's
 * TTFT (tokenize, prefill, first sample). Wall clock from the runtime's stats, CPU time around the same
 * phases.
 */
export async function runOnce(plan: RunPlan, prompt: string, maxTokens: number, rep: number, a: BenchRunArgs): Promise<BenchSample> {
  const model = await openFor(plan, a);
  try {
    const { layout, nLayers, nFF } = plan.model;
    let pre = { ms: 0, cpuMs: 0, loadMs: 0, bytes: 0, requests: 0 };
    if (layout === 'bundled') {
      const t0 = performance.now();
      const c0 = cpuMs();
      const ins: Instruction =
        plan.policy === 'random'
          ? {
              // The runtime records the label as given (rt_load); 'random' is this command's, not a PolicyName.
              policy: 'random' as PolicyName,
              density: plan.density,
              neurons: randomNeurons(nLayers, nFF, plan.density, 1 + rep),
              promptIds: [],
              predictMs: 0,
              plan: { requests: 0, readBytes: 0, selectedBytes: 0 },
            }
          : await model.instruct(prompt, { density: plan.density, policy: plan.policy as PolicyName });
      const r = await model.load(ins);
      pre = { ms: performance.now() - t0, cpuMs: cpuMs() - c0, loadMs: r.ms, bytes: r.bytesRead, requests: r.requests };
    }
    // The neurons are loaded: generate() without a density keeps them (a standard file runs dense).
    const c0 = cpuMs();
    let cFirst = NaN;
    for await (const _ of model.generate(prompt, { temperature: 0, maxTokens })) {
      if (Number.isNaN(cFirst)) cFirst = cpuMs();
    }
    const cEnd = cpuMs();
    const s = model.stats();
    const generateCpuMs = cFirst - c0;
    return {
      loadMs: s.loadMs,
      ttftMs: pre.ms + s.ttftMs,
      prefillTokPerS: s.prefillTokPerS,
      decodeTokPerS: s.decodeTokPerS,
      promptTokens: s.promptTokens,
      generatedTokens: s.generatedTokens,
      loadNeuronsMs: pre.loadMs,
      neuronBytesRead: pre.bytes,
      neuronRequests: pre.requests,
      ffnBytesTotal: s.ffnBytesTotal,
      bytesRead: s.bytesRead,
      // the build this host loaded (the runtime's own stats name only simd or scalar)
      kernels: a.kernels ?? chooseBuild('auto'),
      cpuTtftMs: pre.cpuMs + generateCpuMs,
      cpuPrefillTokPerS: s.promptTokens / (generateCpuMs / 1000),
      cpuDecodeTokPerS: s.generatedTokens > 1 ? (s.generatedTokens - 1) / ((cEnd - cFirst) / 1000) : NaN,
    };
  } finally {
    await model.close();
  }
}

/** An untimed run (JIT warm-up, page cache); returns the row's prompt of a.promptTokens tokens. */
export async function warmUp(plan: RunPlan, a: BenchRunArgs): Promise<string> {
  const model = await openFor(plan, a);
  try {
    const warm = promptOfTokens(model, Math.min(WARMUP_TOKENS, a.promptTokens));
    for await (const _ of model.generate(warm, { temperature: 0, maxTokens: WARMUP_TOKENS, ...(plan.model.layout === 'bundled' ? { density: 1 } : {}) })) void _;
    return promptOfTokens(model, a.promptTokens);
  } finally {
    await model.close();
  }
}

/** Filler text for prompts: short common words. */
const WORDS = 'the cat sat on a mat and then it ran to see what the dog had found in the old red box by the door'.split(' ');

/**
 * A prompt of exactly n tokens as the model encodes it (BOS included when the tokenizer adds one), or
 * the nearest shorter one a tokenizer allows: words are added while the count stays ≤ n, then single
 * letters fill the rest.
 */
export function promptOfTokens(model: Model, n: number): string {
  const count = (s: string) => model.tokenizer.encode(s).length;
  let text = '';
  for (let i = 0; ; i++) {
    const next = text + (text ? ' ' : '') + WORDS[i % WORDS.length];
    if (count(next) > n) break;
    text = next;
  }
  // bounded: a fill that merges into the previous token adds characters, not tokens
  for (const fill of [' a', 'a', ' b', 'b']) for (let i = 0; i < 4 * n && count(text) < n && count(text + fill) <= n; i++) text += fill;
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Rows: medians and bests over reps.

export interface BenchRow {
  model: string;
  path: string;
  type: string;
  layout: 'standard' | 'bundled';
  policy: BenchPolicy;
  density: number;
  threads: number;
  kernels: string;
  reps: number;
  promptTokens: number;
  /** New tokens asked / generated (fewer when the model ended the text: EOS). */
  tokens: number;
  generatedTokens: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  ttftMs: number;
  loadMs: number;
  loadNeuronsMs: number;
  neuronBytesRead: number;
  neuronRequests: number;
  /** All FFN bundles of the file (0 for a standard file). */
  ffnBytes: number;
  fileBytes: number;
  gapBytes: number | null;
  /** The best rep of each timing (highest tok/s, lowest ms). */
  best: { prefillTokPerS: number; decodeTokPerS: number; ttftMs: number; loadMs: number };
  /** TTFT, prefill and decode by this process's CPU time: median and best over reps. */
  cpu: { ttftMs: number; prefillTokPerS: number; decodeTokPerS: number; best: { ttftMs: number; prefillTokPerS: number; decodeTokPerS: number } };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function toRow(plan: RunPlan, samples: BenchSample[], a: BenchArgs): BenchRow {
  const med = (k: keyof BenchSample) => median(samples.map((s) => s[k] as number));
  const pick = (k: keyof BenchSample, f: (...x: number[]) => number) => f(...samples.map((s) => s[k] as number));
  return {
    model: plan.model.name,
    path: plan.model.path,
    type: plan.model.type,
    layout: plan.model.layout,
    policy: plan.policy,
    density: plan.density,
    threads: plan.threads ?? 1,
    kernels: samples[0]!.kernels,
    reps: samples.length,
    promptTokens: med('promptTokens'),
    tokens: a.tokens,
    generatedTokens: med('generatedTokens'),
    prefillTokPerS: med('prefillTokPerS'),
    decodeTokPerS: med('decodeTokPerS'),
    ttftMs: med('ttftMs'),
    loadMs: med('loadMs'),
    loadNeuronsMs: med('loadNeuronsMs'),
    neuronBytesRead: med('neuronBytesRead'),
    neuronRequests: med('neuronRequests'),
    ffnBytes: med('ffnBytesTotal'),
    fileBytes: plan.model.fileBytes,
    gapBytes: a.gapBytes ?? null,
    best: { prefillTokPerS: pick('prefillTokPerS', Math.max), decodeTokPerS: pick('decodeTokPerS', Math.max), ttftMs: pick('ttftMs', Math.min), loadMs: pick('loadMs', Math.min) },
    cpu: {
      ttftMs: med('cpuTtftMs'),
      prefillTokPerS: med('cpuPrefillTokPerS'),
      decodeTokPerS: med('cpuDecodeTokPerS'),
      best: { ttftMs: pick('cpuTtftMs', Math.min), prefillTokPerS: pick('cpuPrefillTokPerS', Math.max), decodeTokPerS: pick('cpuDecodeTokPerS', Math.max) },
    },
  };
}

/** "123 (130)": median, best in brackets. */
function pair(m: number, best: number, digits: number): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(x >= 100 ? 0 : digits) : '-');
  return `${f(m)} (${f(best)})`;
}

/** The table; `cpu`: TTFT, prefill and decode by CPU time (columns marked "CPU"). */
export function formatTable(rows: BenchRow[], cpu = false): string {
  const c = cpu ? ' (CPU)' : '';
  const head = ['model', 'type', 'layout', 'policy', 'density', 'threads', 'load ms', 'FFN read (requests)', `TTFT ms${c}`, `prefill tok/s${c}`, `decode tok/s${c}`];
  const body = rows.map((w) => ({ ...w, ...(cpu ? { ...w.cpu, best: { ...w.best, ...w.cpu.best } } : {}) })).map((r) => [
    r.model,
    r.type,
    r.layout,
    r.policy,
    r.density.toFixed(2),
    String(r.threads),
    pair(r.loadMs, r.best.loadMs, 1),
    r.layout === 'bundled' ? `${formatBytes(r.neuronBytesRead)} (${r.neuronRequests})` : '-',
    pair(r.ttftMs, r.best.ttftMs, 1),
    pair(r.prefillTokPerS, r.best.prefillTokPerS, 1),
    pair(r.decodeTokPerS, r.best.decodeTokPerS, 1),
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 4 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ').trimEnd();
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------------

export async function benchCommand(argv: string[]): Promise<number> {
  const a = parseBenchArgs(argv);
  if (a === 'help') {
    process.stdout.write(formatHelp(BENCH));
    return 0;
  }
  const note = (s: string) => process.stderr.write(`note: ${s}\n`);

  // Every model's header first: a bad file or option fails before anything is timed.
  const models: BenchModel[] = [];
  for (const path of a.models) models.push(await describeModel(path, a.policy));
  const plans: RunPlan[] = [];
  for (const m of models) {
    if (a.promptTokens + a.tokens > m.seqLen) {
      throw new IfpruneError('context_overflow', `${m.name}: --prompt-tokens ${a.promptTokens} plus --tokens ${a.tokens} exceed its context of ${m.seqLen} positions; lower them`);
    }
    const skipped = m.layout === 'standard' ? a.densities.filter((d) => d < 1) : [];
    if (skipped.length) {
      note(`${m.name} has the standard layout: density ${skipped.join(', ')} skipped (pruning needs an ifprune bundled file: ifprune convert ${m.name} -o OUT.gguf)`);
    }
    for (const d of a.densities) {
      if (m.layout === 'standard' && d < 1) continue;
      for (const threads of a.threads) plans.push({ model: m, density: d, threads, policy: d >= 1 || m.layout === 'standard' ? 'dense' : m.policy });
    }
    if (m.layout === 'standard' && !a.densities.includes(1)) for (const threads of a.threads) plans.push({ model: m, density: 1, threads, policy: 'dense' });
  }

  // Warm-up (untimed) and one prompt per model, of exactly promptTokens tokens where the tokenizer allows.
  const progress = new Progress(false);
  const prompts = new Map<BenchModel, string>();
  for (const m of models) {
    progress.update('warm-up', models.indexOf(m), models.length, m.name, {});
    prompts.set(m, await warmUp(plans.find((p) => p.model === m)!, a));
  }

  const samples = plans.map((): BenchSample[] => []);
  const total = a.reps * plans.length;
  for (let rep = 0; rep < a.reps; rep++) {
    for (const [i, plan] of plans.entries()) {
      progress.update('bench', rep * plans.length + i, total, `rep ${rep + 1}/${a.reps}: ${plan.model.name} density ${plan.density}${a.threads.length > 1 ? `, ${plan.threads} thread(s)` : ''}`, {});
      samples[i]!.push(await runOnce(plan, prompts.get(plan.model)!, a.tokens, rep, a));
    }
  }
  progress.update('bench', total, total, '', {});
  progress.end();

  const rows = plans.map((p, i) => toRow(p, samples[i]!, a));
  for (const r of rows) {
    if (r.promptTokens !== a.promptTokens) note(`${r.model}: the prompt is ${r.promptTokens} tokens (the tokenizer could not make exactly ${a.promptTokens})`);
    if (r.generatedTokens < a.tokens) note(`${r.model} density ${r.density}: the model ended the text after ${r.generatedTokens} of ${a.tokens} tokens (median); decode tok/s is over those`);
  }
  if (a.json) {
    for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
  } else {
    process.stdout.write(
      `${formatTable(rows, a.cpu)}\n\n` +
        `median (best) of ${a.reps} interleaved rep${a.reps > 1 ? 's' : ''}${a.cpu ? ', TTFT and speeds by CPU time' : ''}; ${[...new Set(rows.map((r) => r.kernels))].join(' / ')} kernels; prompt ${a.promptTokens} tokens, ` +
        `${a.tokens} new tokens, greedy; TTFT includes choosing and reading the neurons` +
        (a.gapBytes !== undefined ? `; gap ${a.gapBytes} bytes` : '') +
        '\n',
    );
  }
  return 0;
}
