/**
 * ifprune next to its peer: the same GGUF files through wllama (llama.cpp compiled to wasm, @wllama/wllama,
 * single-thread) in headless Chromium and through ifprune (Node, the public API, as `ifprune bench` runs
 * it), repetitions interleaved (ifprune A, wllama A, ifprune B, wllama B, ...), medians and ratios.
 *
 *   npm run bench:peers
 *   node --import tsx bench/peers.ts [--reps N] [--prompt-tokens N] [--tokens N] [--types q8_0,q4_0|none] [--qwen]
 *                                    [--keep DIR] [--out FILE]
 *
 * Models: random-weight SmolLM2-135M-shaped GGUFs in Q8_0 and Q4_0 (tools/random-model.ts), and with
 * --qwen a Qwen2.5-0.5B-shaped Q8_0 one (slow in wllama; `--types none --qwen` runs it alone), written
 * to a temporary directory (or --keep DIR, which keeps them for the next run). A local HTTP server
 * started here serves the page (bench/peers/index.html), wllama's files from node_modules and the
 * models; nothing leaves the machine.
 * The page is not cross-origin isolated, so wllama cannot start threads; it is also told n_threads 1.
 *
 * What is timed, per run (wall clock: both engines' own timers):
 *   ifprune   open from the local file (loadMs), then generate greedily: stats() TTFT, prefill, decode
 *   wllama    loadModel from a Blob already in the page (the fetch is not timed), then createCompletion
 *             (greedy, ignore_eos, cache_prompt false, streamed, byte tokens ≥ 0x80 banned: see
 *             highByteTokens): TTFT to the first chunk in the page,
 *             prefill and decode tok/s from llama.cpp's own timings (prompt_per_second, predicted_per_second)
 * The prompt is the same text for both, made of exactly --prompt-tokens tokens by ifprune's tokenizer
 * (llama.cpp's count is reported beside it). The same phases are also timed by CPU time (see treeCpuMs),
 * which a busy neighbour does not inflate. Prints two tables (wall clock, CPU time) and writes
 * bench/results/peers.json (or --out FILE).
 */
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { writeRandomModel, SHAPES, type RandomModelOptions } from '../tools/random-model.ts';
import { describeModel, median, runOnce, warmUp, type BenchSample, type RunPlan } from '../src/cli/bench.ts';
import { openForPruning } from '../src/cli/pruning.ts';
import { argValue } from './harness.ts';

const args = process.argv.slice(2);
const opt = argValue;
const REPS = Number(opt('--reps', '3'));
const PROMPT_TOKENS = Number(opt('--prompt-tokens', '128'));
const TOKENS = Number(opt('--tokens', '64'));
const keep = args.includes('--keep');
const OUT = opt('--out', fileURLToPath(new URL('./results/peers.json', import.meta.url)));
const dir = keep ? opt('--keep', '') : mkdtempSync(join(tmpdir(), 'ifprune-peers-'));
mkdirSync(dir, { recursive: true });
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WLLAMA_VERSION = (JSON.parse(readFileSync(join(ROOT, 'node_modules/@wllama/wllama/package.json'), 'utf8')) as { version: string }).version;

/** Qwen2.5-0.5B's shape (config.json of Qwen/Qwen2.5-0.5B): q/k/v biases, tied embeddings. */
const QWEN25_05B: Omit<RandomModelOptions, 'type'> = { dim: 896, nLayers: 24, nHeads: 14, nKvHeads: 2, hiddenDim: 4864, vocabSize: 151936, seqLen: 2048, ropeBase: 1000000, qkvBias: true };
const TYPES_ASKED = opt('--types', 'q8_0,q4_0').split(',');
const files: { label: string; shape: Omit<RandomModelOptions, 'type'>; type: 'q8_0' | 'q4_0'; name: string }[] = [
  ...(['q8_0', 'q4_0'] as const).filter((t) => TYPES_ASKED.includes(t)).map((type) => ({ label: 'SmolLM2-135M', shape: SHAPES['smollm2-135m'], type, name: `smollm2-135m-random-${type}.gguf` })),
  ...(args.includes('--qwen') ? [{ label: 'Qwen2.5-0.5B', shape: QWEN25_05B, type: 'q8_0' as const, name: 'qwen2.5-0.5b-random-q8_0.gguf' }] : []),
];
for (const f of files) {
  const path = join(dir, f.name);
  if (existsSync(path)) continue;
  process.stderr.write(`generating ${path} ...\n`);
  await writeRandomModel(path, { ...f.shape, type: f.type });
}

