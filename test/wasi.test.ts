/**
 * The WASI command (build/ifprune.wasi.wasm, assembly/wasi/), run as users run it: under wasmtime (the
 * Python package, through tools/wasi-run.py) and under node:wasi (tools/wasi-node.mjs), held to the Node
 * CLI (bin/ifprune.js) on the same arguments: the same `--json` ids and text for the committed models
 * and for random SmolLM2- and Qwen2-shaped GGUFs (one with GPT-2's byte-level BPE, whose ids also equal
 * the Node API's open + generate and whose prompt encoding equals the TS tokenizer's), the same help and
 * inspect output (64-bit integer metadata exactly), and bad input ending in one `ifprune: ...` line with
 * exit status 1 or 2, never a trap.
 *
 * wasmtime compiles the module on every instantiation, so every wasmtime case runs in one batch (one
 * Python process, one compiled module) before the suites read the results.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng, runCli, type CliResult } from './helpers.ts';
import { gpt2Vocab, writeRandomModel } from '../tools/random-model.ts';
import { open } from '../src/platform/node.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';
import { memorySource } from '../src/sources/memory.ts';
import { GGUFValueType as T, parseGGUF } from '../src/formats/gguf.ts';
import { writeGGUF } from '../src/formats/gguf-write.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WASM = 'build/ifprune.wasi.wasm';
const WASM_SCALAR = 'build/ifprune.wasi.scalar.wasm';
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TMP = mkdtempSync(join(tmpdir(), 'ifprune-wasi-'));

const STORIES_GGUF = 'models/stories260K/stories260K.gguf';
const STORIES_BIN = 'models/stories260K/stories260K.bin';
const DEMO = 'models/ifp-demo/ifp-demo.q8_0.gguf';
/** What a trap looks like from either runner or from wasm itself: none may ever appear. */
const TRAP = /unreachable|RuntimeError|wasm trap|abort:/;

interface Result { code: number | null; stdout: string; stderr: string }
interface Case { dirs: string[]; args: string[] }

// ---------------------------------------------------------------------------------------------------
// runners

function spawnCollect(cmd: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Every case under wasmtime in one Python process; a missing wasmtime package fails each case with how to install it. */
async function wasmtimeBatch(wasm: string, cases: Case[]): Promise<Result[]> {
  const r = await spawnCollect('python3', ['tools/wasi-run.py', '--batch', wasm], JSON.stringify(cases));
  if (r.code !== 0) {
    const why = r.code === 3 ? `wasmtime's Python package is missing: pip install --no-index --find-links /opt/pypi-more/files wasmtime (${r.stderr.trim()})` : `tools/wasi-run.py --batch failed (exit ${r.code}): ${r.stderr}`;
    return cases.map(() => ({ code: null, stdout: '', stderr: why }));
  }
  return JSON.parse(r.stdout) as Result[];
}

function nodeWasi(wasm: string, c: Case): Promise<Result> {
  return spawnCollect(process.execPath, ['tools/wasi-node.mjs', ...c.dirs.map((d) => `--dir=${d}`), wasm, ...c.args]);
}

/** A `--json` run's output, or a failure naming what the runner printed. */
function parseRun(r: Result | CliResult, label: string): { ids: number[]; text: string; stats: Record<string, unknown> } {
  assert.is(r.code, 0, `${label}: exit status; stderr: ${r.stderr}`);
  assert.ok(!TRAP.test(r.stderr), `${label}: trap: ${r.stderr}`);
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.unreachable(`${label}: stdout is not one JSON object: ${r.stdout.slice(0, 300)}`);
    throw new Error('unreachable');
  }
}

/** A failure: the given exit status(es), nothing on stdout, exactly one `ifprune: ...` line on stderr, no trap. */
function assertOneLineError(r: Result, codes: number[], mentions: string[], label: string): void {
  assert.ok(codes.includes(r.code ?? -1), `${label}: exit status ${r.code}, expected ${codes.join(' or ')}; stderr: ${r.stderr}`);
  assert.ok(!TRAP.test(r.stderr), `${label}: trap: ${r.stderr}`);
  assert.is(r.stdout, '', `${label}: stdout`);
  assert.ok(/^ifprune: [^\n]+\n$/.test(r.stderr), `${label}: one stderr line, got: ${JSON.stringify(r.stderr)}`);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `${label}: "${m}" in: ${r.stderr}`);
}

