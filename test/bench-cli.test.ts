/**
 * `ifprune bench` (src/cli/bench.ts), run as users run it (`node bin/ifprune.js bench ...` in a child
 * process): rows and fields of the table and of --json on a tiny random standard GGUF, the same model
 * converted to the bundled layout (no predictor: random neuron sets) and the committed ifp-demo (learned
 * predictor); bad options are one line and exit 2. No timings are asserted beyond being positive.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from './helpers.ts';
import { writeRandomModel, SHAPES } from '../tools/random-model.ts';
import { median, randomNeurons, type BenchRow } from '../src/cli/bench.ts';
import { neuronsAt } from '../src/pruning/select.ts';

const TMP = mkdtempSync(join(tmpdir(), 'ifprune-bench-cli-'));
const STANDARD = join(TMP, 'tiny-q8_0.gguf');
const BUNDLED = join(TMP, 'tiny-q8_0.bundled.gguf');
const DEMO = 'models/ifp-demo/ifp-demo.q8_0.gguf';
/** Small runs: the rows and fields are under test, not the speed. */
const SMALL = ['-p', '12', '-n', '6', '-r', '2'];

/** A failure: the exit status, nothing on stdout, exactly one `ifprune: ...` line on stderr naming `mentions`. */
function assertOneLineError(r: CliResult, code: number, mentions: string[]): void {
  assert.is(r.code, code, `exit status; stderr: ${r.stderr}`);
  assert.is(r.stdout, '', 'stdout');
  assert.ok(/^ifprune: [^\n]+\n$/.test(r.stderr), `one stderr line, got: ${JSON.stringify(r.stderr)}`);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `"${m}" in: ${r.stderr}`);
}

/** --json stdout: every line one JSON row. */
function jsonRows(r: CliResult): BenchRow[] {
  assert.is(r.code, 0, `exit status; stderr: ${r.stderr}`);
  const lines = r.stdout.trimEnd().split('\n');
  return lines.map((l) => {
    assert.ok(l.startsWith('{') && l.endsWith('}'), `a JSON object per line, got: ${l}`);
    return JSON.parse(l) as BenchRow;
  });
}

/** Fields every row has, with sane values. */
function assertRowSane(r: BenchRow, promptTokens: number, tokens: number): void {
  for (const k of ['model', 'type', 'layout', 'policy', 'density', 'threads', 'promptTokens', 'prefillTokPerS', 'decodeTokPerS', 'ttftMs', 'loadMs', 'neuronBytesRead', 'neuronRequests'] as const) {
    assert.ok(k in r, `field ${k}`);
  }
  assert.is(r.threads, 1);
  assert.is(r.reps, 2);
  assert.is(r.promptTokens, promptTokens, 'prompt tokens as asked');
  assert.ok(r.generatedTokens >= 1 && r.generatedTokens <= tokens, `generated ${r.generatedTokens}`);
  for (const k of ['prefillTokPerS', 'decodeTokPerS', 'ttftMs', 'loadMs'] as const) {
    assert.ok(Number.isFinite(r[k]) && r[k] > 0, `${k} = ${r[k]}`);
  }
  assert.ok(r.best.prefillTokPerS >= r.prefillTokPerS && r.best.decodeTokPerS >= r.decodeTokPerS, 'best ≥ median (tok/s)');
  assert.ok(r.best.ttftMs <= r.ttftMs && r.best.loadMs <= r.loadMs, 'best ≤ median (ms)');
}

const setup = suite('fixtures');
setup('a tiny random GGUF and its bundled conversion', async () => {
  await writeRandomModel(STANDARD, { ...SHAPES.tiny, type: 'q8_0' });
  const r = await runCli(['convert', STANDARD, '-o', BUNDLED, '--type', 'q8_0']);
  assert.is(r.code, 0, r.stderr);
});
setup.run();

// ---
const rows = suite('bench rows');

