/**
 * Elementwise and attention kernels (assembly/ops.ts) against the TS reference (src/reference/ops.ts),
 * once per build, at awkward sizes with seeded inputs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Kernels } from '../src/engine/kernels.ts';
import { BUILDS, kernelsFor, put, zeros, getF32 } from './kernel-harness.ts';
import { rng, randomF32, assertClose, assertThrowsCode } from './helpers.ts';
import { rmsnormF32, ropeF32, softmaxF32, siluF32, addF32, mulF32, argmaxF32, attentionF32, memReadF32 } from '../src/reference/ops.ts';

// Tolerances: |kernel - reference| ≤ tol · max(1, |reference|) elementwise (assertClose).
const MAX_RMSNORM_REL_ERR = 1e-5; // sum of squares in a different order (f32x4 lanes)
const MAX_ROPE_ERR = 1e-6; // same f64 angle, same f32 rotation; only Math.cos/sin implementations differ
const MAX_ROPE_LLAMA2C_ERR = 1e-5; // against llama2.c's loop, angles in f64
const MAX_SOFTMAX_ERR = 1e-6; // outputs are ≤ 1: absolute
const MAX_SILU_ERR = 1e-6;
const MAX_ATTENTION_ERR = 1e-5; // dot products over headSize in a different order
const MAX_MEM_READ_REL_ERR = 1e-5; // relative to Σ|x|

const SIZES = [1, 3, 4, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 1000];

// ---

for (const build of BUILDS) {
  const s = suite(`rmsnorm_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  s('matches the reference at awkward sizes', () => {
    const r = rng(1);
    for (const n of SIZES) {
      const x = randomF32(r, n, 3);
      const w = randomF32(r, n);
      const px = put(K, x);
      const pw = put(K, w);
      const po = zeros(K, n);
      K.fn.rmsnorm_f32(po, px, pw, n, 1e-5);
      const want = new Float32Array(n);
      rmsnormF32(want, x, w, n, 1e-5);
      assertClose(getF32(K, po, n), want, MAX_RMSNORM_REL_ERR, `n=${n}`);
    }
  });

  s('works in place (out = x)', () => {
    const r = rng(2);
    for (const n of [5, 64, 1000]) {
      const x = randomF32(r, n, 100);
      const w = randomF32(r, n);
      const px = put(K, x);
      K.fn.rmsnorm_f32(px, px, put(K, w), n, 1e-6);
      const want = new Float32Array(n);
      rmsnormF32(want, x, w, n, 1e-6);
      assertClose(getF32(K, px, n), want, MAX_RMSNORM_REL_ERR, `n=${n}`);
    }
  });

  s('has unit root-mean-square with unit weights', () => {
    const n = 33;
    const x = randomF32(rng(3), n, 50);
    const po = zeros(K, n);
    K.fn.rmsnorm_f32(po, put(K, x), zeros(K, n, 1), n, 0);
    const out = getF32(K, po, n);
    const rms = Math.sqrt(out.reduce((a, v) => a + v * v, 0) / n);
    assert.ok(Math.abs(rms - 1) < 1e-5, `rms ${rms}`);
  });

  s('throws out_of_bounds for an operand past the end of memory', async () => {
    const n = 16;
    const px = zeros(K, n);
    const end = K.memory.buffer.byteLength;
    await assertThrowsCode(() => K.fn.rmsnorm_f32(px, px, end - 32, n, 1e-5), 'out_of_bounds', 'w past end');
  });

  s.run();
}

// ---

/** llama2.c run.c's RoPE loop over q (dim = nHeads · headSize), angles in f64. */
function ropeLlama2c(q: Float32Array, dim: number, headSize: number, pos: number): void {
  for (let i = 0; i < dim; i += 2) {
    const headDim = i % headSize;
    const freq = 1.0 / Math.pow(10000.0, headDim / headSize);
    const val = pos * freq;
    const fcr = Math.cos(val);
    const fci = Math.sin(val);
    const v0 = q[i];
    const v1 = q[i + 1];
    q[i] = v0 * fcr - v1 * fci;
    q[i + 1] = v0 * fci + v1 * fcr;
  }
}

