/**
 * Quantizers and f16 conversion: the kernels (both builds) and the TS reference must produce the
 * same bytes as each other and as an independent numpy implementation of gguf-py's quantizers
 * (test/fixtures/quant-golden.bin, made by tools/golden-quant.py).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import type { Kernels } from '../src/engine/kernels.ts';
import { QUANT, rowBytes } from '../src/formats/quant.ts';
import * as ref from '../src/formats/quant-values.ts';
import { BUILDS, kernelsFor, put, getU8, getF32 } from './kernel-harness.ts';
import { rng, randomF32, assertBytes, assertClose, assertThrowsCode } from './helpers.ts';

const golden = readFileSync(new URL('./fixtures/quant-golden.bin', import.meta.url));
const gn = golden.readUInt32LE(0);
const gx = new Float32Array(golden.buffer.slice(golden.byteOffset + 4, golden.byteOffset + 4 + gn * 4));
let off = 4 + gn * 4;
const take = (len: number) => new Uint8Array(golden.subarray(off, (off += len)));
const gq8 = take(rowBytes(QUANT.Q8_0, gn));
const gq4 = take(rowBytes(QUANT.Q4_0, gn));
const gf16 = take(gn * 2);

const QUANTIZERS = [
  { name: 'q8_0', type: QUANT.Q8_0, kernel: 'quantize_row_q8_0', ref: ref.quantizeRowQ8_0, golden: gq8 },
  { name: 'q4_0', type: QUANT.Q4_0, kernel: 'quantize_row_q4_0', ref: ref.quantizeRowQ4_0, golden: gq4 },
  { name: 'f16', type: QUANT.F16, kernel: 'quantize_row_f16', ref: ref.quantizeRowF16, golden: gf16 },
] as const;

const DEQUANT = {
  q8_0: { kernel: 'dequantize_row_q8_0', ref: ref.dequantizeRowQ8_0 },
  q4_0: { kernel: 'dequantize_row_q4_0', ref: ref.dequantizeRowQ4_0 },
  f16: { kernel: 'dequantize_row_f16', ref: ref.dequantizeRowF16 },
} as const;

// --- the TS reference alone

const reference = suite('reference quantizers');

for (const q of QUANTIZERS) {
  reference(`${q.name}: equals the numpy gguf-py implementation byte for byte (${gn} values)`, () => {
    const out = new Uint8Array(rowBytes(q.type, gn));
    q.ref(out, gx, gn);
    assertBytes(out, q.golden, q.name);
  });
}

reference('f16ToF32 and f32ToF16 round-trip all 65536 halves (NaN stays NaN)', () => {
  for (let h = 0; h < 65536; h++) {
    const v = ref.f16ToF32(h);
    if (Number.isNaN(v)) {
      assert.ok(Number.isNaN(ref.f16ToF32(ref.f32ToF16(v))), `NaN ${h}`);
      continue;
    }
    const back = ref.f32ToF16(v);
    // -0 and +0 are distinct halves and must stay so
    assert.is(back, h, `half 0x${h.toString(16)} -> ${v} -> 0x${back.toString(16)}`);
  }
});

reference('f32ToF16 rounds to nearest even at midpoints', () => {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0); 1 + 3·2^-11 ties up to 1 + 2^-9
  assert.is(ref.f32ToF16(1 + 2 ** -11), 0x3c00);
  assert.is(ref.f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  assert.is(ref.f32ToF16(65520), 0x7c00); // rounds to infinity
  assert.is(ref.f32ToF16(65519), 0x7bff);
  assert.is(ref.f32ToF16(2 ** -25), 0x0000); // halfway to the smallest subnormal: even (0)
  assert.is(ref.f32ToF16(2 ** -25 * 1.5), 0x0001);
});

reference.run();

// --- kernels vs reference, per build

for (const build of BUILDS) {
  const s = suite(`quantize/dequantize [${build}]`);
  let K: Kernels;
  s.before(async () => {
    K = await kernelsFor(build);
  });

  for (const q of QUANTIZERS) {
    s(`${q.kernel}: equals the golden bytes`, () => {
      const src = put(K, gx);
      const dst = K.alloc(rowBytes(q.type, gn));
      K.call(q.kernel, dst, src, gn);
      assertBytes(getU8(K, dst, rowBytes(q.type, gn)), q.golden, q.kernel);
    });

    s(`${q.kernel}: equals the reference on random rows of 1, 3, 7, 33 blocks, 40 seeds`, () => {
      for (let seed = 1; seed <= 40; seed++) {
        const r = rng(seed);
        const n = [1, 3, 7, 33][seed % 4]! * 32;
        const x = randomF32(r, n, [1e-3, 1, 50, 1e5][seed % 4]!);
        if (seed % 5 === 0) x.fill(0, 0, 32); // an all-zero block
        const expect = new Uint8Array(rowBytes(q.type, n));
        q.ref(expect, x, n);
        const src = put(K, x);
        const dst = K.alloc(expect.length);
        K.call(q.kernel, dst, src, n);
        assertBytes(getU8(K, dst, expect.length), expect, `${q.kernel} seed ${seed}`);
      }
    });

    const dq = DEQUANT[q.name];
    s(`${dq.kernel}: equals the reference and inverts within half a step`, () => {
      const n = 32 * 13;
      const x = randomF32(rng(7), n, 3);
      const packed = new Uint8Array(rowBytes(q.type, n));
      q.ref(packed, x, n);
      const expect = new Float32Array(n);
      dq.ref(expect, packed, n);
      const src = put(K, packed);
      const dst = K.alloc(n * 4);
      K.call(dq.kernel, dst, src, n);
      const got = getF32(K, dst, n);
      assertClose(got, expect, 0, dq.kernel); // dequantization is exact
      // the round trip error is at most half a quantization step of the block (Q4_0: one step at the extreme)
      const step = q.name === 'q8_0' ? 3 / 127 : q.name === 'q4_0' ? 3 / 8 : 3 * 2 ** -11;
      assertClose(got, x, step, `${q.name} round trip`);
    });
  }

  s('dequantize_row_f16 converts all 65536 halves exactly (subnormals, ±0, inf, NaN)', () => {
    const halves = new Uint16Array(65536).map((_, i) => i);
    const src = put(K, new Uint8Array(halves.buffer));
    const dst = K.alloc(65536 * 4);
    K.fn.dequantize_row_f16(dst, src, 65536);
    const got = getF32(K, dst, 65536);
    for (let h = 0; h < 65536; h++) {
      const e = ref.f16ToF32(h);
      if (Number.isNaN(e)) assert.ok(Number.isNaN(got[h]!), `0x${h.toString(16)}`);
      else assert.ok(Object.is(got[h], e), `half 0x${h.toString(16)}: got ${got[h]}, expected ${e}`);
    }
  });

  s('quantize_row_q8_0 with n not a multiple of 32 is a bad_option error', async () => {
    const p = K.alloc(1024);
    await assertThrowsCode(() => K.fn.quantize_row_q8_0(p, p, 33), 'bad_option');
  });

  s('quantize_row_q4_0 past the end of memory is out_of_bounds', async () => {
    const size = K.memory.buffer.byteLength;
    await assertThrowsCode(() => K.fn.quantize_row_q4_0(size - 10, 0, 32), 'out_of_bounds');
  });

  s.run();
}
