// The wasm runtime's sampler and stop strings (assembly/rt/sampler.ts, assembly/rt/stop.ts) against their
// TS oracles (src/reference/sampler.ts, src/reference/stop.ts): the same token ids for the same logits, options
// and seed, bit for bit; the same emitted tokens and stopped flag; the same errors, never a trap.
// Build first: node tools/build.mjs rt-test:sampler
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SAMPLING, mulberry32, nucleusBoundary, Sampler, selectTopK, type SamplerOptions } from '../src/reference/sampler.ts';
import { StopMatcher, type StopToken } from '../src/reference/stop.ts';
import { IfpruneError } from '../src/errors.ts';
import { randomF32, rng } from './helpers.ts';
import { Rt } from './rt-harness.ts';

/**
 * sample() on 32,000 logits with T 0.8 and top-p 0.9 must take less than this (median of SPEED_RUNS calls)
 * on LLM-like logits (normal, σ = 3, a few dominant tokens) ...
 */
const MAX_SAMPLE_MS = 1;
/**
 * ... and less than this on flat logits (uniform in [-1, 1]), the worst case: the nucleus then holds ~85%
 * of the vocabulary, and the weighted quickselect that finds it costs as much as the exps.
 */
const MAX_SAMPLE_MS_FLAT = 1.5;
const SPEED_RUNS = 200;

const rt = await Rt.create('build/rt-test-sampler.wasm');
const ex = rt.ex;

/** 'code: message' of an IfpruneError thrown by fn, or its result. */
function tsResult<T>(fn: () => T): T | string {
  try {
    return fn();
  } catch (e) {
    if (e instanceof IfpruneError) return `${e.code}: ${e.message}`;
    throw e;
  }
}

/** 'code: message' of the runtime's error (cleared), where the call returned `failed`; else the result. */
function rtResult<T>(result: T, failed: T): T | string {
  const err = rt.error();
  ex.rt_clear_error();
  if (result === failed) return err || `${String(failed)} without an error`;
  assert.is(err, '', 'an error was set but the call succeeded');
  return result;
}

// ---- logits in wasm memory: one buffer per size, reused

const logitBufs = new Map<number, number>();
function putLogits(x: Float32Array): number {
  let p = logitBufs.get(x.length);
  if (p === undefined) logitBufs.set(x.length, (p = ex.rt_alloc(x.length * 4) >>> 0));
  new Float32Array(ex.memory.buffer, p, x.length).set(x); // a fresh view: memory may have grown
  return p;
}

function rtCreate(o: SamplerOptions, vocabSize: number): true | string {
  return rtResult(ex.smp_create(o.temperature, o.topP, o.topK, o.seed, vocabSize) === 1 || false, false) as true | string;
}

function rtSample(x: Float32Array): number | string {
  return rtResult(ex.smp_sample(putLogits(x)) as number, -1);
}

// ---- logit vectors with the awkward values: ties, -Infinity, +Infinity, huge, tiny, NaN

type Gen = (r: () => number, n: number) => Float32Array;
const GENS: Record<string, Gen> = {
  uniform: (r, n) => randomF32(r, n, 1 + Math.floor(r() * 3) * 7),
  ties: (r, n) => Float32Array.from({ length: n }, () => Math.floor(r() * 4)),
  equal: (_r, n) => new Float32Array(n).fill(0.5),
  masked: (r, n) => randomF32(r, n, 4).map((v) => (r() < 0.4 ? -Infinity : v)),
  huge: (r, n) => randomF32(r, n, 2).map((v) => (r() < 0.2 ? Math.sign(v) * 3e38 : r() < 0.2 ? v * 1e30 : v)),
  tiny: (r, n) => randomF32(r, n, 1e-30),
  peaked: (r, n) => randomF32(r, n, 3).map((v, i) => (i % 97 === 5 ? v + 12 : v)),
  inf: (r, n) => randomF32(r, n, 2).map((v) => (r() < 0.05 ? Infinity : v)),
  nan: (r, n) => randomF32(r, n, 2).map((v) => (r() < 0.02 ? NaN : v)),
};
const GEN_NAMES = Object.keys(GENS);

// ---

const Rng = suite('mulberry32');

Rng('draws the TS stream bit for bit, seeds reduced with ToUint32', () => {
  const n = 1000;
  const out = ex.rt_alloc(n * 8) >>> 0;
  for (const seed of [0, 1, 42, 0xffffffff, -7, -1, 2 ** 32 + 5, 3.9, -3.5, -0, 2 ** 40, 2 ** 53 + 2, 1e20 + 65536, -1e300, 5e-324]) {
    ex.smp_mulberry32(seed, n, out);
    const got = new Float64Array(ex.memory.buffer.slice(out, out + n * 8));
    const want = mulberry32(seed);
    for (let i = 0; i < n; i++) assert.is(got[i], want(), `seed ${seed} draw ${i}`);
  }
  ex.rt_free(out);
});

