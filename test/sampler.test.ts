import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SAMPLING, mulberry32, nucleusBoundary, Sampler, selectTopK, type SamplerOptions } from '../src/reference/sampler.ts';
import { assertThrowsCode, randomF32, rng } from './helpers.ts';

/** Empirical frequencies must lie within this many standard errors of the expected probability. */
const MAX_Z = 4;
/** Draws per empirical-distribution test. */
const DRAWS = 20000;

const opts = (o: Partial<SamplerOptions>): SamplerOptions => ({ ...DEFAULT_SAMPLING, ...o });

function softmax(x: ArrayLike<number>, temperature = 1): number[] {
  const max = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp((v - max) / temperature));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Token counts over `draws` samples; logits are copied each time because sample() overwrites them. */
function histogram(sampler: Sampler, logits: Float32Array, draws = DRAWS): number[] {
  const counts = new Array<number>(sampler.vocabSize).fill(0);
  for (let i = 0; i < draws; i++) counts[sampler.sample(logits.slice())]!++;
  return counts;
}

function assertMatchesDistribution(counts: number[], probs: number[], label: string): void {
  const n = counts.reduce((a, b) => a + b, 0);
  probs.forEach((p, i) => {
    const se = Math.sqrt((p * (1 - p)) / n);
    const got = counts[i]! / n;
    if (p === 0) assert.is(counts[i], 0, `${label}: token ${i} has probability 0 but was drawn ${counts[i]} times`);
    else assert.ok(Math.abs(got - p) <= MAX_Z * se, `${label}: token ${i} frequency ${got.toFixed(4)}, expected ${p.toFixed(4)} ± ${(MAX_Z * se).toFixed(4)}`);
  });
}