rows('a standard file runs density 1 only (a note names the skipped ones); a bundled file without a predictor runs every density with random sets', async () => {
  const r = await runCli(['bench', '-m', STANDARD, '-m', BUNDLED, '-d', '1,0.5,0.25', '--gap-bytes', '0', '--json', ...SMALL]);
  const out = jsonRows(r);
  assert.equal(out.map((x) => [x.model, x.layout, x.policy, x.density]), [
    ['tiny-q8_0.gguf', 'standard', 'dense', 1],
    ['tiny-q8_0.bundled.gguf', 'bundled', 'dense', 1],
    ['tiny-q8_0.bundled.gguf', 'bundled', 'random', 0.5],
    ['tiny-q8_0.bundled.gguf', 'bundled', 'random', 0.25],
  ]);
  assert.match(r.stderr, /note: tiny-q8_0\.gguf has the standard layout: density 0\.5, 0\.25 skipped/);
  for (const x of out) {
    assertRowSane(x, 12, 6);
    assert.is(x.type, 'q8_0');
    assert.is(x.gapBytes, 0);
  }
  assert.is(out[0]!.neuronBytesRead, 0, 'a standard file reads no neuron bundles');
  const ffn = out[1]!.ffnBytes;
  assert.ok(ffn > 0, 'bundled: FFN bytes known');
  // gap 0: exactly the selected rows, k = neuronsAt(density, n_ff) per layer
  for (const x of out.slice(1)) {
    const share = neuronsAt(x.density, SHAPES.tiny.hiddenDim) / SHAPES.tiny.hiddenDim;
    assert.is(x.neuronBytesRead, share * ffn, `density ${x.density}: ${x.neuronBytesRead} of ${ffn} bytes`);
    assert.ok(x.neuronRequests >= 1 && x.neuronRequests <= neuronsAt(x.density, SHAPES.tiny.hiddenDim) * SHAPES.tiny.nLayers, `requests ${x.neuronRequests}`);
  }
});

rows('a bundled file with a learned predictor (ifp-demo) uses it at density < 1; the table shows the same rows', async () => {
  const j = jsonRows(await runCli(['bench', '-m', DEMO, '-d', '0.25,1', '--gap-bytes', '0', '--json', ...SMALL]));
  assert.equal(j.map((x) => [x.layout, x.policy, x.density]), [['bundled', 'learned', 0.25], ['bundled', 'dense', 1]]);
  for (const x of j) assertRowSane(x, 12, 6);
  const [pruned, dense] = j as [BenchRow, BenchRow];
  assert.is(dense.neuronBytesRead, dense.ffnBytes, 'density 1 reads every bundle');
  // the learned policy keeps k = neuronsAt(0.25, 768) = 192 rows per layer (always-on ones among them)
  assert.is(pruned.neuronBytesRead, 0.25 * pruned.ffnBytes);

  const t = await runCli(['bench', '-m', DEMO, '-d', '0.25,1', ...SMALL]);
  assert.is(t.code, 0, t.stderr);
  const lines = t.stdout.split('\n');
  assert.match(lines[0]!, /^model\s+type\s+layout\s+policy\s+density\s+threads\s+load ms\s+FFN read \(requests\)\s+TTFT ms\s+prefill tok\/s\s+decode tok\/s$/);
  assert.match(lines[2]!, /^ifp-demo\.q8_0\.gguf\s+q8_0\s+bundled\s+learned\s+0\.25\s+1\s+[\d.]+ \([\d.]+\)\s+[\d.]+ [KM]iB \(\d+\)/);
  assert.match(lines[3]!, /^ifp-demo\.q8_0\.gguf\s+q8_0\s+bundled\s+dense\s+1\.00\s+1\s/);
  assert.match(t.stdout, /median \(best\) of 2 interleaved reps; (relaxed|simd|scalar) kernels; prompt 12 tokens, 6 new tokens/);
});

rows('--threads 1,2: a row per thread count, the 2-thread one on the SIMD threads build, the same tokens', async () => {
  const j = jsonRows(await runCli(['bench', '-m', DEMO, '-d', '0.25,1', '--threads', '1,2', '--policy', 'random', '--json', '-p', '40', '-n', '6', '-r', '2']));
  assert.equal(j.map((x) => [x.density, x.threads]), [[0.25, 1], [0.25, 2], [1, 1], [1, 2]]);
  for (const x of j) assert.ok(x.prefillTokPerS > 0 && x.decodeTokPerS > 0, `${x.density} / ${x.threads}`);
  assert.equal(j.filter((x) => x.threads === 2).map((x) => x.kernels), ['simd', 'simd']);
  assert.equal(j.map((x) => x.generatedTokens), [6, 6, 6, 6]);
});