Rng.run();

// ---

const Exp = suite('expFdlibm and softmaxNumerators');

Exp('equals V8 Math.exp in every bit, across the whole range', () => {
  const r = rng(77);
  const n = 1 << 16;
  const p = ex.rt_alloc(n * 8) >>> 0;
  const ranges: [number, number][] = [[-800, 800], [-60, 0], [-1.1, 1.1], [-1e-8, 1e-8], [-746, -707], [707, 710], [-0.35, 0.35]];
  const special = [0, -0, 1, -1, NaN, Infinity, -Infinity, 709.782712893384, 709.79, -745.1332191019411, -745.14, 2 ** -28, -(2 ** -28), 0.5 * Math.LN2, 1.5 * Math.LN2, 5e-324, -5e-324];
  for (let rep = 0; rep < 40; rep++) {
    const [lo, hi] = ranges[rep % ranges.length]!;
    const x = Float64Array.from({ length: n }, (_, i) => (i < special.length && rep === 0 ? special[i]! : lo + (hi - lo) * r()));
    new Float64Array(ex.memory.buffer, p, n).set(x);
    ex.smp_exp(p, n);
    const got = new Float64Array(ex.memory.buffer, p, n);
    for (let i = 0; i < n; i++) if (!Object.is(got[i], Math.exp(x[i]!))) assert.unreachable(`exp(${x[i]}) = ${got[i]}, V8 says ${Math.exp(x[i]!)}`);
  }
  ex.rt_free(p);
});

Exp('softmaxNumerators (SIMD lanes and scalar tail) equals fround(Math.exp((x - max) / T)) and its sum in order', () => {
  const r = rng(78);
  for (let t = 0; t < 400; t++) {
    const n = [1, 3, 4, 5, 8, 31, 1000, 4099][t % 8]!;
    const kind = GEN_NAMES[t % GEN_NAMES.length]!;
    const x = GENS[kind === 'nan' || kind === 'inf' ? 'uniform' : kind]!(r, n).map((v) => v * [1, 0.01, 30, 1e4][t % 4]!).map((v) => (v === Infinity ? 3 : v)); // scaled huge values overflow to +∞
    x[Math.floor(r() * n)] = 3; // a finite maximum
    const max = x.reduce((m, v) => Math.max(m, v), -Infinity);
    const T = [0.8, 1, 2, 0.1, 1e-3, 1e3, 1e-30][t % 7]!;
    const want = x.map((v) => Math.fround(Math.exp((v - max) / T)));
    let sum = 0;
    for (const p of want) sum += p;
    const p = putLogits(x);
    const got = ex.smp_numerators(p, n, max, T);
    const label = `case ${t} (${kind}, n=${n}, T=${T})`;
    assert.equal(new Float32Array(ex.memory.buffer, p, n), want, label);
    assert.is(got, sum, `${label}: sum`);
  }
});

Exp.run();

// ---

const Options = suite('Sampler.create');

Options('DEFAULT_* equal DEFAULT_SAMPLING', () => {
  assert.equal(
    { temperature: ex.smp_default_temperature(), topP: ex.smp_default_top_p(), topK: ex.smp_default_top_k(), seed: ex.smp_default_seed() },
    { ...DEFAULT_SAMPLING },
  );
});

Options('invalid options fail with bad_option and the TS message', () => {
  const bad: Partial<SamplerOptions>[] = [
    { temperature: -0.1 }, { temperature: NaN }, { temperature: Infinity }, { temperature: -Infinity }, { temperature: -3 },
    { topP: 0 }, { topP: 1.01 }, { topP: -1 }, { topP: NaN }, { topP: Infinity }, { topP: -0 },
    { topK: -1 }, { topK: 2.5 }, { topK: NaN }, { topK: Infinity }, { topK: -0.5 },
    { seed: NaN }, { seed: Infinity }, { seed: -Infinity },
    { temperature: -1, topP: 0 }, // the first bad option is named
  ];
  for (const o of bad) {
    const opts = { ...DEFAULT_SAMPLING, ...o };
    const want = tsResult(() => new Sampler(opts, 10));
    assert.type(want, 'string', JSON.stringify(o));
    assert.is(rtCreate(opts, 10), want, JSON.stringify(o));
  }
});