function argmaxFirst(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

// ---

const Rng = suite('mulberry32');

Rng('matches the reference mulberry32 of test/helpers and stays in [0, 1)', () => {
  for (const seed of [0, 1, 42, 0xffffffff, -7]) {
    const a = mulberry32(seed);
    const b = rng(seed);
    for (let i = 0; i < 1000; i++) {
      const x = a();
      assert.is(x, b(), `seed ${seed} draw ${i}`);
      assert.ok(x >= 0 && x < 1, `seed ${seed} draw ${i} = ${x}`);
    }
  }
});

Rng('reduces the seed with ToUint32', () => {
  assert.is(mulberry32(-1)(), mulberry32(0xffffffff)());
  assert.is(mulberry32(2 ** 32 + 5)(), mulberry32(5)());
  assert.is(mulberry32(3.9)(), mulberry32(3)());
});

Rng.run();

// ---

const Greedy = suite('Sampler greedy');

Greedy('temperature 0 returns the argmax on random logits', () => {
  const r = rng(1);
  const s = new Sampler(opts({ temperature: 0 }), 1000);
  for (let t = 0; t < 50; t++) {
    const x = randomF32(r, 1000, 5);
    assert.is(s.sample(x), argmaxFirst(x), `case ${t}`);
  }
});

Greedy('ties go to the first maximum', () => {
  const s = new Sampler(opts({ temperature: 0 }), 6);
  assert.is(s.sample(new Float32Array([1, 3, 2, 3, 3, 0])), 1);
  assert.is(s.sample(new Float32Array([5, 5, 5, 5, 5, 5])), 0);
  assert.is(s.sample(new Float32Array([-Infinity, -2, -2, -Infinity, -3, -2])), 1);
});

Greedy('uses only the first vocabSize logits', () => {
  const s = new Sampler(opts({ temperature: 0 }), 3);
  assert.is(s.sample(new Float32Array([0, 2, 1, 99, NaN])), 1);
});

Greedy('topK = 1 equals greedy at any temperature', () => {
  const r = rng(2);
  const s = new Sampler(opts({ temperature: 1.5, topK: 1, topP: 1 }), 500);
  for (let t = 0; t < 50; t++) {
    const x = randomF32(r, 500, 2);
    x[t * 7] = x[argmaxFirst(x)]!; // a tie at another index
    assert.is(s.sample(x.slice()), argmaxFirst(x), `case ${t}`);
  }
});

Greedy('a tiny topP equals greedy, ties included', () => {
  const r = rng(3);
  const s = new Sampler(opts({ temperature: 1, topP: 1e-9, topK: 0 }), 500);
  for (let t = 0; t < 50; t++) {
    const x = t === 0 ? new Float32Array(500) : randomF32(r, 500, 2); // case 0: uniform, the prefilter's edge
    x[499 - t] = x[argmaxFirst(x)]!;
    assert.is(s.sample(x.slice()), argmaxFirst(x), `case ${t}`);
  }
});

Greedy.run();

// ---

const Seeded = suite('Sampler seeding');

function sequence(seed: number, n = 64): number[] {
  const r = rng(9);
  const s = new Sampler(opts({ seed, temperature: 1, topP: 0.95 }), 256);
  return Array.from({ length: n }, () => s.sample(randomF32(r, 256, 3)));
}

Seeded('the same seed gives the same tokens', () => {
  assert.equal(sequence(42), sequence(42));
  assert.equal(sequence(7), sequence(7));
});

Seeded('different seeds give different tokens', () => {
  assert.not.equal(sequence(42), sequence(43));
  assert.not.equal(sequence(0), sequence(1));
});

Seeded('DEFAULT_SAMPLING is the documented reference and frozen', () => {
  assert.equal({ ...DEFAULT_SAMPLING }, { temperature: 0.8, topP: 0.9, topK: 0, seed: 42 });
  assert.ok(Object.isFrozen(DEFAULT_SAMPLING));
});

Seeded.run();

// ---

const Dist = suite('Sampler distribution');

const LOGITS8 = new Float32Array([1.0, 2.5, -0.5, 0.3, 2.0, -1.2, 0.9, 1.7]);

Dist('temperature 1, topP 1 draws from softmax(logits)', () => {
  const s = new Sampler(opts({ temperature: 1, topP: 1, topK: 0, seed: 1234 }), 8);
  assertMatchesDistribution(histogram(s, LOGITS8), softmax(LOGITS8), 'T=1');
});

Dist('temperature scales the logits: T < 1 sharpens, T > 1 flattens', () => {
  const sharp = histogram(new Sampler(opts({ temperature: 0.5, topP: 1, seed: 5 }), 8), LOGITS8);
  const flat = histogram(new Sampler(opts({ temperature: 2, topP: 1, seed: 5 }), 8), LOGITS8);
  assertMatchesDistribution(sharp, softmax(LOGITS8, 0.5), 'T=0.5');
  assertMatchesDistribution(flat, softmax(LOGITS8, 2), 'T=2');
  const top = argmaxFirst(LOGITS8);
  assert.ok(sharp[top]! > DRAWS * softmax(LOGITS8)[top]! && flat[top]! < DRAWS * softmax(LOGITS8)[top]!, `top token: T=0.5 ${sharp[top]}, T=2 ${flat[top]}`);
});

Dist('topK restricts support to the k largest, renormalised', () => {
  const k = 3;
  const s = new Sampler(opts({ temperature: 1, topP: 1, topK: k, seed: 77 }), 8);
  const order = Array.from(LOGITS8.keys()).sort((a, b) => LOGITS8[b]! - LOGITS8[a]!);
  const keep = new Set(order.slice(0, k)); // {1, 4, 7}
  const p = softmax(LOGITS8).map((v, i) => (keep.has(i) ? v : 0));
  const z = p.reduce((a, b) => a + b, 0);
  assertMatchesDistribution(histogram(s, LOGITS8), p.map((v) => v / z), 'topK=3');
});

Dist('topK on a large random vocabulary never leaves the k largest', () => {
  const r = rng(11);
  const n = 5000;
  for (const k of [1, 2, 17, 64]) {
    const s = new Sampler(opts({ temperature: 3, topP: 1, topK: k, seed: k }), n);
    for (let t = 0; t < 20; t++) {
      const x = randomF32(r, n, 1);
      const kth = Array.from(x).sort((a, b) => b - a)[k - 1]!;
      const id = s.sample(x.slice());
      assert.ok(x[id]! >= kth, `k=${k}: token ${id} logit ${x[id]} below the k-th largest ${kth}`);
    }
  }
});

Dist('topK at a tie boundary keeps the lower ids', () => {
  // logits 0,0,0,0 with k = 2: only ids 0 and 1 may appear
  const counts = histogram(new Sampler(opts({ temperature: 1, topP: 1, topK: 2, seed: 3 }), 4), new Float32Array(4), 2000);
  assert.is(counts[2]! + counts[3]!, 0, `counts ${counts}`);
  assert.ok(counts[0]! > 0 && counts[1]! > 0, `counts ${counts}`);
});

Dist('topP restricts support to the nucleus, renormalised', () => {
  // probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625: nucleus for topP 0.8 is {0, 1, 2} (0.875 ≥ 0.8 > 0.75)
  const x = new Float32Array([0.5, 0.25, 0.125, 0.0625, 0.0625].map(Math.log));
  const shuffled = new Float32Array([x[3]!, x[0]!, x[4]!, x[2]!, x[1]!]); // ids 1, 4, 3 form the nucleus
  const s = new Sampler(opts({ temperature: 1, topP: 0.8, topK: 0, seed: 99 }), 5);
  assertMatchesDistribution(histogram(s, shuffled), [0, 4 / 7, 0, 1 / 7, 2 / 7], 'topP=0.8');
});

Dist('topP mass is reached with ≥, not >', () => {
  // probabilities 0.5, 0.25, 0.25: topP 0.75 is reached exactly by {0, 1}
  const x = new Float32Array([0.5, 0.25, 0.25].map(Math.log));
  const counts = histogram(new Sampler(opts({ temperature: 1, topP: 0.75, seed: 4 }), 3), x, 3000);
  assert.is(counts[2], 0, `counts ${counts}`);
});

Dist('topK then topP: the nucleus is taken within the renormalised top k', () => {
  // probabilities 0.4, 0.3, 0.2, 0.1; top-2 renormalised: 4/7, 3/7; topP 0.5 keeps only id 0
  const x = new Float32Array([0.4, 0.3, 0.2, 0.1].map(Math.log));
  const only0 = histogram(new Sampler(opts({ temperature: 1, topK: 2, topP: 0.5, seed: 8 }), 4), x, 2000);
  assert.is(only0[0], 2000, `counts ${only0}`);
  // topP 0.6 within the top 2 (4/7 < 0.6) keeps both, never 2 or 3
  const both = histogram(new Sampler(opts({ temperature: 1, topK: 2, topP: 0.6, seed: 8 }), 4), x);
  assertMatchesDistribution(both, [4 / 7, 3 / 7, 0, 0], 'topK=2 topP=0.6');
});

Dist('topP on a large random vocabulary matches the nucleus computed by sorting', () => {
  const r = rng(12);
  const n = 3000;
  const topP = 0.5;
  const s = new Sampler(opts({ temperature: 1, topP, seed: 21 }), n);
  for (let t = 0; t < 20; t++) {
    const x = randomF32(r, n, 6);
    const p = softmax(x);
    const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b);
    const nucleus = new Set<number>();
    let cum = 0;
    for (const i of order) {
      nucleus.add(i);
      if ((cum += p[i]!) >= topP) break;
    }
    const id = s.sample(x.slice());
    assert.ok(nucleus.has(id), `case ${t}: token ${id} (p = ${p[id]}) is outside the ${nucleus.size}-token nucleus`);
  }
});

