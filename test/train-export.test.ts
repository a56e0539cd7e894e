/**
 * The export of tools/train (docs/training.md) runs exactly the network PyTorch trained: on the tiny
 * exported models committed for the purpose (tools/train/fixtures/tiny-joint.gguf, and
 * tiny-joint-codebook.gguf: the same with a score codebook; written with their expected values by
 * tools/train/make_fixture.py), the learned predictor's scores and neuron sets, the
 * masked forward pass (every position masked, as generation runs it and as `ifprune eval` now scores it)
 * and greedy generation on the wasm runtime equal what PyTorch computed. Needs only Node.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openForPruning, loadDenseEngine, tokenizerFor } from '../src/cli/pruning.ts';
import { readCalibration } from '../src/pruning/predictor-file.ts';
import type { MlpPredictor } from '../src/pruning/learned.ts';
import { neuronsAt, selectLayers } from '../src/pruning/select.ts';
import { prunedNll } from '../src/pruning/eval.ts';
import { open } from '../src/platform/node.ts';
import { countRanges, invertPermutation } from '../src/convert/reorder.ts';

/** Predictor scores: the same f32 products in a different summation order. */
const MAX_SCORE_ABS_ERR = 1e-4;
/** Per-token NLL and logits: the F32 engine against PyTorch fp32 (summation order only). */
const MAX_NLL_ABS_ERR = 2e-3;
const MAX_LOGIT_ABS_ERR = 2e-3;

type Expected = {
  densities: number[];
  shared: number[][];
  cases: {
    prompt: string;
    response: string;
    promptIds: number[];
    ids: number[];
    scores: number[];
    /** The codebook entry nearest the network's scores, and the entry whose scores it gives (the route; tiny-joint-codebook). */
    entry?: number;
    routedTo?: number;
    densities: Record<string, { neurons: number[][]; nll: number[]; lastTop: [number, number][]; greedy: number[] }>;
  }[];
};

async function loadFixture(NAME: string) {
  const MODEL = fileURLToPath(new URL(`../tools/train/fixtures/${NAME}.gguf`, import.meta.url));
  const EXPECTED = JSON.parse(readFileSync(new URL(`../tools/train/fixtures/${NAME}.expected.json`, import.meta.url), 'utf8')) as Expected;
  const m = await openForPruning(MODEL, 'test');
  return { NAME, MODEL, EXPECTED, m, cal: await readCalibration(m.spec, m.info), tok: await tokenizerFor(m, MODEL, undefined) };
}

// loaded first, so that every suite is defined (and run) in one turn: one uvu summary
for (const f of await Promise.all(['tiny-joint', 'tiny-joint-codebook'].map(loadFixture))) checkFixture(f);

