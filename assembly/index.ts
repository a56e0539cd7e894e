// ifprune kernels: flat exports over byte offsets into one linear memory (see src/engine/kernels.ts
// for the ABI table). The same source builds twice (asconfig.json): with --enable simd, where
// ASC_FEATURE_SIMD is true and every kernel takes its v128 path, and without, the scalar fallback.
export * from './quant';
export * from './matvec';
export * from './ffn';
export * from './ops';
export { bundles_regroup } from './grouped';

/** Block layout constants, checked against src/formats/quant.ts by test/kernels-abi.test.ts. */
export { QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES } from './common';

/** 1 in the SIMD build, 0 in the scalar one. */
export const HAS_SIMD: bool = ASC_FEATURE_SIMD;

/** First byte after static data: the host's arena starts here. */
export function heap_base(): usize {
  return __heap_base;
}
