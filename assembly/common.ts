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