Options('a vocabSize below 1 fails as in TS; one above MAX_VOCAB_SIZE fails before allocating', () => {
  for (const n of [0, -1, -(2 ** 31)]) assert.is(rtCreate(DEFAULT_SAMPLING, n), tsResult(() => new Sampler(DEFAULT_SAMPLING, n)), `vocab ${n}`);
  for (const n of [2 ** 24 + 1, 2 ** 31 - 1]) assert.match(rtCreate(DEFAULT_SAMPLING, n) as string, /^bad_option: sampling option vocabSize = \d+ is invalid/);
});

Options('the edges of each range are accepted', () => {
  assert.is(rtCreate({ temperature: 0, topP: 1, topK: 0, seed: -3.5 }, 1), true);
  assert.is(rtCreate({ temperature: 100, topP: Number.MIN_VALUE, topK: 1e6, seed: 2 ** 40 }, 10), true);
  assert.is(rtCreate({ temperature: 0.8, topP: 0.9, topK: 2 ** 40, seed: -1e300 }, 2 ** 24), true);
});

Options.run();

// ---

const Sample = suite('Sampler.sample');

/** Runs one TS and one wasm sampler over the same `draws` logit vectors; asserts identical ids (or errors). */
function compare(o: SamplerOptions, n: number, draws: number, r: () => number, label: string): number {
  const ts = new Sampler(o, n);
  assert.is(rtCreate(o, n), true, label);
  let sampled = 0;
  for (let d = 0; d < draws; d++) {
    const kind = GEN_NAMES[Math.floor(r() * GEN_NAMES.length)]!;
    const x = GENS[kind]!(r, n);
    const want = tsResult(() => ts.sample(x.slice()));
    const got = rtSample(x);
    if (got !== want) assert.unreachable(`${label} draw ${d} (${kind}): wasm ${got}, TS ${want}`);
    if (typeof want === 'number') sampled++;
  }
  return sampled;
}

Sample('chooses the TS ids for every size, temperature, topP, topK and seed', () => {
  const r = rng(2024);
  const seeds = [42, 7, -1, 2 ** 32 + 5, 3.9, 0];
  let cases = 0;
  for (const n of [1, 2, 7, 512, 32000]) {
    const draws = n <= 7 ? 40 : n <= 512 ? 12 : 2;
    for (const temperature of [0, 0.1, 0.8, 1, 2]) {
      for (const topP of [1, 0.9, 0.5, 0.01]) {
        for (const topK of [0, 1, 5, 40, n + 1]) {
          const seed = seeds[cases % seeds.length]!;
          const o = { temperature, topP, topK, seed };
          cases += compare(o, n, draws, r, `n=${n} ${JSON.stringify(o)}`);
        }
      }
    }
  }
  assert.ok(cases > 10000, `only ${cases} successful draws compared`);
});

Sample('a long sequence of draws from one sampler stays in step with TS', () => {
  const r = rng(5);
  for (const o of [DEFAULT_SAMPLING, { temperature: 1, topP: 0.95, topK: 0, seed: 9 }, { temperature: 1.3, topP: 0.7, topK: 50, seed: 123 }]) {
    compare(o, 512, 2000, r, JSON.stringify(o));
  }
});

Sample('greedy at any temperature where TS is greedy: topK 1, a tiny topP, ties', () => {
  const r = rng(3);
  for (const o of [{ temperature: 1.5, topK: 1, topP: 1, seed: 1 }, { temperature: 1, topP: 1e-9, topK: 0, seed: 2 }]) {
    compare(o, 500, 50, r, JSON.stringify(o));
  }
});

Sample('NaN logits and all -Infinity fail with numeric and the TS message, then sampling goes on', () => {
  for (const temperature of [0, 1]) {
    for (const at of [0, 3, 7]) {
      const o = { ...DEFAULT_SAMPLING, temperature };
      const x = new Float32Array(8).fill(1);
      x[at] = NaN;
      const ts = new Sampler(o, 8);
      rtCreate(o, 8);
      const want = tsResult(() => ts.sample(x.slice()));
      assert.match(want as string, /^numeric: .*NaN logits/);
      assert.is(rtSample(x), want, `T=${temperature} NaN at ${at}`);
      const y = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]);
      assert.is(rtSample(y), ts.sample(y.slice()), 'the next draw');
    }
  }
  const o = { ...DEFAULT_SAMPLING, temperature: 1 };
  rtCreate(o, 3);
  const x = new Float32Array(3).fill(-Infinity);
  assert.is(rtSample(x), tsResult(() => new Sampler(o, 3).sample(x.slice())));
});

