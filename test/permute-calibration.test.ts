/**
 * Rows reordered after calibration (tools/train/export.ts --reorder): MlpPredictor.permuted and
 * permuteCalibration move the predictor's outputs, the static ranking and the always-on ids with their
 * neurons, so every policy selects the same neurons, named by their new rows.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randomF32, assertThrowsCode } from './helpers.ts';
import { MlpPredictor } from '../src/pruning/learned.ts';
import { permuteCalibration } from '../src/pruning/predictor-file.ts';
import { invertPermutation } from '../src/convert/reorder.ts';
import { neuronsAt, selectLayers } from '../src/pruning/select.ts';

const test = suite('permuteCalibration');

function shuffled(n: number, r: () => number): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

function predictor(C: number, nff: number, seed: number): MlpPredictor {
  const r = rng(seed);
  const shape = { vocab: 50, nLayers: 3, nff, tokenDim: 8, hidden: 12, window: 3, ...(C ? { codebook: C } : {}) };
  const n = shape.nLayers * nff;
  return new MlpPredictor(shape, {
    E: randomF32(r, 50 * 8),
    W1: randomF32(r, 12 * 16, 0.5),
    b1: randomF32(r, 12, 0.1),
    W2: randomF32(r, n * 12, 0.5),
    b2: randomF32(r, n, 0.1),
    ...(C ? { codebook: randomF32(r, C * n, 2) } : {}),
  });
}

for (const [C, nff] of [[0, 37], [5, 37], [0, 1], [3, 64]] as const) {
  test(`the same scores and selections under the new rows (codebook ${C}, n_ff ${nff})`, () => {
    const r = rng(100 + C + nff);
    const learned = predictor(C, nff, 7 + C);
    const perms = [0, 1, 2].map(() => shuffled(nff, r));
    const inv = perms.map((p) => invertPermutation(p));
    const shared = [Int32Array.of(0, nff - 1).slice(0, Math.min(2, nff)), new Int32Array(0), Int32Array.of(Math.floor(nff / 2))];
    const cal = { learned, static: [0, 1, 2].map(() => randomF32(r, nff)), shared };
    const moved = permuteCalibration(cal, perms);
    for (let l = 0; l < 3; l++) {
      assert.equal(Array.from(moved.static![l]!), Array.from(perms[l]!, (j) => cal.static[l]![j]!), `static ranking, layer ${l}`);
      assert.equal(Array.from(moved.shared![l]!), Array.from(shared[l]!, (j) => inv[l]![j]!).sort((a, b) => a - b), `always-on rows, layer ${l}`);
    }
    for (let t = 0; t < 8; t++) {
      const ids = [1, ...Array.from({ length: 1 + Math.floor(r() * 9) }, () => Math.floor(r() * 50))];
      const before = learned.predict(ids);
      const after = moved.learned!.predict(ids);
      // the head's products run the same sums in the same order per row; a codebook entry's values only move
      after.forEach((s, l) => assert.equal(Array.from(s), Array.from(perms[l]!, (j) => before[l]![j]!), `scores, prompt ${t}, layer ${l}`));
      for (const d of [0.25, 0.5, 1]) {
        const want = selectLayers(before, neuronsAt(d, nff), shared).map((s, l) => Array.from(s, (j) => inv[l]![j]!).sort((a, b) => a - b));
        assert.equal(selectLayers(after, neuronsAt(d, nff), moved.shared).map((s) => Array.from(s)), want, `selection @ ${d}`);
      }
    }
  });
}

test('the permutations must match the predictor: one per layer, n_ff each', () => {
  const learned = predictor(0, 8, 1);
  const id = () => Uint32Array.from({ length: 8 }, (_, i) => i);
  assertThrowsCode(() => permuteCalibration({ learned }, [id(), id()]), 'bad_option');
  assertThrowsCode(() => permuteCalibration({ learned }, [id(), id(), id().subarray(1)]), 'bad_option');
});

test.run();