/**
 * Help text as the Node CLI's, except what it says about URLs (it reads http(s) models; the WASI command
 * reads local files through --dir): the same usage and summary paragraphs, the same options in the same
 * order (a line that mentions URLs compared by its option column only), the same examples less those of
 * URLs, and every other paragraph of the Node CLI's that does not mention URLs.
 */
function assertSameHelp(got: string, want: string, label: string): void {
  const URLS = /URL|https?:/;
  const gp = got.trimEnd().split('\n\n');
  const wp = want.trimEnd().split('\n\n');
  assert.ok(got.endsWith('\n') && !got.endsWith('\n\n'), `${label}: ends in one newline`);
  assert.equal(gp.slice(0, 2), wp.slice(0, 2), `${label}: usage and summary`);
  const section = (paras: string[], name: string) => paras.find((p) => p.startsWith(name + '\n'))?.split('\n') ?? [];
  const optionColumn = (line: string) => /^(\s+\S.*?)\s{2,}/.exec(line)?.[1] ?? line;
  const gOpts = section(gp, 'Options:');
  const wOpts = section(wp, 'Options:');
  assert.equal(gOpts.map(optionColumn), wOpts.map(optionColumn), `${label}: options`);
  for (const [j, line] of wOpts.entries()) if (!URLS.test(line)) assert.is(gOpts[j], line, `${label}: option line ${j}`);
  assert.equal(section(gp, 'Examples:'), section(wp, 'Examples:').filter((l) => !URLS.test(l)), `${label}: examples`);
  for (const p of wp.slice(2)) {
    if (!URLS.test(p) && !p.startsWith('Options:\n') && !p.startsWith('Examples:\n')) assert.ok(gp.includes(p), `${label}: paragraph ${JSON.stringify(p)}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// fixtures: random models, damaged files

/** SmolLM2's head layout (9 heads of 32, 3 kv heads, tied embeddings, rope base 1e5) at a tiny width;
 * Qwen2's q/k/v biases, NeoX RoPE (architecture qwen2) and an untied classifier. */
const SMOL = join(TMP, 'smollm2-shaped.q8_0.gguf');
const QWEN = join(TMP, 'qwen2-shaped.q8_0.gguf');
await writeRandomModel(SMOL, { dim: 288, nLayers: 2, nHeads: 9, nKvHeads: 3, hiddenDim: 512, vocabSize: 512, seqLen: 128, ropeBase: 100000, type: 'q8_0', seed: 7 });
await writeRandomModel(QWEN, { dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 320, vocabSize: 400, seqLen: 128, qkvBias: true, tied: false, type: 'q8_0', seed: 11 });
/** SmolLM2's shape with a GPT-2 byte-level BPE tokenizer (GPT-2's first 1023 pieces and <|endoftext|>). */
const SMOL_GPT2 = join(TMP, 'smollm2-shaped-gpt2.q8_0.gguf');
const GPT2_VOCAB_SIZE = 1024;
await writeRandomModel(SMOL_GPT2, { dim: 288, nLayers: 2, nHeads: 9, nKvHeads: 3, hiddenDim: 512, vocabSize: GPT2_VOCAB_SIZE, seqLen: 128, ropeBase: 100000, type: 'q8_0', seed: 5, tokenizer: 'gpt2' });
/** Accents (precomposed and combining), emoji (astral, ZWJ), CJK, newlines and a tab: byte pieces and merges. */
const GPT2_PROMPT = 'Café déjà vu, naïve coöperation 🍵🦀👩\u200d💻\n\n日本語\tend — “quoted”\n';

/** The SmolLM2-shaped model with 64-bit integer metadata beyond 2^53, for inspect. */
const EXACT_64 = join(TMP, 'exact-64.gguf');
{
  const bytes = new Uint8Array(readFileSync(SMOL));
  const file = await parseGGUF(memorySource(bytes, 'smol.gguf'));
  const metadata = { ...file.metadata, 'test.u64s': BigUint64Array.from([0n, 2n ** 53n + 1n, 2n ** 64n - 1n]), 'test.i64s': BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]), 'test.u64': 2n ** 64n - 2n };
  const kvTypes = { ...file.kvTypes, 'test.u64s': { type: T.ARRAY, itemType: T.UINT64 }, 'test.i64s': { type: T.ARRAY, itemType: T.INT64 }, 'test.u64': { type: T.UINT64 } };
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: bytes.subarray(t.offset, t.offset + t.bytes) }));
  writeFileSync(EXACT_64, writeGGUF({ metadata, kvTypes }, tensors, file.alignment));
}

const storiesBytes = readFileSync(join(ROOT, STORIES_GGUF));
const TRUNCATED = join(TMP, 'truncated.gguf');
writeFileSync(TRUNCATED, storiesBytes.subarray(0, 3000));
/** The header's tensor count (u64 at byte 8) set to 2^56 + 47: a count no 1 MB file can hold. */
const HUGE_COUNT = join(TMP, 'huge-count.gguf');
{
  const b = Buffer.from(storiesBytes);
  b[14] = 1;
  writeFileSync(HUGE_COUNT, b);
}
/** Seeded byte flips inside the header (metadata and tensor table). */
const FLIPPED: string[] = [];
for (let seed = 1; seed <= 6; seed++) {
  const r = rng(seed);
  const b = Buffer.from(storiesBytes);
  for (let k = 0; k < 4; k++) b[8 + Math.floor(r() * 4000)] ^= 1 << Math.floor(r() * 8);
  const path = join(TMP, `flipped-${seed}.gguf`);
  writeFileSync(path, b);
  FLIPPED.push(path);
}
/** The demo with one byte of an FFN bundle changed: the chunk hashes must catch it. */
const DEMO_FLIPPED = join(TMP, 'ifp-demo-flipped.gguf');
{
  const b = Buffer.from(readFileSync(join(ROOT, DEMO)));
  b[b.length - 1000] ^= 0x55;
  writeFileSync(DEMO_FLIPPED, b);
}
const HTML = join(TMP, 'error-page.bin');
writeFileSync(HTML, '<html><body>404 Not Found</body></html>\n'.repeat(4));
const EMPTY = join(TMP, 'empty.gguf');
writeFileSync(EMPTY, '');
// A llama2.c checkpoint alone in a directory: no tokenizer beside it.
const LONELY = join(TMP, 'lonely');
rmSync(LONELY, { recursive: true, force: true });
await import('node:fs').then((fs) => fs.mkdirSync(LONELY));
copyFileSync(join(ROOT, STORIES_BIN), join(LONELY, 'model.bin'));

// ---------------------------------------------------------------------------------------------------
// the cases

const LONG_PROMPT = 'Once upon a time there was a little girl who lived in a village near the forest';

/** Generation cases: the same arguments go to wasmtime, node:wasi and the Node CLI (all with --json). */
const RUNS: { name: string; dirs: string[]; args: string[] }[] = [
  { name: 'stories260K.gguf greedy', dirs: ['models'], args: ['-m', STORIES_GGUF, '-p', 'Once upon a time', '-n', '40', '--temperature', '0'] },
  { name: 'stories260K.gguf seeded sampling', dirs: ['models'], args: ['-m', STORIES_GGUF, '-p', 'Once upon a time', '-n', '40', '--temperature', '0.9', '--top-p', '0.9', '--seed', '42'] },
  { name: 'stories260K.gguf stop string', dirs: ['models'], args: ['-m', STORIES_GGUF, '-p', 'Lily', '-n', '60', '--temperature', '0', '--stop', '.'] },
  { name: 'stories260K.bin with tok512.bin found beside it', dirs: ['models'], args: ['-m', STORIES_BIN, '-p', 'Once upon a time', '-n', '40', '--temperature', '0'] },
  { name: 'ifp-demo dense', dirs: ['models'], args: ['-m', DEMO, '-p', 'Write a short story about a cat.', '-n', '30', '--temperature', '0'] },
  { name: 'ifp-demo --density 0.5 --policy learned', dirs: ['models'], args: ['-m', DEMO, '-p', 'Write a short story about a cat.', '-n', '30', '--temperature', '0', '--density', '0.5', '--policy', 'learned'] },
  { name: 'random SmolLM2-shaped GGUF', dirs: [TMP], args: ['-m', SMOL, '-p', 'hello world', '-n', '24', '--temperature', '0'] },
  { name: 'random Qwen2-shaped GGUF (qkv bias, NeoX RoPE), seeded', dirs: [TMP], args: ['-m', QWEN, '-p', 'hello world', '-n', '24', '--temperature', '0.8', '--seed', '3'] },
  { name: 'random SmolLM2-shaped GGUF with GPT-2 BPE, greedy', dirs: [TMP], args: ['-m', SMOL_GPT2, '-p', GPT2_PROMPT, '-n', '24', '--temperature', '0'] },
  { name: 'random SmolLM2-shaped GGUF with GPT-2 BPE, seeded', dirs: [TMP], args: ['-m', SMOL_GPT2, '-p', GPT2_PROMPT, '-n', '24', '--temperature', '0.9', '--top-p', '0.95', '--seed', '7'] },
];
/** RUNS entries also run through the Node API (open + generate), with their generation options. */
const API_RUNS: { run: string; opts: { maxTokens: number; temperature: number; topP?: number; seed?: number } }[] = [
  { run: 'random SmolLM2-shaped GGUF with GPT-2 BPE, greedy', opts: { maxTokens: 24, temperature: 0 } },
  { run: 'random SmolLM2-shaped GGUF with GPT-2 BPE, seeded', opts: { maxTokens: 24, temperature: 0.9, topP: 0.95, seed: 7 } },
];

/** Bad input: each must be one stderr line with the given status, never a trap. */
const BAD: { name: string; dirs: string[]; args: string[]; codes: number[]; mentions: string[] }[] = [
  { name: 'missing model file', dirs: ['models'], args: ['run', '-m', 'models/nope.gguf', '-p', 'x'], codes: [1], mentions: ['models/nope.gguf', 'does not exist'] },
  { name: 'not a model file (an HTML page)', dirs: [TMP], args: ['run', '-m', HTML, '-p', 'x'], codes: [1], mentions: ['is not a model file ifprune recognises'] },
  { name: 'empty file', dirs: [TMP], args: ['run', '-m', EMPTY, '-p', 'x'], codes: [1], mentions: ['is not a model file ifprune recognises'] },
  { name: 'truncated GGUF', dirs: [TMP], args: ['run', '-m', TRUNCATED, '-p', 'x', '-n', '4'], codes: [1], mentions: [] },
  { name: 'GGUF claiming 2^56 tensors', dirs: [TMP], args: ['run', '-m', HUGE_COUNT, '-p', 'x', '-n', '4'], codes: [1], mentions: [] },
  { name: 'ifprune file with a flipped data byte', dirs: [TMP], args: ['run', '-m', DEMO_FLIPPED, '-p', 'x', '-n', '4'], codes: [1], mentions: [] },
  { name: 'unknown option', dirs: ['models'], args: ['run', '-m', STORIES_GGUF, '-p', 'x', '--frobnicate'], codes: [2], mentions: ['--frobnicate', "'ifprune run --help'"] },
  { name: 'bad option value', dirs: ['models'], args: ['run', '-m', STORIES_GGUF, '-p', 'x', '--top-p', '0'], codes: [2], mentions: ['--top-p must be in (0, 1]'] },
  { name: 'unknown command', dirs: [], args: ['frob'], codes: [2], mentions: ['unknown command "frob"'] },
  { name: 'prompt beyond the context', dirs: ['models'], args: ['run', '-m', STORIES_GGUF, '-p', LONG_PROMPT, '--context', '8'], codes: [1], mentions: ['context'] },
  { name: 'path outside every --dir', dirs: ['models'], args: ['run', '-m', join(TMP, 'x.gguf'), '-p', 'x'], codes: [1], mentions: [`--dir=${TMP}`] },
  { name: 'llama2.c checkpoint without a tokenizer', dirs: [TMP], args: ['run', '-m', join(LONELY, 'model.bin'), '-p', 'x'], codes: [1], mentions: ['--tokenizer'] },
  { name: 'a directory as the model', dirs: ['models'], args: ['run', '-m', 'models/stories260K', '-p', 'x'], codes: [1], mentions: ['not a regular file'] },
  { name: 'inspect of a missing file', dirs: ['models'], args: ['inspect', 'models/nope.gguf'], codes: [1], mentions: ['does not exist'] },
  ...FLIPPED.map((path, i) => ({ name: `header with flipped bits #${i + 1}`, dirs: [TMP], args: ['run', '-m', path, '-p', 'x', '-n', '4', '--temperature', '0'], codes: [0, 1], mentions: [] })),
];

/** Output compared with the Node CLI's, byte for byte. */
const SAME_OUTPUT: { name: string; dirs: string[]; args: string[] }[] = [
  { name: 'top-level help', dirs: [], args: ['--help'] },
  { name: 'run --help', dirs: [], args: ['run', '--help'] },
  { name: 'help inspect', dirs: [], args: ['help', 'inspect'] },
  { name: 'inspect stories260K.gguf', dirs: ['models'], args: ['inspect', STORIES_GGUF] },
  { name: 'inspect stories260K.bin', dirs: ['models'], args: ['inspect', STORIES_BIN] },
  { name: 'inspect --json ifp-demo', dirs: ['models'], args: ['inspect', DEMO, '--json'] },
  { name: 'inspect random Qwen2-shaped', dirs: [TMP], args: ['inspect', QWEN] },
  { name: 'inspect --json random SmolLM2-shaped with GPT-2 BPE', dirs: [TMP], args: ['inspect', SMOL_GPT2, '--json'] },
  { name: 'inspect 64-bit integer metadata (text)', dirs: [TMP], args: ['inspect', EXACT_64] },
  { name: 'inspect 64-bit integer metadata (--json)', dirs: [TMP], args: ['inspect', EXACT_64, '--json'] },
];

const runCases: Case[] = RUNS.map((c) => ({ dirs: c.dirs, args: ['run', ...c.args, '--json'] }));
const textCase: Case = { dirs: ['models'], args: ['run', ...RUNS[0]!.args] };
const versionCase: Case = { dirs: [], args: ['--version'] };
const all: Case[] = [...runCases, textCase, versionCase, ...BAD, ...SAME_OUTPUT];
const wasmtimeResults = await wasmtimeBatch(WASM, all);
const at = (c: Case): Result => wasmtimeResults[all.indexOf(c)]!;
const scalarResults = await wasmtimeBatch(WASM_SCALAR, [runCases[0]!]);
const nodeCli = await Promise.all(RUNS.map((c) => runCli(['run', ...c.args, '--json'])));

// ---------------------------------------------------------------------------------------------------

const build = suite('build');

build('both WASI builds exist (node tools/build.mjs ifprune.wasi ifprune.wasi.scalar)', () => {
  assert.ok(existsSync(join(ROOT, WASM)), WASM);
  assert.ok(existsSync(join(ROOT, WASM_SCALAR)), WASM_SCALAR);
});

build.run();

// ---

const run = suite('run');

for (const [i, c] of RUNS.entries()) {
  run(`${c.name}: wasmtime --json ids and text == node:wasi == Node CLI`, async () => {
    const want = parseRun(nodeCli[i]!, 'Node CLI');
    const wt = parseRun(at(runCases[i]!), 'wasmtime');
    const nw = parseRun(await nodeWasi(WASM, runCases[i]!), 'node:wasi');
    assert.ok(want.ids.length > 0, 'the Node CLI generated tokens');
    assert.equal(wt.ids, want.ids, 'wasmtime ids');
    assert.is(wt.text, want.text, 'wasmtime text');
    assert.equal(nw.ids, want.ids, 'node:wasi ids');
    assert.equal(Object.keys(wt.stats).sort(), Object.keys(want.stats).sort(), 'stats keys');
    // neuron bytes and requests: both read local files through the same gaps (LOCAL_READ_THROUGH_BYTES)
    for (const k of ['promptTokens', 'generatedTokens', 'finishReason', 'contextLength', 'density', 'policy', 'neuronBytesRead', 'neuronRequests']) {
      assert.is(wt.stats[k], want.stats[k], `stats.${k}`);
    }
  });
}

for (const { run: name, opts } of API_RUNS) {
  run(`${name}: the Node API (open + generate) gives the wasmtime ids`, async () => {
    const i = RUNS.findIndex((c) => c.name === name);
    const wt = parseRun(at(runCases[i]!), 'wasmtime');
    const model = await open(SMOL_GPT2);
    try {
      const ids: number[] = [];
      let text = '';
      for await (const t of model.generate(GPT2_PROMPT, opts)) {
        ids.push(t.id);
        text += t.text;
      }
      assert.equal(ids, wt.ids, 'Node API ids');
      assert.is(text, wt.text, 'Node API text');
    } finally {
      await model.close();
    }
  });
}

run('GPT-2 BPE: the runtime encodes the prompt as the TS tokenizer does (byte pieces for what did not merge)', async () => {
  const v = gpt2Vocab(GPT2_VOCAB_SIZE);
  const oracle = createTokenizer({ model: 'gpt2', tokens: v.tokens, merges: v.merges, tokenTypes: v.tokenTypes, bosId: v.endOfText, eosId: v.endOfText, addBos: false });
  const model = await open(SMOL_GPT2);
  try {
    const ids = model.tokenizer.encode(GPT2_PROMPT);
    assert.equal(ids, oracle.encode(GPT2_PROMPT));
    assert.ok(ids.length < new TextEncoder().encode(GPT2_PROMPT).length, 'some pieces merged');
    assert.is(model.tokenizer.decode(ids), GPT2_PROMPT, 'decodes back');
    const wt = parseRun(at(runCases[RUNS.findIndex((c) => c.name === API_RUNS[0]!.run)]!), 'wasmtime');
    assert.is(wt.stats.promptTokens, ids.length, 'wasmtime promptTokens');
  } finally {
    await model.close();
  }
});

run('text mode: the prompt, the tokens, a newline on stdout; the stats lines on stderr', () => {
  const want = parseRun(nodeCli[0]!, 'Node CLI');
  const r = at(textCase);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, `Once upon a time${want.text}\n`);
  assert.match(r.stderr, /^\d+ tokens \(prompt \d+, end: \w+\), TTFT [\d.]+ ms, prefill .*, decode .*\nload [\d.]+ ms, read .*, kernels simd, context \d+\n$/);
});

run('the scalar build gives the same greedy ids', () => {
  const want = parseRun(nodeCli[0]!, 'Node CLI');
  const got = parseRun(scalarResults[0]!, 'wasmtime scalar');
  assert.equal(got.ids, want.ids);
  assert.is(got.stats.kernels, 'scalar');
});

run.run();

// ---

const bad = suite('bad input');

for (const c of BAD) {
  bad(`${c.name}: exit ${c.codes.join(' or ')}, one stderr line, no trap`, () => {
    const r = at(c);
    if (r.code === 0) {
      assert.ok(c.codes.includes(0), `${c.name}: exit 0`);
      assert.ok(!TRAP.test(r.stderr), `trap: ${r.stderr}`);
      return;
    }
    assertOneLineError(r, c.codes, c.mentions, c.name);
  });
}

bad.run();

// ---

const same = suite('same output as the Node CLI');

same('--version prints package.json version', () => {
  const r = at(versionCase);
  assert.is(r.code, 0);
  assert.is(r.stdout, `${VERSION}\n`);
});

for (const c of SAME_OUTPUT) {
  same(c.name, async () => {
    const want = await runCli(c.args);
    const got = at(c);
    assert.is(got.code, want.code, `exit status; stderr: ${got.stderr}`);
    if (c.name === 'top-level help') {
      // The WASI command lists only the commands it has (run, inspect) and how to give it files.
      assert.match(got.stdout, /^ifprune \S+: .*\n\nUsage:\n {2}ifprune run .*\n {2}ifprune inspect .*\n/);
      return;
    }
    if (c.args.includes('--help') || c.args[0] === 'help') assertSameHelp(got.stdout, want.stdout, c.name);
    else assert.is(got.stdout, want.stdout);
  });
}

same.run();

process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));
