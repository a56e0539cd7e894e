/**
 * Plain-TypeScript twins of assembly/matvec.ts (same argument order, typed arrays instead of
 * offsets), written like llama2.c's matmul: one loop nest with a shape comment. Quantized weights
 * are dotted with a Q8_0 activation row in integers per block, then scaled, as the kernels do.
 */
import { QUANT, type QuantType } from '../formats/quant.ts';
import { f16ToF32 } from '../formats/quant-values.ts';

const f = Math.fround;
const QK = 32;
const Q8 = QUANT.Q8_0.blockBytes;

/** Σ_b d_w·d_x·Σ_j q_w[j]·q_x[j] over nb blocks: weight row at w[wOff] (Q8_0 or Q4_0), Q8_0 row at x[xOff]. */
export function dotQ(w: Uint8Array, wOff: number, x: Uint8Array, xOff: number, nb: number, type: QuantType): number {
  const q4 = type === QUANT.Q4_0;
  let sum = 0;
  for (let b = 0; b < nb; b++) {
    const pw = wOff + b * type.blockBytes;
    const px = xOff + b * Q8;
    let isum = 0;
    for (let j = 0; j < QK; j++) {
      const qw = q4 ? ((j < 16 ? w[pw + 2 + j]! & 0x0f : w[pw + 2 + j - 16]! >> 4) - 8) : (w[pw + 2 + j]! << 24) >> 24;
      const qx = (x[px + 2 + j]! << 24) >> 24;
      isum += qw * qx;
    }
    const d = f(f16ToF32(w[pw]! | (w[pw + 1]! << 8)) * f16ToF32(x[px]! | (x[px + 1]! << 8)));
    sum = f(sum + f(isum * d));
  }
  return sum;
}

/** Σ w·x over n floats: w f32 (Float32Array) or f16 (bytes), x f32. */
export function dotF(w: Float32Array | Uint8Array, wOff: number, x: Float32Array, xOff: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const wv = w instanceof Float32Array ? w[wOff + i]! : f16ToF32(w[2 * (wOff + i)]! | (w[2 * (wOff + i) + 1]! << 8));
    sum = f(sum + f(wv * x[xOff + i]!));
  }
  return sum;
}

// --- matvec: out (rows) = W (rows, cols) · x (cols)

export function matvecF32(out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) out[r] = dotF(w, r * cols, x, 0, cols);
}

/** w: (rows, cols) f16 as bytes. */
export function matvecF16(out: Float32Array, w: Uint8Array, x: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) out[r] = dotF(w, r * cols, x, 0, cols);
}

export function matvecQ8_0Q8_0(out: Float32Array, w: Uint8Array, x: Uint8Array, rows: number, cols: number): void {
  matvecQ(out, w, x, rows, cols, QUANT.Q8_0);
}

export function matvecQ4_0Q8_0(out: Float32Array, w: Uint8Array, x: Uint8Array, rows: number, cols: number): void {
  matvecQ(out, w, x, rows, cols, QUANT.Q4_0);
}

function matvecQ(out: Float32Array, w: Uint8Array, x: Uint8Array, rows: number, cols: number, type: QuantType): void {
  const nb = cols / QK;
  for (let r = 0; r < rows; r++) out[r] = dotQ(w, r * nb * type.blockBytes, x, 0, nb, type);
}

// --- matmul: out (T, rows) = X (T, cols) · Wᵀ

export function matmulF32(out: Float32Array, w: Float32Array, x: Float32Array, rows: number, cols: number, T: number): void {
  for (let t = 0; t < T; t++) for (let r = 0; r < rows; r++) out[t * rows + r] = dotF(w, r * cols, x, t * cols, cols);
}

export function matmulF16(out: Float32Array, w: Uint8Array, x: Float32Array, rows: number, cols: number, T: number): void {
  for (let t = 0; t < T; t++) for (let r = 0; r < rows; r++) out[t * rows + r] = dotF(w, r * cols, x, t * cols, cols);
}

export function matmulQ8_0Q8_0(out: Float32Array, w: Uint8Array, x: Uint8Array, rows: number, cols: number, T: number): void {
  matmulQ(out, w, x, rows, cols, T, QUANT.Q8_0);
}

export function matmulQ4_0Q8_0(out: Float32Array, w: Uint8Array, x: Uint8Array, rows: number, cols: number, T: number): void {
  matmulQ(out, w, x, rows, cols, T, QUANT.Q4_0);
}

function matmulQ(out: Float32Array, w: Uint8Array, x: Uint8Array, rows: number, cols: number, T: number, type: QuantType): void {
  const nb = cols / QK;
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) out[t * rows + r] = dotQ(w, r * nb * type.blockBytes, x, t * nb * Q8, nb, type);
  }
}
