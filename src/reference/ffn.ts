/**
 * Plain-TypeScript twin of assembly/ffn.ts: the masked SwiGLU FFN over packed neuron bundles.
 *   bundles: k rows of [gate_j | up_j | down_j] (3 × dim weights), x: (T, dim), out: (T, dim), accumulated:
 *   out_t += Σ_j silu(gate_j·x_t) · (up_j·x_t) · down_j          (PyTorch: w2(F.silu(w1(x)) * w3(x)))
 */
import { QUANT, rowBytes, type QuantType } from '../formats/quant.ts';
import { dotF, dotQ } from './matvec.ts';
import { dequantizeRowQ4_0, dequantizeRowQ8_0 } from '../formats/quant-values.ts';

const f = Math.fround;
const silu = (g: number) => f(g / f(1 + Math.exp(-g)));

export function ffnSwigluMaskedF32(out: Float32Array, bundles: Float32Array, x: Float32Array, k: number, dim: number, T: number): void {
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const gate = j * 3 * dim;
      const h = f(silu(dotF(bundles, gate, x, t * dim, dim)) * dotF(bundles, gate + dim, x, t * dim, dim));
      for (let i = 0; i < dim; i++) out[t * dim + i] = f(out[t * dim + i]! + f(h * bundles[gate + 2 * dim + i]!));
    }
  }
}

export function ffnSwigluMaskedQ8_0(out: Float32Array, bundles: Uint8Array, x: Uint8Array, k: number, dim: number, T: number): void {
  ffnQ(out, bundles, x, k, dim, T, QUANT.Q8_0);
}

export function ffnSwigluMaskedQ4_0(out: Float32Array, bundles: Uint8Array, x: Uint8Array, k: number, dim: number, T: number): void {
  ffnQ(out, bundles, x, k, dim, T, QUANT.Q4_0);
}

function ffnQ(out: Float32Array, bundles: Uint8Array, x: Uint8Array, k: number, dim: number, T: number, type: QuantType): void {
  const part = rowBytes(type, dim);
  const xRow = rowBytes(QUANT.Q8_0, dim);
  const nb = dim / 32;
  const down = new Float32Array(dim);
  const dequant = type === QUANT.Q4_0 ? dequantizeRowQ4_0 : dequantizeRowQ8_0;
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < k; j++) {
      const gate = j * 3 * part;
      const h = f(silu(dotQ(bundles, gate, x, t * xRow, nb, type)) * dotQ(bundles, gate + part, x, t * xRow, nb, type));
      dequant(down, bundles.subarray(gate + 2 * part, gate + 3 * part), dim);
      for (let i = 0; i < dim; i++) out[t * dim + i] = f(out[t * dim + i]! + f(h * down[i]!));
    }
  }
}
