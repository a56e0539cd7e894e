// GGML tensor types the runtime understands, declared once (the TS table is src/formats/quant.ts; the
// kernels' block constants are assembly/common.ts; test/rt-*.test.ts checks them against each other).
//   F32 1 elem 4 B · F16 1 elem 2 B · BF16 1 elem 2 B · Q4_0 32 elems 2+16 B · Q8_0 32 elems 2+32 B
import { Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES, QK } from '../common';

export const GGML_F32: i32 = 0;
export const GGML_F16: i32 = 1;
export const GGML_Q4_0: i32 = 2;
export const GGML_Q8_0: i32 = 8;
export const GGML_BF16: i32 = 30;

export function isKnownType(t: i32): bool {
  return t == GGML_F32 || t == GGML_F16 || t == GGML_Q4_0 || t == GGML_Q8_0 || t == GGML_BF16;
}

export function typeName(t: i32): string {
  if (t == GGML_F32) return 'F32';
  if (t == GGML_F16) return 'F16';
  if (t == GGML_Q4_0) return 'Q4_0';
  if (t == GGML_Q8_0) return 'Q8_0';
  if (t == GGML_BF16) return 'BF16';
  // Names of types we do not implement, so a refusal can say what the file holds.
  const names = ['F32', 'F16', 'Q4_0', 'Q4_1', '4', '5', 'Q5_0', 'Q5_1', 'Q8_0', 'Q8_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K',
    'IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'I8', 'I16', 'I32', 'I64', 'F64', 'IQ1_M'];
  if (t >= 0 && t < names.length) return names[t];
  return 'unknown type id ' + t.toString();
}

/** Elements per block (1 for float types, 32 for Q8_0/Q4_0); 0 for an unknown type. */
export function blockElems(t: i32): i32 {
  if (t == GGML_Q4_0 || t == GGML_Q8_0) return QK;
  return isKnownType(t) ? 1 : 0;
}

/** Bytes per block; 0 for an unknown type. */
export function blockBytes(t: i32): i32 {
  if (t == GGML_F32) return 4;
  if (t == GGML_F16 || t == GGML_BF16) return 2;
  if (t == GGML_Q4_0) return Q4_0_BLOCK_BYTES;
  if (t == GGML_Q8_0) return Q8_0_BLOCK_BYTES;
  return 0;
}

/** The block size a set of bundles of type t is grouped by (grouped.ts bundle_copy); 0 for F32 bundles,
 * whose sets stay plain. */
export function bundleBlockBytes(t: i32): usize {
  return t == GGML_Q8_0 || t == GGML_Q4_0 ? <usize>blockBytes(t) : 0;
}

/** Bytes of a row of n elements (n a whole number of blocks; callers check with blockElems). */
export function rowBytes(t: i32, n: i64): i64 {
  const be = blockElems(t);
  return be == 0 ? 0 : (n / be) * blockBytes(t);
}

/**
 * The index of the first Q8_0 / Q4_0 block of the `len` bytes at `ptr` whose f16 scale d is NaN or
 * ±Infinity (exponent bits all ones), or -1 (also for the other types, which hold no scales).
 */
export function firstNonFiniteScale(t: i32, ptr: usize, len: usize): i64 {
  if (t != GGML_Q8_0 && t != GGML_Q4_0) return -1;
  const bb = <usize>blockBytes(t);
  for (let o: usize = 0; o + bb <= len; o += bb) {
    if ((load<u16>(ptr + o) & 0x7c00) == 0x7c00) return <i64>(o / bb);
  }
  return -1;
}
