/**
 * Quantized values in TypeScript (the converter's quantizers, the one stored-values-to-f32 reader), and the
 * plain twins of assembly/quant.ts and the f16 helpers of assembly/common.ts, bit-exact
 * with ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref. Every f32 operation is rounded
 * with Math.fround so the arithmetic is the C code's, step for step.
 */
import { QUANT, type QuantType } from './quant.ts';
import { IfpruneError } from '../errors.ts';

const f = Math.fround;
const QK = 32;
const Q8 = QUANT.Q8_0.blockBytes; // 2 + 32
const Q4 = QUANT.Q4_0.blockBytes; // 2 + 16

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
const bitsOf = (x: number) => ((f32buf[0] = x), u32buf[0]!);
const fromBits = (b: number) => ((u32buf[0] = b >>> 0), f32buf[0]!);

/** IEEE half -> f32, exact. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 -> IEEE half, round to nearest even (see: FP16 fp16_ieee_from_fp32_value). */
export function f32ToF16(x: number): number {
  let base = f(f(Math.abs(f(x)) * 2 ** 112) * 2 ** -110);
  const w = bitsOf(x);
  const shl1W = (w + w) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1W & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = f(fromBits((bias >>> 1) + 0x07800000) + base);
  const bits = bitsOf(base);
  const nonsign = ((bits >>> 13) & 0x7c00) + (bits & 0x0fff);
  return ((sign >>> 16) | (shl1W > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}

/** C roundf: half away from zero. */
function roundf(x: number): number {
  const r = Math.floor(Math.abs(x) + 0.5);
  // |x| + 0.5 is exact in f64 for any f32 |x| < 2^52, so this is exact (unlike in f32).
  return x < 0 ? -r : r;
}

/** dst (n/32 Q8_0 blocks) = Q8_0(src (n)). see: ggml-quants.c quantize_row_q8_0_ref */
export function quantizeRowQ8_0(dst: Uint8Array, src: Float32Array, n: number): void {
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let b = 0; b < n / QK; b++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(src[b * QK + j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    dv.setUint16(b * Q8, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) dv.setInt8(b * Q8 + 2 + j, roundf(f(src[b * QK + j]! * id)));
  }
}

/** dst (n/32 Q4_0 blocks) = Q4_0(src (n)). see: ggml-quants.c quantize_row_q4_0_ref */
export function quantizeRowQ4_0(dst: Uint8Array, src: Float32Array, n: number): void {
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let b = 0; b < n / QK; b++) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = src[b * QK + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    dv.setUint16(b * Q4, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      // fma(x, id, 8.5) rounded once to f32 (ggml with FMA contraction, gguf-py): x·id is exact in f64.
      const q0 = Math.min(15, Math.trunc(f(src[b * QK + j]! * id + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(src[b * QK + 16 + j]! * id + 8.5)));
      dst[b * Q4 + 2 + j] = q0 | (q1 << 4);
    }
  }
}

export function quantizeRowF16(dst: Uint8Array, src: Float32Array, n: number): void {
  const dv = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let i = 0; i < n; i++) dv.setUint16(2 * i, f32ToF16(src[i]!), true);
}

export function dequantizeRowF16(dst: Float32Array, src: Uint8Array, n: number): void {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < n; i++) dst[i] = f16ToF32(dv.getUint16(2 * i, true));
}

export function dequantizeRowQ8_0(dst: Float32Array, src: Uint8Array, n: number): void {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const d = f16ToF32(dv.getUint16(b * Q8, true));
    for (let j = 0; j < QK; j++) dst[b * QK + j] = d * dv.getInt8(b * Q8 + 2 + j);
  }
}

export function dequantizeRowQ4_0(dst: Float32Array, src: Uint8Array, n: number): void {
  const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n / QK; b++) {
    const d = f16ToF32(dv.getUint16(b * Q4, true));
    for (let j = 0; j < 16; j++) {
      const byte = src[b * Q4 + 2 + j]!;
      dst[b * QK + j] = d * ((byte & 0x0f) - 8);
      dst[b * QK + 16 + j] = d * ((byte >> 4) - 8);
    }
  }
}

/**
 * `n` values stored as `type` (F32, F16, BF16, Q8_0 or Q4_0) as f32, into `out` (default: a new array).
 * The one reader of stored values for code that wants f32: the reference forward pass, the engine's
 * norms and BF16 matrices, predictor tensors, the CLI's embedding reads. `what` names the tensor in
 * the error for any other type.
 */
export function toF32(type: QuantType, bytes: Uint8Array, n: number, out: Float32Array = new Float32Array(n), what = 'tensor'): Float32Array {
  switch (type) {
    case QUANT.F32:
      out.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4)));
      return out;
    case QUANT.F16:
      dequantizeRowF16(out, bytes, n);
      return out;
    case QUANT.BF16: {
      const bits = new Uint32Array(out.buffer, out.byteOffset, n); // bf16 is the top half of an f32
      for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
      return out;
    }
    case QUANT.Q8_0:
      dequantizeRowQ8_0(out, bytes, n);
      return out;
    case QUANT.Q4_0:
      dequantizeRowQ4_0(out, bytes, n);
      return out;
  }
  throw new IfpruneError('unsupported', `${what} has type ${type.name}, which ifprune cannot read as f32 (F32, F16, BF16, Q8_0 and Q4_0 can be)`);
}
