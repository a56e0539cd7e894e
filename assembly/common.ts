// Shared constants and scalar helpers of the kernels. Block layouts (see src/formats/quant.ts, the TS
// table these are checked against in test/kernels-abi.test.ts):
//   Q8_0 block: f16 d | i8 q[32]                      34 bytes, x[i] = d * q[i]
//   Q4_0 block: f16 d | u8 qs[16] (lo nibble = x[i], hi nibble = x[i+16])   18 bytes, x = d * (q - 8)

export const QK: i32 = 32; // elements per quant block
export const Q8_0_BLOCK_BYTES: i32 = 2 + 32;
export const Q4_0_BLOCK_BYTES: i32 = 2 + 16;

/** IEEE half -> f32, exact for every half (subnormals, inf, NaN). */
// @ts-ignore: decorator
@inline export function f16_to_f32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const mag = h & 0x7fff;
  // mag << 13 puts the half's exponent and mantissa in f32 position; multiplying by 2^112 re-biases
  // the exponent (15 -> 127) and turns a half subnormal into the right f32 normal, exactly.
  const f: u32 = mag >= 0x7c00 ? (mag << 13) | 0x7f800000 : reinterpret<u32>(reinterpret<f32>(mag << 13) * 5.192296858534828e33);
  return reinterpret<f32>(f | sign);
}

/** f32 -> IEEE half, round to nearest even (as F16C's vcvtps2ph and ggml's fp32_to_fp16). */
// @ts-ignore: decorator
@inline export function f32_to_f16(f: f32): u32 {
  // see: FP16 library fp16_ieee_from_fp32_value, used by ggml-impl.h
  const scaleToInf: f32 = 5.192296858534828e33; // 2^112
  const scaleToZero: f32 = 7.703719777548943e-34; // 2^-110
  let base: f32 = (Mathf.abs(f) * scaleToInf) * scaleToZero;
  const w = reinterpret<u32>(f);
  const shl1W = w + w;
  const sign = w & 0x80000000;
  let bias = shl1W & 0xff000000;
  if (bias < 0x71000000) bias = 0x71000000;
  base = reinterpret<f32>((bias >> 1) + 0x07800000) + base;
  const bits = reinterpret<u32>(base);
  const expBits = (bits >> 13) & 0x00007c00;
  const mantissaBits = bits & 0x00000fff;
  const nonsign = expBits + mantissaBits;
  return (sign >> 16) | (shl1W > 0xff000000 ? 0x7e00 : nonsign);
}

/** Round half away from zero, as C's roundf. (floor(|x| + 0.5) is wrong for 0.49999997: the sum
 * rounds up to 1.0 in f32; comparing the exact remainder |x| - floor(|x|) with 0.5 is not.) */
// @ts-ignore: decorator
@inline export function roundf(x: f32): f32 {
  const a = Mathf.abs(x);
  let t = Mathf.floor(a);
  if (a - t >= 0.5) t += 1;
  return x < 0 ? -t : t;
}

/**
 * e^x in four lanes, within 1 ulp of e^x for x in [-86.6, 88.72] (Cephes expf: x = k·ln2 + r,
 * |r| ≤ ln2/2, a degree-5 polynomial for e^r, times 2^k built in the exponent bits). Below -86.6
 * (-inf included) it gives 0, the true value being under 2.4e-38; above 88.72 +inf; NaN stays NaN.
 * pmin/pmax are single instructions where min/max are not, and the round-to-int uses the 1.5·2^23
 * trick instead of nearest + trunc_sat. SIMD build only: call it under `if (ASC_FEATURE_SIMD)` (ops.ts silu_f32,
 * softmax; ffn.ts swiglu4).
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const lo = f32x4.splat(-86.6);
  const hi = f32x4.splat(88.72);
  const xc = f32x4.pmax(f32x4.pmin(x, hi), lo); // NaN passes through
  // j = round(x / ln2) + 1.5·2^23: the low mantissa bits of j hold k as an integer
  const magic = f32x4.splat(12582912.0);
  const j = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), magic);
  const k = f32x4.sub(j, magic); // in [-125, 128]
  // r = x - k·ln2, ln2 split in two so k·C1 is exact
  let r = f32x4.sub(xc, f32x4.mul(k, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  // e^x = 2p · 2^(k-1), so that k = 128 (x near 88.72) still has an exponent field; 2^(k-1) is
  // (k + 126) << 23, and the magic's own bits shift out (0x4b400000 << 23 = 0)
  const scale = i32x4.add(i32x4.shl(j, 23), i32x4.splat(126 << 23));
  const e = f32x4.mul(f32x4.add(p, p), scale);
  return v128.bitselect(f32x4.splat(Infinity), v128.andnot(e, f32x4.lt(x, lo)), f32x4.gt(x, hi));
}