/** Roughly normal (Irwin-Hall of 6) values with standard deviation sigma. */
function normalF32(r: () => number, n: number, sigma: number): Float32Array {
  return Float32Array.from({ length: n }, () => (r() + r() + r() + r() + r() + r() - 3) * Math.SQRT2 * sigma);
}

Sample(`takes < ${MAX_SAMPLE_MS} ms on 32,000 LLM-like logits with top-p 0.9 (< ${MAX_SAMPLE_MS_FLAT} ms on flat ones)`, () => {
  const n = 32000;
  const r = rng(8);
  const cases: [string, Float32Array, number][] = [
    ['LLM-like', normalF32(r, n, 3).map((v, i) => (i % 1000 === 7 ? v + 10 : v)), MAX_SAMPLE_MS],
    ['spread (uniform ±8)', randomF32(r, n, 8), MAX_SAMPLE_MS],
    ['flat (uniform ±1)', randomF32(r, n, 1), MAX_SAMPLE_MS_FLAT],
  ];
  const report: string[] = [];
  for (const [name, x, limit] of cases) {
    rtCreate({ temperature: 0.8, topP: 0.9, topK: 0, seed: 1 }, n);
    const times: number[] = [];
    for (let i = 0; i < SPEED_RUNS; i++) {
      const p = putLogits(x);
      const t0 = performance.now();
      ex.smp_sample(p);
      times.push(performance.now() - t0);
    }
    const median = times.sort((a, b) => a - b)[SPEED_RUNS >> 1]!;
    report.push(`${name} ${median.toFixed(3)} ms`);
    assert.ok(median < limit, `${name} logits: median ${median.toFixed(3)} ms, limit ${limit} ms`);
  }
  console.log(`  sample(32000 logits, T 0.8, top-p 0.9): ${report.join(', ')}`);
});

Sample.run();

// ---

const Select = suite('selectTopK and nucleusBoundary');

/** Probabilities with many exact ties: values from a small set, some zero. */
function tiedProbs(r: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.floor(r() * 6) / 4);
}

Select('selectTopK leaves the TS heap, entry for entry', () => {
  const r = rng(31);
  for (const n of [1, 2, 3, 7, 16, 33, 200, 1000]) {
    for (const k of [1, 2, 5, n - 1, n].filter((k) => k >= 1 && k <= n)) {
      for (const p of [tiedProbs(r, n), randomF32(r, n, 1)]) {
        const want = new Int32Array(k);
        selectTopK(p, n, k, want);
        const pp = rt.put(p);
        const heap = ex.rt_alloc(k * 4) >>> 0;
        ex.smp_select_top_k(pp, n, k, heap);
        assert.equal(Array.from(rt.i32(heap, k)), Array.from(want), `n=${n} k=${k}`);
        ex.rt_free(pp);
        ex.rt_free(heap);
      }
    }
  }
});

Select('nucleusBoundary gives the TS boundary and candidate order', () => {
  const r = rng(32);
  for (let t = 0; t < 500; t++) {
    const n = 1 + Math.floor(r() * 300);
    const p = t % 2 ? tiedProbs(r, n) : Float32Array.from({ length: n }, () => Math.fround(Math.exp(-8 * r())));
    p[Math.floor(r() * n)] = 2;
    const m = 1 + Math.floor(r() * n);
    const ids = Int32Array.from({ length: m }, (_, i) => (i * 7919) % n).filter((v, i, a) => a.indexOf(v) === i);
    const total = Array.from(ids).reduce((s, i) => s + p[i]!, 0);
    const threshold = [1e-9, 0.1, 0.5, 0.9, 0.999, 1.5][t % 6]! * total; // 1.5: unreachable, keep all
    const cand = ids.slice();
    const [v, ties] = nucleusBoundary(p, cand, ids.length, threshold);
    const pp = rt.put(p);
    const pc = rt.put(ids);
    ex.smp_nucleus_boundary(pp, pc, ids.length, threshold);
    const label = `case ${t}: n=${n} m=${ids.length}`;
    assert.equal([ex.smp_boundary_v(), ex.smp_boundary_ties()], [v, ties], label);
    assert.equal(Array.from(rt.i32(pc, ids.length)), Array.from(cand), `${label}: cand order`);
    ex.rt_free(pp);
    ex.rt_free(pc);
  }
});

Select.run();

// ---

interface Run {
  steps: { emit: StopToken[]; stopped: boolean }[];
  flushed: StopToken[];
}