Dist('-Infinity logits (masked tokens) are never drawn', () => {
  const x = new Float32Array([0, -Infinity, 0, -Infinity]);
  const counts = histogram(new Sampler(opts({ temperature: 1, topP: 1, seed: 2 }), 4), x, 2000);
  assert.is(counts[1]! + counts[3]!, 0, `counts ${counts}`);
});

Dist.run();

// ---

const Select = suite('selectTopK and nucleusBoundary');

/** The oracle: sort ids by probability (descending, lower id first) and cut. */
function sortedIds(p: Float32Array, ids: number[]): number[] {
  return [...ids].sort((a, b) => p[b]! - p[a]! || a - b);
}

/** Probabilities with many exact ties: values from a small set, some zero. */
function tiedProbs(r: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.floor(r() * 6) / 4);
}

Select('selectTopK keeps the k most probable ids, lower ids first on ties', () => {
  const r = rng(31);
  for (const n of [1, 2, 3, 7, 16, 33, 200]) {
    for (const k of [1, 2, 5, n - 1, n].filter((k) => k >= 1 && k <= n)) {
      const p = tiedProbs(r, n);
      const heap = new Int32Array(k);
      selectTopK(p, n, k, heap);
      const want = sortedIds(p, [...p.keys()]).slice(0, k).sort((a, b) => a - b);
      assert.equal([...heap].sort((a, b) => a - b), want, `n=${n} k=${k}`);
    }
  }
});

