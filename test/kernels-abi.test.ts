/**
 * The kernel ABI: both builds export exactly the kernels of src/engine/kernels.ts (plus memory and
 * the constants), with the argument counts the table declares; the block constants agree with the
 * TS quant table; run-time build choice picks SIMD here and the two builds report what they are. The
 * relaxed build's exports are compared in test/relaxed-kernels.ts (Node 20 compiles it only with a flag).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KERNELS, NON_KERNEL_EXPORTS, Kernels } from '../src/engine/kernels.ts';
import { QUANT } from '../src/formats/quant.ts';
import { chooseBuild, simdSupported } from '../src/engine/simd.ts';
import { loadKernels } from '../src/platform/node.ts';
import { BUILDS } from './kernel-harness.ts';

const abi = suite('kernel ABI');

for (const build of BUILDS) {
  abi(`${build}: exports are exactly the table's kernels plus ${NON_KERNEL_EXPORTS.join(', ')}`, async () => {
    const module = await loadKernels(build);
    const exported = WebAssembly.Module.exports(module).map((e) => e.name).sort();
    const expected = [...Object.keys(KERNELS), ...NON_KERNEL_EXPORTS].sort();
    assert.equal(exported, expected);
    assert.is(WebAssembly.Module.imports(module).length, 0, 'the kernel module imports nothing');
  });

  abi(`${build}: each kernel takes the table's argument count`, async () => {
    const instance = await WebAssembly.instantiate(await loadKernels(build), {});
    for (const [name, spec] of Object.entries(KERNELS)) {
      assert.is((instance.exports[name] as Function).length, spec.args.length, name);
    }
  });

  abi(`${build}: block constants equal src/formats/quant.ts`, async () => {
    const { exports: ex } = await WebAssembly.instantiate(await loadKernels(build), {});
    const value = (n: string) => (ex[n] as WebAssembly.Global).value;
    assert.is(value('QK'), QUANT.Q8_0.blockElems);
    assert.is(value('QK'), QUANT.Q4_0.blockElems);
    assert.is(value('Q8_0_BLOCK_BYTES'), QUANT.Q8_0.blockBytes);
    assert.is(value('Q4_0_BLOCK_BYTES'), QUANT.Q4_0.blockBytes);
  });

  abi(`${build}: HAS_SIMD says which build it is`, async () => {
    const K = await Kernels.create(await loadKernels(build));
    assert.is(K.simd, build === 'simd');
  });
}

abi('auto picks SIMD where WebAssembly.validate accepts the SIMD probe and relaxed SIMD is off (Node 20 without its flag; test/relaxed.test.ts has the rest)', () => {
  assert.ok(simdSupported());
  assert.is(chooseBuild('auto'), 'simd');
  assert.is(chooseBuild('scalar'), 'scalar');
});

abi('the scalar build contains no SIMD instruction', async () => {
  const { readFileSync } = await import('node:fs');
  const wat = readFileSync(new URL('../build/kernels.scalar.wat', import.meta.url), 'utf8');
  assert.not.match(wat, /v128|i8x16|i16x8|i32x4|f32x4/);
  const simdWat = readFileSync(new URL('../build/kernels.simd.wat', import.meta.url), 'utf8');
  assert.match(simdWat, /i32x4\.dot_i16x8_s/);
  assert.not.match(simdWat, /relaxed/, 'the SIMD build runs where relaxed SIMD does not');
});

abi('the relaxed build uses the i16x8 relaxed dot and never the i32x4 dot-add (wrong in Node 20 Liftoff)', async () => {
  const { readFileSync } = await import('node:fs');
  const wat = readFileSync(new URL('../build/kernels.relaxed.wat', import.meta.url), 'utf8');
  assert.match(wat, /i16x8\.relaxed_dot_i8x16_i7x16_s/);
  assert.not.match(wat, /i32x4\.relaxed_dot/);
  // Node 20 without --experimental-wasm-relaxed-simd rejects it: the probe's 'auto' must not pick it here
  assert.is(WebAssembly.validate(readFileSync(new URL('../build/kernels.relaxed.wasm', import.meta.url))), false);
});

abi('alloc grows memory and aligns; views see the grown buffer', async () => {
  const K = await Kernels.create(await loadKernels('simd'));
  const before = K.memory.buffer.byteLength;
  const p = K.alloc(before + 100000);
  assert.is(p % 64, 0);
  assert.ok(K.memory.buffer.byteLength >= p + before + 100000);
  K.f32(p, 4).set([1, 2, 3, 4]);
  assert.equal(Array.from(K.f32(p, 4)), [1, 2, 3, 4]);
});

abi.run();
