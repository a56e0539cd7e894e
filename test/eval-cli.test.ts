/**
 * `ifprune calibrate` and `ifprune eval`, run as users run them (`node bin/ifprune.js ...` in a child
 * process), on a bundled F32 copy of models/stories260K made here (its n_ff = 172 is no whole number of
 * 32-blocks, so F32 / F16 bundles are the ones it has) and twelve children's-story prompt/response pairs
 * in two domain files. Also plotSvg on its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, type CliResult } from './helpers.ts';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSource } from '../src/sources/file.ts';
import { openModel } from '../src/formats/model.ts';
import { readIfpruneInfo } from '../src/formats/ifprune.ts';
import { readCalibration } from '../src/pruning/predictor-file.ts';
import { POLICIES, maskFrom, prunedNll, type EvalRow, type Policy } from '../src/pruning/eval.ts';
import { maskedNll, tokenizeExample } from '../src/pruning/activations.ts';
import { loadDenseEngine, openForPruning, tokenizerFor } from '../src/cli/pruning.ts';
import { logTicks, plotSvg } from '../src/pruning/plot.ts';
import { STORIES_BIN, STORIES_GGUF } from './format-fixtures.ts';

const TMP = mkdtempSync(join(tmpdir(), 'ifprune-eval-cli-'));
/** stories260K's n_ff: one neuron is 1/172 of a layer, the rounding of density → k. */
const NFF = 172;

const cli = (args: string[]) => runCli(args);

/** A failure: the given exit status, nothing on stdout, exactly one `ifprune: ...` line on stderr. */
function assertOneLineError(r: CliResult, code: number, mentions: string[]): void {
  assert.is(r.code, code, `exit status; stderr: ${r.stderr}`);
  assert.is(r.stdout, '', 'stdout');
  assert.ok(/^ifprune: [^\n]+\n$/.test(r.stderr), `one stderr line, got: ${JSON.stringify(r.stderr)}`);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `"${m}" in: ${r.stderr}`);
}