Select('nucleusBoundary gives the same set as sorting and cutting at the first cumulative mass ≥ threshold', () => {
  const r = rng(32);
  for (let t = 0; t < 300; t++) {
    const n = 1 + Math.floor(r() * 300);
    const p = t % 2 ? tiedProbs(r, n) : Float32Array.from({ length: n }, () => Math.fround(Math.exp(-8 * r())));
    p[Math.floor(r() * n)] = 2; // at least one positive
    const ids = [...p.keys()];
    const total = ids.reduce((s, i) => s + p[i]!, 0);
    const topP = [1e-9, 0.1, 0.5, 0.9, 0.999][t % 5]!;
    const order = sortedIds(p, ids);
    const want: number[] = [];
    let cum = 0;
    for (const i of order) {
      want.push(i);
      if ((cum += p[i]!) >= topP * total) break;
    }
    const [v, ties] = nucleusBoundary(p, Int32Array.from(ids), n, topP * total);
    const got: number[] = [];
    let tie = 0;
    for (let i = 0; i < n; i++) if (p[i]! > v || (p[i] === v && tie++ < ties)) got.push(i);
    assert.equal(got, want.sort((a, b) => a - b), `case ${t}: n=${n} topP=${topP}`);
  }
});

Select.run();

// ---

const Errors = suite('Sampler errors');

Errors('invalid options throw bad_option naming the option, value and range', async () => {
  const bad: [Partial<SamplerOptions>, string][] = [
    [{ temperature: -0.1 }, 'temperature'],
    [{ temperature: NaN }, 'temperature'],
    [{ temperature: Infinity }, 'temperature'],
    [{ topP: 0 }, 'topP'],
    [{ topP: 1.01 }, 'topP'],
    [{ topP: -1 }, 'topP'],
    [{ topP: NaN }, 'topP'],
    [{ topK: -1 }, 'topK'],
    [{ topK: 2.5 }, 'topK'],
    [{ topK: NaN }, 'topK'],
    [{ seed: NaN }, 'seed'],
    [{ seed: Infinity }, 'seed'],
    [{ seed: '42' as unknown as number }, 'seed'],
  ];
  for (const [o, name] of bad) {
    const err = await assertThrowsCode(() => new Sampler(opts(o), 10), 'bad_option', JSON.stringify(o));
    const value = String(Object.values(o)[0]);
    assert.ok(err.message.includes(name) && err.message.includes(value) && /expected/.test(err.message), err.message);
  }
});

Errors('the edges of each range are accepted', () => {
  new Sampler(opts({ temperature: 0, topP: 1, topK: 0, seed: -3.5 }), 1);
  new Sampler(opts({ temperature: 100, topP: Number.MIN_VALUE, topK: 1e6, seed: 2 ** 40 }), 10);
});

Errors('a bad vocabSize or short logits throw bad_option', async () => {
  await assertThrowsCode(() => new Sampler(DEFAULT_SAMPLING, 0), 'bad_option', 'vocab 0');
  await assertThrowsCode(() => new Sampler(DEFAULT_SAMPLING, 1.5), 'bad_option', 'vocab 1.5');
  await assertThrowsCode(() => new Sampler(DEFAULT_SAMPLING, 10).sample(new Float32Array(9)), 'bad_option', 'short logits');
});

Errors('NaN logits throw numeric, greedy or not, wherever the NaN is', async () => {
  for (const temperature of [0, 1]) {
    for (const at of [0, 3, 7]) {
      const x = new Float32Array(8).fill(1);
      x[at] = NaN;
      const err = await assertThrowsCode(() => new Sampler(opts({ temperature }), 8).sample(x), 'numeric', `T=${temperature} NaN at ${at}`);
      assert.match(err.message, /NaN logits/);
    }
  }
});

Errors('all -Infinity logits throw numeric', async () => {
  await assertThrowsCode(() => new Sampler(opts({ temperature: 1 }), 3).sample(new Float32Array(3).fill(-Infinity)), 'numeric');
});

Errors.run();

// ---

const Large = suite('Sampler at 152k vocabulary');

Large('samples a 152k vocabulary with every option combination', () => {
  const n = 152064; // Qwen2 vocabulary
  const r = rng(152);
  const logits = randomF32(r, n, 8);
  const peaked = logits.map((v, i) => (i % 1000 === 0 ? v + 20 : v)); // a few dominant tokens
  const combos: Partial<SamplerOptions>[] = [
    { temperature: 0 },
    { temperature: 1, topP: 1, topK: 0 },
    { temperature: 0.8, topP: 0.9, topK: 0 },
    { temperature: 0.8, topP: 0.9, topK: 40 },
    { temperature: 1, topP: 1, topK: 1000 },
  ];
  for (const o of combos) {
    const s = new Sampler(opts(o), n);
    for (let t = 0; t < 5; t++) {
      for (const x of [logits, peaked]) {
        const id = s.sample(x.slice());
        assert.ok(Number.isInteger(id) && id >= 0 && id < n, `${JSON.stringify(o)}: id ${id}`);
      }
    }
  }
});

Large.run();
