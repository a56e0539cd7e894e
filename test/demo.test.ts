/**
 * The bundled, calibrated ifp-demo model (models/ifp-demo/ifp-demo.q8_0.gguf): still the trained model
 * after conversion, its predictors work, and different instructions load different neurons.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { open, loadKernels } from '../src/platform/node.ts';
import { fileSource, LOCAL_READ_THROUGH_BYTES } from '../src/sources/file.ts';
import { openModel } from '../src/formats/model.ts';
import { readIfpruneInfo } from '../src/formats/ifprune.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { Engine } from '../src/engine/engine.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';
import { collectExample, tokenizeExample, type Example } from '../src/pruning/activations.ts';
import { evaluate } from '../src/pruning/eval.ts';
import { readCalibration } from '../src/pruning/predictor-file.ts';

const DIR = fileURLToPath(new URL('../models/ifp-demo/', import.meta.url));
const MODEL = DIR + 'ifp-demo.q8_0.gguf';
const DOMAINS = ['python', 'javascript', 'english', 'german', 'arithmetic', 'manpages'];
const sample = (d: string, n: number): Example[] =>
  readFileSync(`${DIR}eval-sample/${d}.jsonl`, 'utf8').trim().split('\n').slice(0, n).map((l) => JSON.parse(l) as Example);
const F32 = JSON.parse(readFileSync(`${DIR}eval-sample/dense-f32.json`, 'utf8')) as { domains: Record<string, { nll: number; tokens: number }> };

async function dense() {
  const spec = await openModel(await fileSource(MODEL));
  const engine = await Engine.load(await Kernels.create(await loadKernels()), spec, {});
  const tok = createTokenizer(spec.tokenizer!);
  const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, MODEL)!;
  return { spec, engine, tok, info };
}

test('dense response NLL of the Q8_0 file is within 1.5% of the f32 source on every domain', async () => {
  const { spec, engine, tok } = await dense();
  await spec.source.close?.();
  for (const d of DOMAINS) {
    let nll = 0;
    let n = 0;
    for (const ex of sample(d, 10)) {
      const s = collectExample(engine, tokenizeExample(tok, ex, engine.contextLength));
      for (const v of s.denseNll) nll += v;
      n += s.denseNll.length;
    }
    const want = F32.domains[d]!;
    assert.is(n, want.tokens, `${d}: scored tokens`);
    assert.ok(Math.abs(nll / n - want.nll) / want.nll < 0.015, `${d}: Q8_0 NLL ${(nll / n).toFixed(4)} vs f32 ${want.nll}`);
  }
});

test('eval on a subset: oracle recall 1, bytes = density × FFN, learned far below static', async () => {
  const { spec, engine, tok, info } = await dense();
  const calibration = await readCalibration(spec, info);
  await spec.source.close?.();
  assert.ok(calibration.static && calibration.learned, 'the bundled demo carries a static ranking and a learned predictor');
  const layout = { offsets: info.bundles.map((b) => b.offset), rowBytes: info.bundles[0]!.rowBytes, rows: info.bundles[0]!.nFF };
  const rows = evaluate(engine, tok, new Map(DOMAINS.map((d) => [d, sample(d, 2)])), {
    policies: ['dense', 'static', 'prompt', 'learned', 'oracle'],
    densities: [0.25, 0.5],
    calibration,
    layout,
  });
  const mean = (p: string, d: number) => {
    const r = rows.filter((x) => x.policy === p && x.density === d);
    return r.reduce((s, x) => s + Math.log(x.pplRatio), 0) / r.length;
  };
  for (const r of rows) {
    if (r.policy === 'dense') assert.is(r.pplRatio, 1);
    if (r.policy === 'oracle') assert.is(r.recall, 1);
    if (r.policy !== 'dense') assert.ok(Math.abs(r.ffnFraction - r.density) < 0.002, `${r.policy}@${r.density}: ${r.ffnFraction}`);
  }
  assert.ok(mean('learned', 0.25) < mean('static', 0.25) - 0.3, `learned ${mean('learned', 0.25)} vs static ${mean('static', 0.25)} (log ppl ratio)`);
  assert.ok(mean('oracle', 0.25) < mean('learned', 0.25), 'the oracle bounds every predictor');
});

test('a local file reads through gaps of up to a page by default: fewer requests, every selected row', async () => {
  const prompt = sample('python', 1)[0]!.prompt;
  const load = async (opts: { gapBytes?: number }) => {
    const m = await open(MODEL, { ffn: 'selective', ...opts });
    try {
      return await m.load(await m.instruct(prompt, { density: 0.25 }));
    } finally {
      await m.close();
    }
  };
  const [exact, byDefault, page] = [await load({ gapBytes: 0 }), await load({}), await load({ gapBytes: LOCAL_READ_THROUGH_BYTES })];
  assert.equal(byDefault, { ...page, ms: byDefault.ms }, 'the default is LOCAL_READ_THROUGH_BYTES');
  assert.ok(byDefault.requests < exact.requests / 2, `${byDefault.requests} requests vs ${exact.requests}`);
  assert.ok(byDefault.bytesRead > exact.bytesRead && byDefault.rowsRead === exact.rowsRead);
});

test('a Python and a German instruction load different neurons; the second reads only what is not cached', async () => {
  const model = await open(MODEL, { ffn: 'selective', gapBytes: 0 }); // exactly the selected rows
  const py = await model.instruct(sample('python', 1)[0]!.prompt, { density: 0.25 });
  const de = await model.instruct(sample('german', 1)[0]!.prompt, { density: 0.25 });
  assert.is(py.policy, 'learned');
  let jac = 0;
  py.neurons.forEach((a, l) => {
    const b = new Set(de.neurons[l]);
    const inter = Array.from(a).filter((j) => b.has(j)).length;
    jac += inter / (a.length + b.size - inter) / py.neurons.length;
  });
  assert.ok(jac < 0.5, `mean Jaccard ${jac.toFixed(2)}`);
  const ffnBytes = model.stats().ffnBytesTotal;
  const r1 = await model.load(py);
  assert.is(r1.bytesRead, 0.25 * ffnBytes);
  const r2 = await model.load(de);
  const shared = py.neurons.reduce((s, a, l) => s + Array.from(a).filter((j) => de.neurons[l]!.includes(j)).length, 0);
  assert.is(r2.cacheHits, shared);
  assert.is(r2.rowsRead, 4 * 192 - shared);
  let text = '';
  for await (const t of model.generate(sample('german', 1)[0]!.prompt, { temperature: 0, maxTokens: 12 })) text += t.text;
  assert.ok(text.length > 0);
  await model.close();
});

test.run();