// ---------------------------------------------------------------------------------------------------
// The local server: the page, wllama's ESM and wasm, the models. GET only, no Range (wllama reads whole files).

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm', '.gguf': 'application/octet-stream' };
const MOUNTS: [string, string][] = [
  ['/bench/peers/', join(ROOT, 'bench/peers')],
  ['/node_modules/@wllama/wllama/', join(ROOT, 'node_modules/@wllama/wllama')],
  ['/models/', dir],
];
function serve(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const mount = MOUNTS.find(([p]) => path.startsWith(p));
    const file = mount ? normalize(join(mount[1], path.slice(mount[0].length) || 'index.html')) : '';
    if (!mount || !(file === mount[1] || file.startsWith(mount[1] + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` })));
}

/**
 * The byte pieces <0x80>..<0xFF> of a SentencePiece vocabulary. Random weights pick them often, and a
 * completion whose text is not valid UTF-8 makes wllama 3.13.0 fail ("RuntimeError: Invalid typed array
 * length: 1163217991": the result's length is never written, so the GLUE magic is read as one); so
 * wllama runs with these tokens banned (a logit bias). The speed of a step does not depend on which
 * token it samples, and ifprune's stream decoder handles such bytes, so ifprune runs unchanged.
 */
async function highByteTokens(path: string): Promise<number[]> {
  const m = await openForPruning(path, 'bench:peers');
  await m.src.close?.();
  const ids: number[] = [];
  m.spec.tokenizer?.tokens.forEach((t, id) => {
    if (/^<0x[89A-F][0-9A-F]>$/.test(t)) ids.push(id);
  });
  return ids;
}

// ---------------------------------------------------------------------------------------------------
// CPU time. This machine is shared, so wall clock counts a neighbour's work too; CPU time does not.
// ifprune: process.cpuUsage() around each phase (runOnce). wllama: the summed user + system time of
// Chromium's processes (/proc: the children of this process, every thread: the wasm worker, the page,
// the browser), read when the page marks a phase (start, first token, end) through an exposed function;
// 10 ms resolution (CLK_TCK 100). Both include their runtime's other threads (GC, JIT), so both are upper
// bounds on the compute thread's time.

/** User + system CPU ms of the descendants of process `root`, not `root` itself (Linux /proc). */
function treeCpuMs(root: number): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    parent.set(Number(name), Number(f[1])); // field 4: ppid
    ticks.set(Number(name), Number(f[11]) + Number(f[12])); // fields 14, 15: utime, stime
  }
  let sum = 0;
  for (const [pid, t] of ticks) {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        sum += t;
        break;
      }
    }
  }
  return (sum * 1000) / CLK_TCK;
}
const CLK_TCK = 100;

interface WllamaSample { loadMs: number; ttftMs: number; promptTokens: number; prefillTokPerS: number; generatedTokens: number; decodeTokPerS: number; crossOriginIsolated: boolean }
interface Sample {
  engine: 'ifprune' | 'wllama'; file: string; rep: number; loadMs: number; ttftMs: number; promptTokens: number; prefillTokPerS: number; generatedTokens: number; decodeTokPerS: number;
  cpuTtftMs: number; cpuPrefillTokPerS: number; cpuDecodeTokPerS: number;
}

const { server, url } = await serve();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
const CHROMIUM_VERSION = browser.version();
// playwright starts Chromium as a child of this process; its other children (tsx's esbuild) idle meanwhile.
const browserPid = process.pid;
const samples: Sample[] = [];
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e}\n`));
  let marks: Record<string, number> = {};
  await page.exposeFunction('benchMark', (label: string) => {
    marks[label] = treeCpuMs(browserPid);
  });
  await page.goto(`${url}bench/peers/`);
  await page.waitForSelector('body[data-state=ready]', { state: 'attached' });
  const banned = new Map<string, number[]>();
  const wllama = async (file: string, prompt: string, maxTokens: number): Promise<WllamaSample & { marks: Record<string, number> }> => {
    marks = {};
    const w = await page.evaluate((o) => (window as unknown as { benchWllama(o: object): Promise<WllamaSample> }).benchWllama(o), { url: `${url}models/${file}`, prompt, maxTokens, nCtx: PROMPT_TOKENS + TOKENS + 16, banned: banned.get(file) });
    return { ...w, marks };
  };

  const plans = new Map<string, { plan: RunPlan; prompt: string }>();
  const opts = { promptTokens: PROMPT_TOKENS, tokens: TOKENS, gapBytes: undefined };
  for (const f of files) {
    const path = join(dir, f.name);
    const plan: RunPlan = { model: await describeModel(path, undefined), density: 1, policy: 'dense' };
    banned.set(f.name, await highByteTokens(path));
    const prompt = await warmUp(plan, opts);
    plans.set(f.name, { plan, prompt });
    process.stderr.write(`warm-up wllama ${f.name} ...\n`);
    const w = await wllama(f.name, prompt.slice(0, 40), 4);
    if (w.crossOriginIsolated) throw new Error('the page is cross-origin isolated: wllama could start threads');
  }
  for (let rep = 0; rep < REPS; rep++) {
    for (const f of files) {
      const { plan, prompt } = plans.get(f.name)!;
      const s: BenchSample = await runOnce(plan, prompt, TOKENS, rep, opts);
      samples.push({
        engine: 'ifprune', file: f.name, rep, loadMs: s.loadMs, ttftMs: s.ttftMs, promptTokens: s.promptTokens, prefillTokPerS: s.prefillTokPerS, generatedTokens: s.generatedTokens, decodeTokPerS: s.decodeTokPerS,
        cpuTtftMs: s.cpuTtftMs, cpuPrefillTokPerS: s.cpuPrefillTokPerS, cpuDecodeTokPerS: s.cpuDecodeTokPerS,
      });
      const { marks: m, crossOriginIsolated: _, ...w } = await wllama(f.name, prompt, TOKENS);
      const cpuTtftMs = m.first! - m.start!;
      samples.push({
        engine: 'wllama', file: f.name, rep, ...w,
        cpuTtftMs, cpuPrefillTokPerS: w.promptTokens / (cpuTtftMs / 1000), cpuDecodeTokPerS: (w.generatedTokens - 1) / ((m.end! - m.first!) / 1000),
      });
      const last = samples.slice(-2);
      process.stderr.write(`rep ${rep + 1}/${REPS} ${f.name}: ${last.map((x) => `${x.engine} prefill ${x.prefillTokPerS.toFixed(1)} decode ${x.decodeTokPerS.toFixed(1)} (CPU time: ${x.cpuPrefillTokPerS.toFixed(1)}, ${x.cpuDecodeTokPerS.toFixed(1)})`).join(', ')} tok/s\n`);
    }
  }
} finally {
  await browser.close();
  server.close();
}

// ---------------------------------------------------------------------------------------------------

interface Stat { median: number; best: number }
const stat = (xs: number[], better: 'max' | 'min'): Stat => ({ median: median(xs), best: better === 'max' ? Math.max(...xs) : Math.min(...xs) });
interface EngineRow {
  promptTokens: number; generatedTokens: number; loadMs: Stat; ttftMs: Stat; prefillTokPerS: Stat; decodeTokPerS: Stat;
  cpu: { ttftMs: Stat; prefillTokPerS: Stat; decodeTokPerS: Stat };
}
interface Ratios { prefill: number; decode: number; ttft: number }
interface Row { shape: string; type: string; file: string; fileBytes: number; ifprune: EngineRow; wllama: EngineRow; ratio: Ratios; cpuRatio: Ratios }
const rows: Row[] = files.map((f) => {
  const of = (engine: Sample['engine']): EngineRow => {
    const s = samples.filter((x) => x.engine === engine && x.file === f.name);
    const col = (k: keyof Sample, better: 'max' | 'min') => stat(s.map((x) => x[k] as number), better);
    return {
      promptTokens: median(s.map((x) => x.promptTokens)),
      generatedTokens: median(s.map((x) => x.generatedTokens)),
      loadMs: col('loadMs', 'min'),
      ttftMs: col('ttftMs', 'min'),
      prefillTokPerS: col('prefillTokPerS', 'max'),
      decodeTokPerS: col('decodeTokPerS', 'max'),
      cpu: { ttftMs: col('cpuTtftMs', 'min'), prefillTokPerS: col('cpuPrefillTokPerS', 'max'), decodeTokPerS: col('cpuDecodeTokPerS', 'max') },
    };
  };
  const i = of('ifprune');
  const w = of('wllama');
  const ratios = (a: Pick<EngineRow, 'ttftMs' | 'prefillTokPerS' | 'decodeTokPerS'>, b: typeof a): Ratios => ({
    prefill: a.prefillTokPerS.median / b.prefillTokPerS.median, decode: a.decodeTokPerS.median / b.decodeTokPerS.median, ttft: b.ttftMs.median / a.ttftMs.median,
  });
  return { shape: f.label, type: f.type, file: f.name, fileBytes: statSync(join(dir, f.name)).size, ifprune: i, wllama: w, ratio: ratios(i, w), cpuRatio: ratios(i.cpu, w.cpu) };
});

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ms = (x: number) => x.toFixed(0).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
console.log(`\nifprune (Node ${process.version}) vs wllama ${WLLAMA_VERSION} (Chromium ${CHROMIUM_VERSION}, single thread), 1 thread each; prompt ${PROMPT_TOKENS} tokens, ${TOKENS} new tokens, greedy; median (best) of ${REPS} interleaved reps`);
for (const cpu of [false, true]) {
  console.log(cpu ? '\nby CPU time (ifprune: the Node process; wllama: all Chromium processes)\n' : '\nwall clock (load: ifprune opens the file, wllama loads a Blob already in memory)\n');
  const head = ['shape, type', 'prefill tok/s: ifprune / wllama', 'decode tok/s: ifprune / wllama', 'TTFT ms: ifprune / wllama', ...(cpu ? [] : ['load ms: ifprune / wllama'])];
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const r of rows) {
    const [i, w, q] = cpu ? [r.ifprune.cpu, r.wllama.cpu, r.cpuRatio] : [r.ifprune, r.wllama, r.ratio];
    const cells = [
      `${r.shape}, ${r.type.toUpperCase()}`,
      `${f1(i.prefillTokPerS.median)} (${f1(i.prefillTokPerS.best)}) / ${f1(w.prefillTokPerS.median)} — ${q.prefill.toFixed(1)}×`,
      `${f1(i.decodeTokPerS.median)} (${f1(i.decodeTokPerS.best)}) / ${f1(w.decodeTokPerS.median)} — ${q.decode.toFixed(1)}×`,
      `${ms(i.ttftMs.median)} / ${ms(w.ttftMs.median)}`,
      ...(cpu ? [] : [`${ms(r.ifprune.loadMs.median)} / ${ms(r.wllama.loadMs.median)}`]),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}
for (const r of rows) {
  if (r.ifprune.promptTokens !== r.wllama.promptTokens) console.log(`note: ${r.file}: the prompt is ${r.ifprune.promptTokens} tokens for ifprune, ${r.wllama.promptTokens} for llama.cpp`);
  if (r.ifprune.generatedTokens !== r.wllama.generatedTokens) console.log(`note: ${r.file}: ifprune generated ${r.ifprune.generatedTokens} tokens (it stops at EOS), wllama ${r.wllama.generatedTokens} (ignore_eos)`);
}

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  OUT,
  JSON.stringify({ date: new Date().toISOString(), node: process.version, chromium: CHROMIUM_VERSION, wllama: WLLAMA_VERSION, cpu: cpus()[0]?.model, reps: REPS, promptTokens: PROMPT_TOKENS, tokens: TOKENS, rows, samples }, null, 1),
);
if (!keep) rmSync(dir, { recursive: true, force: true });