/** --json output: every line is JSON; returns the final {"event":"result"} object. */
function jsonResult<T>(r: CliResult): T {
  assert.is(r.code, 0, `exit status; stderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string });
  assert.ok(lines.slice(0, -1).every((l) => l.event === 'progress'), 'progress events first');
  const last = lines[lines.length - 1]!;
  assert.is(last.event, 'result');
  return last as T;
}

// --- fixtures: a bundled F32 stories260K and two domain files of six pairs each

const HOME = [
  ['Once upon a time, there was a little girl named Lily.', ' She loved to play outside in the sun.'],
  ['One day, Tom went to the park with his mom.', ' He saw a big red ball on the grass.'],
  ['The cat was very hungry.', ' It looked for food in the kitchen and found some milk.'],
  ['Lily had a small dog named Max.', ' Max liked to run and jump all day.'],
  ['Once upon a time, there was a big tree.', ' Birds lived in the tree and sang happy songs.'],
  ['Ben wanted to help his dad.', ' They worked together and fixed the old car.'],
];
const OUTSIDE = [
  ['The sun was shining and the sky was blue.', ' The children went to the beach to play.'],
  ['Sue found a shiny stone in the garden.', ' She showed it to her friend and they were happy.'],
  ['The little bird could not fly.', ' A kind boy took care of it until it was strong.'],
  ['Mom made a cake for the party.', ' Everyone ate it and said it was yummy.'],
  ['Tim was sad because his toy was broken.', ' His sister gave him her toy and he smiled.'],
  ['It was a cold night and snow was falling.', ' The family sat by the fire and told stories.'],
];
const jsonl = (pairs: string[][]) => pairs.map(([prompt, response]) => JSON.stringify({ prompt, response })).join('\n') + '\n';
const HOME_FILE = join(TMP, 'home.jsonl');
const OUTSIDE_FILE = join(TMP, 'outside.jsonl');
const DATA = `${HOME_FILE},${OUTSIDE_FILE}`;
writeFileSync(HOME_FILE, jsonl(HOME));
writeFileSync(OUTSIDE_FILE, jsonl(OUTSIDE));

const BUNDLED = join(TMP, 'stories-f32.gguf');
const CALIBRATED = join(TMP, 'stories-f32-cal.gguf');
const converted = await cli(['convert', STORIES_BIN, '-o', BUNDLED, '--type', 'f32']);
if (converted.code !== 0) throw new Error(`convert failed: ${converted.stderr}`);

interface CalibrateJson {
  path: string;
  domains: Record<string, number>;
  report: { examples: number; trainExamples: number; heldoutExamples: number; recall: { static: number; prompt: number; learned: number | null }; trainLoss: number | null };
}

interface EvalJson {
  rows: EvalRow[];
  policies: Policy[];
  densities: number[];
  layout: { rowBytes: number; synthesized: string | null };
  protocol: 'pruned-prompt' | 'dense-prompt';
  plot: string | null;
}

// ---
const calibrateCmd = suite('ifprune calibrate');

calibrateCmd('writes a copy carrying the static ranking, the shared set and the learned predictor', async () => {
  const r = await cli(['calibrate', '-m', BUNDLED, '-d', DATA, '-o', CALIBRATED, '--epochs', '3', '--heldout', '0.25', '--shared', '0.1', '--json']);
  const res = jsonResult<CalibrateJson>(r);
  assert.is(r.stderr, '', 'stderr (progress goes to stdout with --json)');
  assert.equal(res.domains, { home: 6, outside: 6 });
  assert.is(res.report.examples, 12);
  assert.is(res.report.heldoutExamples, 2, 'every 4th example of each domain: one of six each');
  assert.ok(res.report.trainLoss !== null && Number.isFinite(res.report.trainLoss), 'train loss');
  for (const k of ['static', 'prompt', 'learned'] as const) {
    const x = res.report.recall[k]!;
    assert.ok(x >= 0 && x <= 1, `${k} recall ${x}`);
  }
  assert.ok(existsSync(CALIBRATED), 'output');
  assert.not.ok(existsSync(`${CALIBRATED}.tmp`), 'no temporary file left');

  const src = await fileSource(CALIBRATED);
  try {
    const spec = await openModel(src);
    const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, CALIBRATED);
    assert.is(info?.layout, 'bundled');
    const cal = await readCalibration(spec, info);
    assert.is(cal.static?.length, 5, 'static ranking per layer');
    assert.is(cal.static![0]!.length, NFF);
    assert.is(cal.shared?.[0]?.length, Math.round(0.1 * NFF), 'shared neurons per layer');
    assert.ok(cal.learned, 'learned predictor');
    const scores = cal.learned!.predict([1, 400, 401]);
    assert.is(scores.length, 5);
    assert.ok(scores.every((s) => s.length === NFF && s.every(Number.isFinite)), 'finite scores for every neuron');
  } finally {
    await src.close?.();
  }
});

calibrateCmd('prints a summary with the held-out recall of each predictor', async () => {
  const out = join(TMP, 'text.gguf');
  const r = await cli(['calibrate', '-m', BUNDLED, '-d', HOME_FILE, '-d', OUTSIDE_FILE, '-o', out, '--epochs', '1', '--limit', '4', '--heldout', '0.5']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*text\.gguf: /);
  assert.match(r.stdout, /examples\s+8 \(4 train, 4 held out\): home 4, outside 4/);
  assert.match(r.stdout, /static \d\.\d{3}, prompt \d\.\d{3} \(GRIFFIN-style\), learned \d\.\d{3}/);
  assert.match(r.stdout, /train loss \d+\.\d+ after 1 epochs/);
  assert.match(r.stderr, /collecting: 100%/, 'progress on stderr');
});

calibrateCmd.run();

// ---
const evalCmd = suite('ifprune eval');

evalCmd('every policy at 0.25 and 0.5: dense ratio 1, oracle recall 1, FFN bytes = density, an SVG', async () => {
  const plot = join(TMP, 'eval.svg');
  const r = await cli(['eval', '-m', CALIBRATED, '-d', DATA, '--policy', 'dense,static,prompt,learned,oracle,random', '--density', '0.25,0.5', '--limit', '3', '--gap', '0', '--json', '--plot', plot]);
  const res = jsonResult<EvalJson>(r);
  assert.is(r.stderr, '');
  assert.equal(res.policies, [...POLICIES]);
  assert.is(res.layout.synthesized, null, 'the file has bundles');
  assert.is(res.layout.rowBytes, 3 * 64 * 4, 'F32 bundle: gate, up, down of dim 64');
  assert.is(res.rows.length, 2 * (1 + 5 * 2), 'per domain: dense + 5 policies × 2 densities');
  for (const row of res.rows) {
    assert.is(row.examples, 3);
    assert.ok(Number.isFinite(row.ppl) && row.ppl > 1, `${row.domain} ${row.policy}@${row.density} ppl ${row.ppl}`);
    if (row.policy === 'dense') {
      assert.is(row.density, 1);
      assert.is(row.pplRatio, 1);
    }
    if (row.policy === 'oracle') assert.is(row.recall, 1, 'oracle recall');
    // --gap 0: the plan reads exactly the k selected rows of each layer, k = round(density · n_ff)
    assert.ok(Math.abs(row.ffnFraction - row.density) <= 0.5 / NFF, `${row.policy}@${row.density}: FFN fraction ${row.ffnFraction}`);
  }
  const svg = readFileSync(plot, 'utf8');
  assert.ok(svg.startsWith('<svg'), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assertBalancedTags(svg);
  assert.is((svg.match(/<polyline /g) ?? []).length, POLICIES.length * 2, 'one line per policy per panel');
  assert.is(res.plot, plot);
});

evalCmd('a llama2.c checkpoint: its tokenizer from beside it, a synthesized layout, a table', async () => {
  const r = await cli(['eval', '-m', STORIES_BIN, '-d', HOME_FILE, '--policy', 'prompt,oracle', '--density', '0.5', '--limit', '2']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /note: .*not an ifprune bundled file.*as if bundled in F32 \(768 bytes per neuron/);
  assert.match(r.stdout, /home: 2 examples, \d+ response tokens, dense ppl \d+\.\d\d/);
  assert.match(r.stdout, /policy\s+density\s+ppl\s+× dense\s+recall\s+FFN loaded\s+requests/);
  assert.match(r.stdout, /\n {2}dense\s+1\.00\s+\d+\.\d\d\s+1\.00×\s+1\.000\s+100\.0%/);
  assert.match(r.stdout, /\n {2}oracle\s+0\.50\s+\d+\.\d\d\s+\d+\.\d\d×\s+1\.000\s+\d+\.\d%/);
  assert.match(r.stderr, /evaluating: 100%/);
});

evalCmd('default policies are those the file can run', async () => {
  const r = await cli(['eval', '-m', BUNDLED, '-d', HOME_FILE, '--limit', '1', '--density', '1', '--json']);
  const res = jsonResult<EvalJson>(r);
  assert.equal(res.policies, ['dense', 'prompt'], 'uncalibrated: no static, no learned');
  const prompt = res.rows.find((x) => x.policy === 'prompt')!;
  assert.ok(Math.abs(prompt.pplRatio - 1) < 1e-6, 'density 1 keeps every neuron');
});

evalCmd('--dense-prompt keeps the old protocol; the default prunes the prompt too (prompt policy: its prefill dense)', async () => {
  const args = ['eval', '-m', CALIBRATED, '-d', HOME_FILE, '--policy', 'static,prompt,learned,oracle', '--density', '0.25', '--limit', '3', '--json'];
  const pruned = jsonResult<EvalJson>(await cli(args));
  const dense = jsonResult<EvalJson>(await cli([...args, '--dense-prompt']));
  assert.is(pruned.protocol, 'pruned-prompt');
  assert.is(dense.protocol, 'dense-prompt');
  const at = (r: EvalJson, p: Policy) => r.rows.find((x) => x.policy === p)!;
  assert.is(at(pruned, 'dense').ppl, at(dense, 'dense').ppl, 'dense is dense under both');
  for (const p of ['static', 'prompt', 'learned', 'oracle'] as const) {
    assert.is(at(pruned, p).recall, at(dense, p).recall, `${p}: the same selection`);
    assert.ok(at(pruned, p).ppl !== at(dense, p).ppl, `${p}: a different perplexity (${at(pruned, p).ppl} vs ${at(dense, p).ppl})`);
  }
  assert.ok(at(pruned, 'static').ppl > at(dense, 'static').ppl, 'pruning the prompt too costs more on this model');
});

evalCmd('prunedNll: mask from P-1 = maskedNll, from 0 with every neuron = dense, dense prefix then masked rows line up', async () => {
  const m = await openForPruning(CALIBRATED, 'test');
  try {
    const engine = await loadDenseEngine(m);
    const tok = await tokenizerFor(m, CALIBRATED, undefined);
    const t = tokenizeExample(tok, { prompt: HOME[0]![0]!, response: HOME[0]![1]! }, engine.contextLength);
    const P = t.promptLen;
    const sets = Array.from({ length: engine.config.nLayers }, (_, l) => Int32Array.from({ length: 40 }, (_, i) => (i * 4 + l) % NFF).sort());
    const all = Array.from({ length: engine.config.nLayers }, () => Int32Array.from({ length: NFF }, (_, j) => j));
    const close = (a: Float64Array, b: Float64Array, what: string) => {
      assert.is(a.length, b.length, what);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, `${what}: token ${i}: ${a[i]} vs ${b[i]}`);
    };
    close(prunedNll(engine, t, sets, P - 1), maskedNll(engine, t, sets), 'from P-1');
    close(prunedNll(engine, t, all, 0), prunedNll(engine, t, all, t.ids.length - 1), 'all neurons, from 0 vs never');
    const fromP = prunedNll(engine, t, sets, P);
    close(fromP.subarray(0, 1), prunedNll(engine, t, all, 0).subarray(0, 1), 'from P: the first response token is scored by the dense prefill');
    assert.ok(Math.abs(fromP[1]! - maskedNll(engine, t, sets)[1]!) > 0, 'from P: later tokens masked, and not as from P-1');
    assert.is(maskFrom('learned', P, false), 0);
    assert.is(maskFrom('prompt', P, false), P);
    assert.is(maskFrom('learned', P, true), P - 1);
  } finally {
    await m.src.close?.();
  }
});

evalCmd.run();

// ---
const errors = suite('calibrate and eval errors');

errors('one line and a non-zero exit', async () => {
  const out = join(TMP, 'never.gguf');
  const [missing, notIfprune, plainGguf, unknownPolicy, density0, density2, uncalibrated, noData] = await Promise.all([
    cli(['eval', '-m', BUNDLED, '-d', join(TMP, 'nope.jsonl')]),
    cli(['calibrate', '-m', STORIES_BIN, '-d', DATA, '-o', out]),
    cli(['calibrate', '-m', STORIES_GGUF, '-d', DATA, '-o', out]),
    cli(['eval', '-m', BUNDLED, '-d', DATA, '--policy', 'dense,griffin']),
    cli(['eval', '-m', BUNDLED, '-d', DATA, '--density', '0']),
    cli(['eval', '-m', BUNDLED, '-d', DATA, '--density', '0.5,1.5']),
    cli(['eval', '-m', BUNDLED, '-d', DATA, '--policy', 'learned']),
    cli(['calibrate', '-m', BUNDLED, '-o', out]),
  ]);
  assertOneLineError(missing, 1, ['nope.jsonl']);
  assertOneLineError(notIfprune, 1, ['llama2c checkpoint', 'ifprune convert']);
  assertOneLineError(plainGguf, 1, ['plain GGUF', 'ifprune convert']);
  assertOneLineError(unknownPolicy, 2, ['unknown policy "griffin"', 'learned']);
  assertOneLineError(density0, 2, ['(0, 1]', '"0"']);
  assertOneLineError(density2, 2, ['(0, 1]', '"1.5"']);
  assertOneLineError(uncalibrated, 1, ['not calibrated', 'learned', 'ifprune calibrate']);
  assertOneLineError(noData, 2, ['-d DATA.jsonl']);
  assert.not.ok(existsSync(out) || existsSync(`${out}.tmp`), 'no output left behind');
});

errors.run();

// ---
const plotSuite = suite('plotSvg');

const row = (domain: string, policy: Policy, density: number, pplRatio: number): EvalRow => ({
  domain, policy, density, pplRatio, examples: 1, tokens: 10, nll: Math.log(5 * pplRatio), ppl: 5 * pplRatio, recall: 0.5, ffnBytes: 0, ffnFraction: density, requests: 1,
});

plotSuite('a panel per domain in a grid, a line per policy, names escaped', () => {
  const domains = ['a', 'b', 'c', 'd<&>'];
  const rows = domains.flatMap((d) => [row(d, 'dense', 1, 1), row(d, 'static', 0.25, 20), row(d, 'static', 0.5, 3), row(d, 'learned', 0.25, 2), row(d, 'learned', 0.5, 1.2)]);
  const svg = plotSvg(rows);
  assertBalancedTags(svg);
  assert.is((svg.match(/<polyline /g) ?? []).length, 3 * 4);
  assert.is((svg.match(/<g>/g) ?? []).length, 4, 'panels');
  assert.ok(svg.includes('d&lt;&amp;&gt;'), 'domain escaped');
  assert.match(svg, /width="900" height="\d+"/, 'three panels a row');
  // every coordinate is a number (a NaN or Infinity would break the drawing)
  assert.not.match(svg, /NaN|Infinity/);
});

plotSuite('missing ratios are skipped, not drawn as NaN', () => {
  const svg = plotSvg([row('x', 'prompt', 0.25, NaN), row('x', 'prompt', 0.5, 2)]);
  assert.not.match(svg, /NaN|Infinity/);
  assert.is((svg.match(/<polyline /g) ?? []).length, 1);
});

plotSuite('logTicks: at least three ticks inside the range', () => {
  for (const [lo, hi] of [[1, 1.2], [0.9, 3], [1, 80], [1, 5000]] as const) {
    const t = logTicks(lo, hi);
    assert.ok(t.length >= 3 && t.length <= 10, `${lo}..${hi}: ${t}`);
    assert.ok(t.every((x) => x >= lo && x <= hi), `${lo}..${hi}: ${t}`);
  }
});

plotSuite.run();

// ---
/** Every start tag is closed in order (or self-closing): XML-ish enough for a browser and a parser. */
function assertBalancedTags(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (self) continue;
    if (close) assert.is(stack.pop(), name, `</${name}> closes the open tag`);
    else stack.push(name!);
  }
  assert.equal(stack, [], 'all tags closed');
  assert.not.match(svg.replace(/<[^>]*>/g, ''), /[<>]|&(?!(amp|lt|gt|quot|apos);)/, 'text escaped');
}

process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));