/** Pushes every text (ids 100, 101, ...) through the TS StopMatcher, pushes after a stop included, then flushes. */
function runTs(stops: string[], texts: string[]): Run | string {
  return tsResult(() => {
    const m = new StopMatcher(stops);
    const steps = texts.map((text, i) => {
      const r = m.push({ id: 100 + i, text });
      return { emit: r.emit.map((t) => ({ id: t.id, text: t.text })), stopped: r.stopped };
    });
    return { steps, flushed: m.flush() };
  });
}

function rtTokens(count: number): StopToken[] {
  return Array.from({ length: count }, (_, i) => ({ id: ex.smp_stop_id(i), text: rt.str(ex.smp_stop_text(i)) }));
}

function putText(s: string): [number, number] {
  return rt.putString(s);
}

/** The same through the wasm StopMatcher. */
function runRt(stops: string[], texts: string[]): Run | string {
  ex.smp_stop_reset();
  for (const s of stops) {
    const [p, n] = putText(s);
    ex.smp_stop_add(p, n);
    ex.rt_free(p);
  }
  const created = rtResult(ex.smp_stop_create() === 1, false);
  if (created !== true) return created as string;
  const steps = texts.map((text, i) => {
    const [p, n] = putText(text);
    const count = ex.smp_stop_push(100 + i, p, n);
    ex.rt_free(p);
    return { emit: rtTokens(count), stopped: ex.smp_stop_stopped() === 1 };
  });
  return { steps, flushed: rtTokens(ex.smp_stop_flush()) };
}

function sameRun(stops: string[], texts: string[]): void {
  const want = runTs(stops, texts);
  assert.equal(runRt(stops, texts), want, `stops ${JSON.stringify(stops)} texts ${JSON.stringify(texts)}`);
}

const Stop = suite('StopMatcher');

Stop('replays test/stop.test.ts: the same tokens out at each push, the same stop and flush', () => {
  const cases: [string[], string[]][] = [
    [[], ['Hello', '', ' world']],
    [['</s>'], ['Once', ' upon', ' a']],
    [['\n\n'], ['The end', '.\n\nNext', 'never']],
    [['<|im_end|>'], ['Hi', ' there<|', 'im', '_end|>', 'after']],
    [['STOP'], ['abST', 'OP']],
    [['STOP'], ['ab', 'ST', 'OP']],
    [['<|im_end|>'], ['a', '<|', 'im', '_start|>', 'b']],
    [['ab'], ['a', 'a', 'b']],
    [['END'], ['xE', 'Nx']],
    [['###', '\nUser:'], ['Sure.', '\nUs', 'er: ### no']],
    [['User', 'er:'], ['Us', 'er:']],
    [['b', 'abc'], ['xa', 'bc']],
    [['c', 'bcd'], ['ab', 'c', 'd']],
    [['ab', 'abc'], ['x', 'a', 'b', 'c']],
    [['</s>'], ['</s>', 'more']],
    [['</s>'], ['</', 's>']],
    [['x'], ['ax', 'b']],
    [['é!'], ['a', '', 'é', '?']],
    [['é!'], ['a', '', 'é!']],
    [['。\n', '🛑'], ['こんにちは', '。', '\n次']],
    [['🛑stop'], ['ok 🙂', '🛑', 'st', 'ay 🙂']],
    [['🛑stop'], ['é🛑', 'sto', 'p!']],
    [['<|im_end|>'], ['x', '<|im', '_e']],
    [['zz'], ['abc']],
    [['a'], []],
  ];
  for (const [stops, texts] of cases) sameRun(stops, texts);
});

Stop('random streams with random stop strings: multi-byte characters, empty tokens, stops spanning tokens', () => {
  const r = rng(6);
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
  const pieces = ['a', 'b', 'c', 'é', '🙂', 'こ', '\n', '', 'ab', 'ba', 'abc', 'é🙂', 'cc', '🙂a', '。'];
  const chars = ['a', 'b', 'c', 'é', '🙂', 'こ', '\n', '。'];
  for (let t = 0; t < 2000; t++) {
    const stops = Array.from({ length: Math.floor(r() * 4) }, () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(chars)).join(''));
    const texts = Array.from({ length: Math.floor(r() * 16) }, () => pick(pieces));
    sameRun(stops, texts);
  }
});

Stop('an empty stop string fails with bad_option and the TS message', () => {
  for (const stops of [[''], ['ok', ''], ['a', 'b', '', '']]) {
    const want = runTs(stops, ['x']);
    assert.match(want as string, /^bad_option: stop\[\d\]/);
    assert.is(runRt(stops, ['x']), want);
  }
});

Stop.run();