rows('--policy random on a file with a predictor; a larger --gap-bytes reads at least the selected rows in fewer requests', async () => {
  const [g0, g1] = await Promise.all(['0', String(1 << 20)].map(async (gap) => jsonRows(await runCli(['bench', '-m', DEMO, '-d', '0.25', '--policy', 'random', '--gap-bytes', gap, '--json', ...SMALL]))[0]!));
  assert.is(g0!.policy, 'random');
  assert.is(g0!.neuronBytesRead, 0.25 * g0!.ffnBytes);
  assert.ok(g1!.neuronBytesRead >= g0!.neuronBytesRead && g1!.neuronBytesRead <= g1!.ffnBytes, `${g1!.neuronBytesRead}`);
  assert.ok(g1!.neuronRequests < g0!.neuronRequests, `${g1!.neuronRequests} < ${g0!.neuronRequests} requests`);
});

// ---
const errors = suite('bench errors');

errors('bad options are one line with exit 2', async () => {
  const cases: [string[], string[]][] = [
    [['-m', STANDARD, '--threads', '3'], ['--threads takes thread counts 1 and 2', '"3"']],
    [['-m', STANDARD, '-t', '1,x'], ['-t takes thread counts 1 and 2', '"x"']],
    [['-m', STANDARD, '--density', '0'], ['--density takes densities in (0, 1]', '"0"']],
    [['-m', STANDARD, '-d', '1,1.5'], ['"1.5"']],
    [['-m', STANDARD, '-d', 'half'], ['"half"']],
    [['-m', STANDARD, '--reps', '0'], ['--reps must be at least 1']],
    [['-m', STANDARD, '--tokens', 'x'], ['--tokens must be a whole number']],
    [['-m', STANDARD, '--policy', 'prompt'], ['--policy must be one of learned, static, random']],
    [['-m', STANDARD, '--gap-bytes', '-1'], ['--gap-bytes must be at least 0']],
    [['-m', STANDARD, '--frobnicate'], ['unknown option --frobnicate']],
    [[STANDARD], ['no positional arguments']],
    [['--json'], ['bench needs a model: -m MODEL']],
  ];
  for (const [argv, mentions] of cases) assertOneLineError(await runCli(['bench', ...argv]), 2, [...mentions, "(see 'ifprune bench --help')"]);
});

errors('files it cannot bench are one line with exit 1', async () => {
  assertOneLineError(await runCli(['bench', '-m', join(TMP, 'missing.gguf')]), 1, ['missing.gguf', 'does not exist']);
  assertOneLineError(await runCli(['bench', '-m', BUNDLED, '--policy', 'learned', '-r', '1']), 1, ['tiny-q8_0.bundled.gguf has no learned predictor', 'ifprune calibrate']);
  assertOneLineError(await runCli(['bench', '-m', STANDARD, '-p', '250', '-n', '10']), 1, ['--prompt-tokens 250 plus --tokens 10 exceed its context of 256']);
});

errors('--help and no arguments print the help (exit 0)', async () => {
  for (const argv of [['bench', '--help'], ['bench'], ['help', 'bench']]) {
    const r = await runCli(argv);
    assert.is(r.code, 0);
    assert.match(r.stdout, /^Usage: ifprune bench -m MODEL/);
    assert.match(r.stdout, /--threads N\[,N\]\s+threads: 1, 2, or 1,2 for rows of each/);
    assert.is(r.stderr, '');
  }
});

// ---
const helpers = suite('randomNeurons, median');

helpers('random sets: k = neuronsAt(density) distinct ascending rows per layer, fixed by the seed, different across seeds', () => {
  for (const [nFF, d] of [[96, 0.25], [1536, 0.5], [7, 1], [5, 0.01]] as const) {
    const a = randomNeurons(3, nFF, d, 1);
    assert.is(a.length, 3);
    for (const l of a) {
      assert.is(l.length, neuronsAt(d, nFF));
      for (let i = 0; i < l.length; i++) {
        assert.ok(l[i]! >= 0 && l[i]! < nFF, 'in range');
        if (i) assert.ok(l[i]! > l[i - 1]!, 'ascending, distinct');
      }
    }
    assert.equal(randomNeurons(3, nFF, d, 1), a, 'same seed, same sets');
  }
  assert.not.equal(randomNeurons(2, 1536, 0.25, 1), randomNeurons(2, 1536, 0.25, 2));
});

helpers('median of odd and even counts', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.is(median([7]), 7);
});

rows.run();
errors.run();
helpers.run();
process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));