function checkFixture({ NAME, MODEL, EXPECTED, m, cal, tok }: Awaited<ReturnType<typeof loadFixture>>): void {
const nff = m.spec.config.hiddenDim;
const key = (d: number) => String(d).replace(/^(\d)$/, '$1.0');
// export.ts --reorder stored the rows in the predictor's co-selection order (ifprune.perm.N: row r holds
// PyTorch's neuron perm[r]); PyTorch's values are in its own neuron order, so they are mapped through it
const perms = m.info!.perms.map((p) => p ?? Uint32Array.from({ length: nff }, (_, j) => j));
const inv = perms.map((p) => invertPermutation(p));
const rows = (sets: ArrayLike<number>[]) => Array.from(sets, (s, l) => Array.from(s, (j) => inv[l]![j]!).sort((a, b) => a - b));
const neurons = (c: Expected['cases'][number], d: number) => rows(c.densities[key(d)]!.neurons);

// ---
const predict = suite(`${NAME}: learned predictor (readCalibration → MlpPredictor.predict)`);

predict('the file carries the trained predictor and its always-on neurons', () => {
  assert.ok(cal.learned, 'ifprune.pred.*');
  assert.equal(cal.shared?.map((s) => Array.from(s)), rows(EXPECTED.shared));
  assert.equal(Array.from(m.spec.metadata['ifprune.train.densities'] as Float32Array), EXPECTED.densities);
});

predict('the rows are reordered for the predictor (export.ts --reorder), and that made its selections fewer ranges', () => {
  assert.ok(perms.every((p, l) => m.info!.perms[l] && p.some((j, r) => j !== r)), 'ifprune.perm.N: a permutation per layer, not the identity');
  assert.match(String(m.spec.metadata['ifprune.reorder.method']), /learned predictor's selections/);
  let before = 0;
  let after = 0;
  for (const c of EXPECTED.cases) {
    for (const d of EXPECTED.densities) {
      c.densities[key(d)]!.neurons.forEach((s, l) => {
        before += countRanges(s, null, nff);
        after += countRanges(s, perms[l]!, nff);
      });
    }
  }
  assert.ok(after < before, `byte ranges of the cases' selections: ${after} after reordering, ${before} before`);
});

predict('the codebook kind, when the fixture has one; the cases choose different entries', () => {
  const C = EXPECTED.cases[0]!.entry === undefined ? 0 : m.spec.metadata['ifprune.pred.codebook_size'];
  assert.is(m.spec.metadata['ifprune.pred.kind'], C ? 'deepsets-mlp-codebook' : 'deepsets-mlp');
  assert.is((cal.learned as MlpPredictor).shape.codebook ?? 0, C);
  if (C) assert.ok(new Set(EXPECTED.cases.map((c) => c.entry)).size >= 2, 'the fixture should exercise more than one entry');
  if (C) {
    // the route (tools/train/route.py) is in the file, and some case is routed to another entry than its nearest
    assert.equal(Array.from((cal.learned as MlpPredictor).p.route ?? []), Array.from({ length: Number(C) }, (_, c) => (c === 0 ? 0 : (c + 1) % Number(C))));
    assert.ok(EXPECTED.cases.some((c) => c.routedTo !== c.entry), 'some case should be routed away from its nearest entry');
  }
});

predict('prompt ids are the ones PyTorch saw; scores equal PyTorch', () => {
  for (const c of EXPECTED.cases) {
    assert.equal(tok.encode(c.prompt, { bos: true }), c.promptIds, c.prompt);
    const s = cal.learned!.predict(c.promptIds);
    let worst = 0;
    s.forEach((layer, l) => layer.forEach((v, r) => (worst = Math.max(worst, Math.abs(v - c.scores[l * nff + perms[l]![r]!]!)))));
    assert.ok(worst <= MAX_SCORE_ABS_ERR, `${c.prompt}: worst score error ${worst}`);
  }
});

predict('top-k after the always-on neurons: the neuron sets PyTorch masked with', () => {
  for (const c of EXPECTED.cases) {
    for (const d of EXPECTED.densities) {
      const sets = selectLayers(cal.learned!.predict(c.promptIds), neuronsAt(d, nff), cal.shared);
      assert.equal(sets.map((s) => Array.from(s)), neurons(c, d), `${c.prompt} @ ${d}`);
    }
  }
});

predict.run();

// ---
const forward = suite(`${NAME}: masked forward (prunedNll from position 0: the eval protocol)`);

forward('every next-token NLL of prompt + response, and the last logits, equal PyTorch', async () => {
  const engine = await loadDenseEngine(m);
  for (const c of EXPECTED.cases) {
    for (const d of EXPECTED.densities) {
      const e = c.densities[key(d)]!;
      // scored from position 0: promptLen 1 makes every position after BOS a "response" token
      const nll = prunedNll(engine, { ids: c.ids, promptLen: 1 }, neurons(c, d), 0);
      assert.is(nll.length, e.nll.length);
      nll.forEach((v, i) => assert.ok(Math.abs(v - e.nll[i]!) <= MAX_NLL_ABS_ERR, `${c.prompt} @ ${d}, token ${i}: ${v} vs ${e.nll[i]}`));
      engine.reset();
      neurons(c, d).forEach((s, l) => engine.setNeuronMask(l, s));
      const logits = engine.forward(c.ids.slice(0, -1));
      for (let l = 0; l < e.neurons.length; l++) engine.setNeuronMask(l, null);
      for (const [id, v] of e.lastTop) assert.ok(Math.abs(logits[id]! - v) <= MAX_LOGIT_ABS_ERR, `${c.prompt} @ ${d}, logit ${id}: ${logits[id]} vs ${v}`);
    }
  }
});

forward.run();

// ---
const runtime = suite(`${NAME}: wasm runtime (open → instruct / generate with policy learned)`);

runtime('instruct selects the same neurons; greedy generation gives the same tokens', async () => {
  const model = await open(MODEL, { ffn: 'selective' });
  try {
    for (const c of EXPECTED.cases) {
      for (const d of EXPECTED.densities) {
        const e = c.densities[key(d)]!;
        const ins = await model.instruct(c.prompt, { density: d, policy: 'learned' });
        assert.equal(ins.promptIds, c.promptIds);
        assert.equal(ins.neurons.map((s) => Array.from(s)), neurons(c, d), `${c.prompt} @ ${d}`);
        const ids: number[] = [];
        for await (const t of model.generate(c.prompt, { density: d, policy: 'learned', temperature: 0, maxTokens: e.greedy.length, stop: [] })) ids.push(t.id);
        assert.equal(ids, e.greedy.slice(0, ids.length), `${c.prompt} @ ${d}: greedy ids`);
        assert.ok(ids.length === e.greedy.length || ids[ids.length - 1] === 2, 'all of them, unless EOS came first');
      }
    }
  } finally {
    await model.close();
  }
});

runtime.run();
}
