/**
 * Reference elementwise ops and attention (f32), plain TypeScript over typed arrays, with the same
 * argument order as the kernels in assembly/ops.ts (see the ABI in src/engine/kernels.ts), written
 * like llama2.c run.c. Accumulators are rounded to f32 (Math.fround) where the kernel accumulates in
 * f32, so the two agree closely; only argmaxF32 is expected to match exactly.
 */
const f = Math.fround;

/** out (n) = x (n) / sqrt(mean(x²) + eps) * w (n); out may be x. */
export function rmsnormF32(out: Float32Array, x: Float32Array, w: Float32Array, n: number, eps: number): void {
  let ss = 0;
  for (let j = 0; j < n; j++) ss = f(ss + f(x[j] * x[j]));
  const scale = f(1 / f(Math.sqrt(f(f(ss / n) + f(eps)))));
  for (let j = 0; j < n; j++) out[j] = w[j] * f(scale * x[j]);
}

/**
 * Rotary position embedding in place on x (nHeads, headSize): the first ropeDim dims of each head.
 * neox false: pairs (2i, 2i+1) (llama2.c run.c); true: pairs (i, i + ropeDim/2) (NeoX, Qwen2, HF).
 * theta_i = pos · freqBase^(-2i/ropeDim), in f64, cos and sin rounded to f32.
 */
export function ropeF32(x: Float32Array, nHeads: number, headSize: number, ropeDim: number, pos: number, freqBase: number, neox: boolean | number): void {
  const half = ropeDim >> 1;
  const base = f(freqBase); // the kernel takes freqBase as f32
  for (let i = 0; i < half; i++) {
    const theta = pos * Math.pow(base, -(2 * i) / ropeDim);
    const c = f(Math.cos(theta));
    const s = f(Math.sin(theta));
    const i0 = neox ? i : 2 * i;
    const i1 = neox ? i + half : 2 * i + 1;
    for (let h = 0; h < nHeads; h++) {
      const v0 = x[h * headSize + i0];
      const v1 = x[h * headSize + i1];
      x[h * headSize + i0] = f(v0 * c) - f(v1 * s);
      x[h * headSize + i1] = f(v0 * s) + f(v1 * c);
    }
  }
}

/** In place x (n) = softmax(x), max subtracted first. */
export function softmaxF32(x: Float32Array, n: number): void {
  if (n <= 0) return;
  let max = x[0];
  for (let i = 1; i < n; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    x[i] = Math.exp(f(x[i] - max));
    sum = f(sum + x[i]);
  }
  for (let i = 0; i < n; i++) x[i] /= sum;
}

/** In place x (n) = x · sigmoid(x). */
export function siluF32(x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = x[i] * f(1 / f(1 + f(Math.exp(-x[i]))));
}

/** out (n) += x (n). */
export function addF32(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] += x[i];
}

/** out (n) *= x (n). */
export function mulF32(out: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = f(out[i] * x[i]);
}

/** Index of the first maximum of x (n ≥ 1). */
export function argmaxF32(x: Float32Array, n: number): number {
  let best = 0;
  let max = x[0];
  for (let i = 1; i < n; i++) {
    if (x[i] > max) {
      max = x[i];
      best = i;
    }
  }
  return best;
}

/**
 * Grouped-query attention of one new token.
 *   out (nHeads, headSize); q (nHeads, headSize);
 *   kCache, vCache (nPos, nKvHeads·headSize), positions 0..nPos-1; att (nPos) scratch.
 * Query head h reads kv head h / (nHeads / nKvHeads).
 */
export function attentionF32(
  out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array, att: Float32Array,
  nHeads: number, nKvHeads: number, headSize: number, nPos: number,
): void {
  const kvDim = nKvHeads * headSize;
  const kvMul = nHeads / nKvHeads; // query heads per kv head
  const sqrtHead = f(Math.sqrt(headSize));
  for (let h = 0; h < nHeads; h++) {
    const qh = h * headSize; // offset of q_h and out_h
    const g = Math.floor(h / kvMul) * headSize; // offset of kv head g in a cache row
    // att (nPos) = q_h · k[t, g] / √headSize
    for (let t = 0; t < nPos; t++) {
      let score = 0;
      for (let i = 0; i < headSize; i++) score = f(score + f(q[qh + i] * kCache[t * kvDim + g + i]));
      att[t] = score / sqrtHead;
    }
    softmaxF32(att, nPos);
    // out_h (headSize) = Σ_t att[t] · v[t, g]
    for (let i = 0; i < headSize; i++) out[qh + i] = 0;
    for (let t = 0; t < nPos; t++) {
      const a = att[t];
      for (let i = 0; i < headSize; i++) out[qh + i] += a * vCache[t * kvDim + g + i];
    }
  }
}

/** The sum of n f32 (what the mem_read_f32 bandwidth probe returns), accumulated in f64. */
export function memReadF32(x: Float32Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i];
  return sum;
}