for (const build of BUILDS) {
  const s = suite(`rope_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  s('matches the reference over head sizes, rope dims, positions, bases and both pairings', () => {
    const r = rng(10);
    for (const headSize of [8, 64, 6]) {
      for (const ropeDim of [headSize, headSize - 2, 2, 0]) {
        for (const pos of [0, 1, 37, 500]) {
          for (const freqBase of [10000, 1e6]) {
            for (const neox of [0, 1]) {
              const nHeads = 3;
              const x = randomF32(r, nHeads * headSize);
              const px = put(K, x);
              K.fn.rope_f32(px, nHeads, headSize, ropeDim, pos, freqBase, neox);
              ropeF32(x, nHeads, headSize, ropeDim, pos, freqBase, neox);
              const label = `headSize=${headSize} ropeDim=${ropeDim} pos=${pos} base=${freqBase} neox=${neox}`;
              assertClose(getF32(K, px, nHeads * headSize), x, MAX_ROPE_ERR, label);
            }
          }
        }
      }
    }
  });

  s('equals llama2.c run.c when ropeDim = headSize and neox = 0', () => {
    const r = rng(11);
    for (const [nHeads, headSize] of [[6, 8], [2, 64], [4, 6]] as const) {
      for (const pos of [0, 1, 37, 500]) {
        const x = randomF32(r, nHeads * headSize);
        const px = put(K, x);
        K.fn.rope_f32(px, nHeads, headSize, headSize, pos, 10000, 0);
        ropeLlama2c(x, nHeads * headSize, headSize, pos);
        assertClose(getF32(K, px, nHeads * headSize), x, MAX_ROPE_LLAMA2C_ERR, `nHeads=${nHeads} headSize=${headSize} pos=${pos}`);
      }
    }
  });

  s('is the identity at pos 0 and leaves dims ≥ ropeDim untouched', () => {
    const r = rng(12);
    const [nHeads, headSize, ropeDim] = [4, 64, 16];
    for (const neox of [0, 1]) {
      const x = randomF32(r, nHeads * headSize);
      const p0 = put(K, x);
      K.fn.rope_f32(p0, nHeads, headSize, ropeDim, 0, 10000, neox);
      assert.equal(getF32(K, p0, x.length), x, 'pos 0');
      const p1 = put(K, x);
      K.fn.rope_f32(p1, nHeads, headSize, ropeDim, 37, 10000, neox);
      const y = getF32(K, p1, x.length);
      for (let h = 0; h < nHeads; h++) {
        for (let d = ropeDim; d < headSize; d++) assert.is(y[h * headSize + d], x[h * headSize + d], `head ${h} dim ${d}`);
      }
    }
  });

  s('preserves the norm of every rotated pair', () => {
    const [nHeads, headSize, ropeDim] = [2, 8, 8];
    const x = randomF32(rng(13), nHeads * headSize);
    for (const neox of [0, 1]) {
      const px = put(K, x);
      K.fn.rope_f32(px, nHeads, headSize, ropeDim, 500, 1e6, neox);
      const y = getF32(K, px, x.length);
      for (let h = 0; h < nHeads; h++) {
        for (let i = 0; i < ropeDim / 2; i++) {
          const [a, b] = neox ? [i, i + ropeDim / 2] : [2 * i, 2 * i + 1];
          const o = h * headSize;
          const before = Math.hypot(x[o + a], x[o + b]);
          const after = Math.hypot(y[o + a], y[o + b]);
          assert.ok(Math.abs(before - after) < 1e-6, `neox=${neox} head ${h} pair ${i}: ${before} -> ${after}`);
        }
      }
    }
  });

  s('throws bad_option for an odd ropeDim or one above headSize', async () => {
    const px = zeros(K, 16);
    await assertThrowsCode(() => K.fn.rope_f32(px, 2, 8, 7, 1, 10000, 0), 'bad_option', 'odd ropeDim');
    await assertThrowsCode(() => K.fn.rope_f32(px, 2, 8, 10, 1, 10000, 0), 'bad_option', 'ropeDim > headSize');
  });

  s.run();
}

// ---

for (const build of BUILDS) {
  const s = suite(`softmax_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  s('matches the reference at awkward sizes and sums to 1', () => {
    const r = rng(20);
    for (const n of SIZES) {
      const x = randomF32(r, n, 8);
      const px = put(K, x);
      K.fn.softmax_f32(px, n);
      softmaxF32(x, n);
      const y = getF32(K, px, n);
      assertClose(y, x, MAX_SOFTMAX_ERR, `n=${n}`);
      const sum = y.reduce((a, v) => a + v, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `n=${n}: sum ${sum}`);
    }
  });

  s('stays finite for large inputs (max subtracted first)', () => {
    const x = new Float32Array([1000, 999, 1000, -1000, 500, 1001, 1000, 998, 3e38]);
    for (const n of [8, 9]) {
      const px = put(K, x.subarray(0, n));
      K.fn.softmax_f32(px, n);
      const y = getF32(K, px, n);
      assert.ok(y.every(Number.isFinite), `n=${n}: ${y}`);
      const want = x.slice(0, n);
      softmaxF32(want, n);
      assertClose(y, want, MAX_SOFTMAX_ERR, `n=${n}`);
    }
  });

  s('gives exactly 0 to -Infinity entries (masked positions)', () => {
    const x = new Float32Array([0.5, -Infinity, 2, -Infinity, -Infinity, 1, -90, 3, -Infinity]);
    const px = put(K, x);
    K.fn.softmax_f32(px, x.length);
    const y = getF32(K, px, x.length);
    for (const i of [1, 3, 4, 8]) assert.is(y[i], 0, `[${i}]`);
    const want = x.slice();
    softmaxF32(want, x.length);
    assertClose(y, want, MAX_SOFTMAX_ERR);
  });

  s('does nothing for n = 0', () => {
    const px = zeros(K, 4, 7);
    K.fn.softmax_f32(px, 0);
    assert.equal(getF32(K, px, 4), new Float32Array(4).fill(7));
  });

  s('throws out_of_bounds for x past the end of memory', async () => {
    const end = K.memory.buffer.byteLength;
    await assertThrowsCode(() => K.fn.softmax_f32(end - 16, 5), 'out_of_bounds');
  });

  s.run();
}

// ---

for (const build of BUILDS) {
  const s = suite(`silu_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  s('matches the reference at awkward sizes', () => {
    const r = rng(30);
    for (const n of SIZES) {
      const x = randomF32(r, n, 12);
      const px = put(K, x);
      K.fn.silu_f32(px, n);
      siluF32(x, n);
      assertClose(getF32(K, px, n), x, MAX_SILU_ERR, `n=${n}`);
    }
  });

  s('matches the reference over [-100, 100] (exp over- and underflow)', () => {
    const n = 1001;
    const x = new Float32Array(n).map((_, i) => -100 + (200 * i) / (n - 1));
    const px = put(K, x);
    K.fn.silu_f32(px, n);
    siluF32(x, n);
    assertClose(getF32(K, px, n), x, MAX_SILU_ERR);
  });

  s('is 0 at 0, ≈x for large x and ≈0 for very negative x', () => {
    const x = new Float32Array([0, 50, -50, -200, 200]);
    const px = put(K, x);
    K.fn.silu_f32(px, x.length);
    const y = getF32(K, px, x.length);
    assert.is(y[0], 0);
    assert.is(y[1], 50);
    assert.ok(Math.abs(y[2]) < 1e-18 && Math.abs(y[3]) === 0, `${y[2]} ${y[3]}`);
    assert.is(y[4], 200);
  });

  s.run();
}

// ---

const ELEMENTWISE = [
  { name: 'add_f32', ref: addF32, fill: [1, 2, 3] },
  { name: 'mul_f32', ref: mulF32, fill: [3, 2, 6] },
] as const;

for (const build of BUILDS) {
  for (const op of ELEMENTWISE) {
    const s = suite(`${op.name} [${build}]`);
    let K: Kernels;
    let base = 0;
    s.before(async () => {
      K = await kernelsFor(build);
      base = K.mark();
    });
    s.after.each(() => K.release(base));

    s('equals the reference exactly at awkward sizes', () => {
      const r = rng(40);
      for (const n of [...SIZES, 0]) {
        const out = randomF32(r, n, 5);
        const x = randomF32(r, n, 5);
        const po = put(K, out);
        K.call(op.name, po, put(K, x), n);
        op.ref(out, x, n);
        assert.equal(getF32(K, po, n), out, `n=${n}`);
      }
    });

    s('leaves the float after out alone', () => {
      const n = 17;
      const [a, b, result] = op.fill;
      const po = zeros(K, n + 1, a);
      K.call(op.name, po, zeros(K, n + 1, b), n);
      const y = getF32(K, po, n + 1);
      assert.is(y[n - 1], result);
      assert.is(y[n], a);
    });

    s('throws out_of_bounds for out past the end of memory', async () => {
      const px = zeros(K, 8);
      const end = K.memory.buffer.byteLength;
      await assertThrowsCode(() => K.call(op.name, end - 4, px, 8), 'out_of_bounds');
    });

    s.run();
  }
}

// ---

for (const build of BUILDS) {
  const s = suite(`argmax_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  const argmax = (x: Float32Array) => K.fn.argmax_f32(put(K, x), x.length);

  s('equals the reference at awkward sizes, many seeds', () => {
    const r = rng(50);
    for (let rep = 0; rep < 50; rep++) {
      for (const n of SIZES) {
        const x = randomF32(r, n, 10);
        assert.is(argmax(x), argmaxF32(x, n), `rep ${rep} n=${n}`);
      }
    }
  });

  s('returns the first of tied maxima, wherever they fall among SIMD lanes', () => {
    for (const n of [2, 5, 8, 17, 33, 100]) {
      for (let first = 0; first < n; first++) {
        for (const second of [first + 1, first + 3, first + 4, n - 1]) {
          if (second <= first || second >= n) continue;
          const x = new Float32Array(n).fill(-1);
          x[first] = 7;
          x[second] = 7;
          assert.is(argmax(x), first, `n=${n} ties at ${first}, ${second}`);
        }
      }
    }
    assert.is(argmax(new Float32Array(33).fill(2)), 0, 'all equal');
  });

  s('finds the maximum of all-negative inputs, first or last', () => {
    for (const n of [1, 4, 7, 33]) {
      const x = new Float32Array(n).map((_, i) => -100 - i);
      assert.is(argmax(x), 0, `n=${n} first`);
      x.reverse();
      assert.is(argmax(x), n - 1, `n=${n} last`);
    }
    assert.is(argmax(new Float32Array([-Infinity, -Infinity, -Infinity, -Infinity, -Infinity])), 0, 'all -inf');
  });

  s('ignores NaN except at x[0], as the scalar scan does', () => {
    const x = new Float32Array([0, NaN, 0, 0, 0, 5, NaN, 1, 2]);
    assert.is(argmax(x), 5);
    x[0] = NaN;
    assert.is(argmax(x), argmaxF32(x, x.length));
    assert.is(argmax(x), 0);
  });

  s('throws bad_option for n = 0', async () => {
    const px = zeros(K, 4);
    await assertThrowsCode(() => K.fn.argmax_f32(px, 0), 'bad_option');
  });

  s.run();
}

// ---

interface AttnCase { nHeads: number; nKvHeads: number; headSize: number; nPos: number }

for (const build of BUILDS) {
  const s = suite(`attention_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  /** Runs both on seeded inputs and compares; kCache/vCache rows are (nKvHeads·headSize). */
  function check(c: AttnCase, r: () => number, scale = 1): void {
    const { nHeads, nKvHeads, headSize, nPos } = c;
    const q = randomF32(r, nHeads * headSize, scale);
    const kCache = randomF32(r, nPos * nKvHeads * headSize, scale);
    const vCache = randomF32(r, nPos * nKvHeads * headSize);
    const po = zeros(K, nHeads * headSize, NaN);
    const pAtt = zeros(K, nPos, NaN);
    K.fn.attention_f32(po, put(K, q), put(K, kCache), put(K, vCache), pAtt, nHeads, nKvHeads, headSize, nPos);
    const want = new Float32Array(nHeads * headSize);
    attentionF32(want, q, kCache, vCache, new Float32Array(nPos), nHeads, nKvHeads, headSize, nPos);
    assertClose(getF32(K, po, want.length), want, MAX_ATTENTION_ERR, JSON.stringify(c));
  }

  s('matches the reference over GQA groupings, head sizes and positions', () => {
    const r = rng(60);
    for (const [nHeads, nKvHeads] of [[8, 4], [9, 3], [4, 1], [4, 4]]) {
      for (const headSize of [8, 64, 6]) {
        for (const nPos of [1, 2, 7, 33, 200]) check({ nHeads, nKvHeads, headSize, nPos }, r);
      }
    }
  });

  s('matches the reference on 40 random shapes, with peaked scores', () => {
    const r = rng(61);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
    for (let rep = 0; rep < 40; rep++) {
      const nKvHeads = pick([1, 2, 3, 4]);
      const nHeads = nKvHeads * pick([1, 2, 3]);
      const headSize = pick([2, 4, 5, 12, 16, 20, 31, 48, 64, 128]);
      check({ nHeads, nKvHeads, headSize, nPos: 1 + Math.floor(r() * 64) }, r, rep % 2 ? 4 : 1);
    }
  });

  s('with one position returns that position\'s value row of each head\'s kv head', () => {
    const [nHeads, nKvHeads, headSize] = [6, 2, 5];
    const r = rng(62);
    const v = randomF32(r, nKvHeads * headSize);
    const po = zeros(K, nHeads * headSize);
    const pAtt = zeros(K, 1);
    K.fn.attention_f32(po, put(K, randomF32(r, nHeads * headSize)), put(K, randomF32(r, nKvHeads * headSize)), put(K, v), pAtt, nHeads, nKvHeads, headSize, 1);
    const out = getF32(K, po, nHeads * headSize);
    for (let h = 0; h < nHeads; h++) {
      const g = Math.floor(h / (nHeads / nKvHeads));
      assert.equal(out.subarray(h * headSize, (h + 1) * headSize), v.subarray(g * headSize, (g + 1) * headSize), `head ${h}`);
    }
    assert.is(getF32(K, pAtt, 1)[0], 1, 'att');
  });

  s('throws bad_option when nHeads is not a multiple of nKvHeads, or nPos = 0', async () => {
    const p = zeros(K, 1024);
    await assertThrowsCode(() => K.fn.attention_f32(p, p, p, p, p, 6, 4, 8, 2), 'bad_option', '6 / 4');
    await assertThrowsCode(() => K.fn.attention_f32(p, p, p, p, p, 4, 0, 8, 2), 'bad_option', 'nKvHeads 0');
    await assertThrowsCode(() => K.fn.attention_f32(p, p, p, p, p, 4, 2, 8, 0), 'bad_option', 'nPos 0');
  });

  s('throws out_of_bounds when the cache runs past the end of memory', async () => {
    const p = zeros(K, 64);
    const end = K.memory.buffer.byteLength;
    // kCache: 2 positions × 2 kv heads × 8 = 128 bytes, starting 64 bytes before the end
    await assertThrowsCode(() => K.fn.attention_f32(p, p, end - 64, p, p, 4, 2, 8, 2), 'out_of_bounds');
  });

  s.run();
}

// ---

for (const build of BUILDS) {
  const s = suite(`mem_read_f32 [${build}]`);
  let K: Kernels;
  let base = 0;
  s.before(async () => {
    K = await kernelsFor(build);
    base = K.mark();
  });
  s.after.each(() => K.release(base));

  function check(x: Float32Array, label: string): void {
    const got = K.fn.mem_read_f32(put(K, x), x.length);
    const want = memReadF32(x, x.length);
    const scale = Math.max(1, x.reduce((a, v) => a + Math.abs(v), 0));
    assert.ok(Math.abs(got - want) <= MAX_MEM_READ_REL_ERR * scale, `${label}: got ${got}, expected ${want}`);
  }

  s('sums awkward sizes', () => {
    const r = rng(70);
    for (const n of [0, 2, ...SIZES, 127, 129]) check(randomF32(r, n, 3), `n=${n}`);
  });

  s('counts every element exactly once (small integers sum exactly)', () => {
    for (const n of [1, 15, 31, 32, 33, 35, 36, 63, 64, 65, 1000]) {
      const x = new Float32Array(n).map((_, i) => (i % 7) + 1);
      const want = memReadF32(x, n);
      assert.is(K.fn.mem_read_f32(put(K, x), n), want, `n=${n}`);
    }
  });

  s('sums 4 MiB', () => {
    check(randomF32(rng(71), 1 << 20), 'n=2^20');
  });

  s.run();
}
