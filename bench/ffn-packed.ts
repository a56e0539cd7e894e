/**
 * A prototype, measured: the masked FFN over bundles repacked in the order the kernel reads them.
 * `node --import tsx bench/ffn-packed.ts [--rounds N]`.
 *
 * Issue #11's decode gap at density 1 is memory (docs/performance.md, "Masked FFN kernel"): the kernel
 * reads a group of 16 bundles as many interleaved streams that the hardware prefetcher does not follow,
 * so it touches each next group in a sweep that does not overlap the arithmetic. This script tests the
 * fix proposed there without changing the runtime: it repacks the same random Q8_0 bundles (in
 * TypeScript, as the neuron loader would when it fills the active set) into
 *
 *   per group of 16 bundles:
 *     for each quad q, for each block b:  gate_{4q..4q+3}[b] | up_{4q..4q+3}[b]     8 × 34 bytes
 *     for each block b:                   the 16 fp16 scales of down_j[b] | for each pair p: the 32
 *                                         weights of down_2p[b] and down_2p+1[b] interleaved, i8 pairs
 *                                                                                     32 + 8 × 64 bytes
 *
 * (the same bytes: 48 blocks per bundle-block), and times a prototype kernel over it (PROTOTYPE below:
 * the same integer arithmetic as assembly/ffn.ts for one token, reading that layout front to back with
 * no touching) against the standard layout's FFN and the current masked kernel, decode (T = 1) from DRAM
 * (weight copies ≥ 96 MiB), interleaved rounds, CPU time, best round. The prototype is compiled into a
 * temporary build of the kernels in place of ffn_swiglu_masked_f32's body (that export is not otherwise
 * used here), and its output is checked against the current kernel's first. Q8_0, k a multiple of 16.
 * Prints a line per shape and density.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kernels } from '../src/engine/kernels.ts';
import { QUANT, rowBytes } from '../src/formats/quant.ts';
import { randomWeights, activations, cycling, timeInterleaved, withEarlyReturn, buildVariant } from './harness.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const roundsIdx = args.indexOf('--rounds');
const ROUNDS = roundsIdx >= 0 ? Number(args[roundsIdx + 1]) : 8;
const COLD_BYTES = 96 * 2 ** 20;
const type = QUANT.Q8_0;
const BLOCK = type.blockBytes; // 34

const PROTOTYPE = `
// ---- bench/ffn-packed.ts PROTOTYPE: the masked FFN over the packed layout, Q8_0, one token, k % 16 == 0
// @ts-ignore: decorator
@inline function ffn_packed_proto(out: usize, packed: usize, x: usize, k: i32, dim: i32): void {
  const nb = dim / QK;
  const groupBytes: usize = <usize>nb * 48 * Q8_0_BLOCK_BYTES;
  for (let j = 0; j + GROUP <= k; j += GROUP) {
    const base = packed + <usize>(j / GROUP) * groupBytes;
    packed_h(base, x, nb);
    packed_down(out, base + <usize>nb * 32 * Q8_0_BLOCK_BYTES, nb);
  }
}
function packed_h(base: usize, x: usize, nb: i32): void {
  let p = base;
  for (let q = 0; q < 4; q++) {
    let accG = f32x4.splat(0), accU = f32x4.splat(0);
    for (let b = 0; b < nb; b++) {
      const px = x + <usize>b * Q8_0_BLOCK_BYTES;
      const x0 = x_lanes(px, 0), x1 = x_lanes(px, 1), x2 = x_lanes(px, 2), x3 = x_lanes(px, 3);
      const sg = sum4_i32x4(dot_block(p, false, x0, x1, x2, x3), dot_block(p + 34, false, x0, x1, x2, x3), dot_block(p + 68, false, x0, x1, x2, x3), dot_block(p + 102, false, x0, x1, x2, x3));
      const su = sum4_i32x4(dot_block(p + 136, false, x0, x1, x2, x3), dot_block(p + 170, false, x0, x1, x2, x3), dot_block(p + 204, false, x0, x1, x2, x3), dot_block(p + 238, false, x0, x1, x2, x3));
      const dx = f32x4.splat(f16_to_f32(load<u16>(px)));
      accG = f32x4.add(accG, f32x4.mul(f32x4.convert_i32x4_s(sg), f32x4.mul(scales4(p, p + 34, p + 68, p + 102), dx)));
      accU = f32x4.add(accU, f32x4.mul(f32x4.convert_i32x4_s(su), f32x4.mul(scales4(p + 136, p + 170, p + 204, p + 238), dx)));
      p += 8 * Q8_0_BLOCK_BYTES;
    }
    v128.store(H + (<usize>q << 4), swiglu4(accG, accU));
  }
}
function packed_down(out: usize, pd: usize, nb: i32): void {
  for (let b = 0; b < nb; b++) {
    const p = pd + <usize>b * 544;
    const h0 = v128.load(p), h1 = v128.load(p, 16);
    const s0 = f32x4.mul(v128.load(H), f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h0)));
    const s1 = f32x4.mul(v128.load(H, 16), f16x4_to_f32x4(i32x4.extend_high_i16x8_u(h0)));
    const s2 = f32x4.mul(v128.load(H, 32), f16x4_to_f32x4(i32x4.extend_low_i16x8_u(h1)));
    const s3 = f32x4.mul(v128.load(H, 48), f16x4_to_f32x4(i32x4.extend_high_i16x8_u(h1)));
    let m = max_abs(max_abs(s0, s1), max_abs(s2, s3));
    m = i32x4.max_s(m, v128.shuffle<i32>(m, m, 2, 3, 0, 1));
    const mx = f32x4.extract_lane(i32x4.max_s(m, v128.shuffle<i32>(m, m, 1, 0, 3, 2)), 0);
    if (!(mx > 0) || mx == Infinity) continue;
    const inv = f32x4.splat(S_MAX / mx);
    v128.store(COEF, i16x8.narrow_i32x4_s(round_i32(s0, inv), round_i32(s1, inv)));
    v128.store(COEF, i16x8.narrow_i32x4_s(round_i32(s2, inv), round_i32(s3, inv)), 16);
    const S = f32x4.splat(mx / S_MAX);
    const o = out + ((<usize>b) << 7);
    for (let oc = 0; oc < 4; oc++) {
      let a = i32x4.splat(0), c = a;
      const w = p + 32 + (<usize>oc << 4);
      for (let pp = 0; pp < 8; pp++) {
        const sc = v128.load32_splat(COEF + (<usize>pp << 2));
        const q = w + (<usize>pp << 6);
        a = i32x4.add(a, i32x4.dot_i16x8_s(v128.load8x8_s(q), sc));
        c = i32x4.add(c, i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), sc));
      }
      add_scaled(o + (<usize>oc << 5), a, c, S);
    }
  }
}
`;

/** k bundles (Q8_0, the bundled layout) → the packed layout above. */
function pack(src: Uint8Array, dst: Uint8Array, k: number, nb: number): void {
  const at = (j: number, part: number, b: number) => ((j * 3 + part) * nb + b) * BLOCK;
  let o = 0;
  for (let g = 0; g < k / 16; g++) {
    for (let q = 0; q < 4; q++) {
      for (let b = 0; b < nb; b++) {
        for (const part of [0, 1]) {
          for (let i = 0; i < 4; i++) {
            const s = at(16 * g + 4 * q + i, part, b);
            dst.set(src.subarray(s, s + BLOCK), o);
            o += BLOCK;
          }
        }
      }
    }
    for (let b = 0; b < nb; b++) {
      for (let j = 0; j < 16; j++) {
        const s = at(16 * g + j, 2, b);
        dst[o++] = src[s]!;
        dst[o++] = src[s + 1]!;
      }
      for (let p = 0; p < 8; p++) {
        const sa = at(16 * g + 2 * p, 2, b) + 2;
        const sb = at(16 * g + 2 * p + 1, 2, b) + 2;
        for (let i = 0; i < 32; i++) {
          dst[o++] = src[sa + i]!;
          dst[o++] = src[sb + i]!;
        }
      }
    }
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'ifprune-ffn-packed-'));
let ffnSrc = readFileSync(join(root, 'assembly', 'ffn.ts'), 'utf8');
const IMPORT = "from './dot';";
if (!ffnSrc.includes(IMPORT)) throw new Error('bench/ffn-packed: assembly/ffn.ts no longer imports from ./dot (update this script)');
ffnSrc = ffnSrc.replace(/import \{([^}]*)\} from '\.\/dot';/, (_, names: string) => `import {${names}, dot_block, sum4_i32x4, f16x4_to_f32x4 } from './dot';`);
ffnSrc = withEarlyReturn(ffnSrc, 'export function ffn_swiglu_masked_f32(', 'ffn_packed_proto(out, bundles, x, k, dim); return;') + PROTOTYPE;
const wasm = buildVariant(tmp, 'packed', { 'ffn.ts': ffnSrc });
const K = await Kernels.create(new WebAssembly.Module(readFileSync(wasm)));
rmSync(tmp, { recursive: true, force: true });

console.log(`masked FFN over packed bundles (prototype) — Q8_0, decode from DRAM, best of ${ROUNDS} interleaved rounds (CPU time)`);
for (const [dim, nFf] of [[576, 1536], [896, 4864]] as const) {
  const nb = dim / 32;
  const bytes = 3 * nFf * rowBytes(type, dim);
  const copies = Math.ceil(COLD_BYTES / bytes);
  const bundles: number[] = [];
  const packed: number[] = [];
  for (let c = 0; c < copies; c++) {
    const b = randomWeights(K, type, 3 * nFf, dim, 11 + c);
    const p = K.alloc(bytes);
    pack(K.u8(b, bytes), K.u8(p, bytes), nFf, nb);
    bundles.push(b);
    packed.push(p);
  }
  const x = activations(K, type, 1, dim);
  const out = K.alloc(dim * 4);
  // the prototype computes what the kernel computes (the same sums, h's in another order)
  const o1 = K.alloc(dim * 4);
  const o2 = K.alloc(dim * 4);
  K.raw.ffn_swiglu_masked_q8_0(o1, bundles[0]!, x, nFf, dim, 1);
  K.raw.ffn_swiglu_masked_f32(o2, packed[0]!, x, nFf, dim, 1);
  const a = K.f32(o1, dim);
  const b = K.f32(o2, dim);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < dim; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  if (!(diff <= 1e-5 * scale)) throw new Error(`bench/ffn-packed: the prototype differs from the kernel by ${diff} (outputs up to ${scale})`);
  // the standard layout, as bench/ffn-parts.ts runs it
  const h1 = K.alloc(nFf * 4);
  const h3 = K.alloc(nFf * 4);
  const hq = K.alloc(rowBytes(QUANT.Q8_0, nFf));
  const xb = K.alloc(dim * 4);
  const W = Array.from({ length: copies }, (_, i) => [randomWeights(K, type, nFf, dim, 40 + 3 * i), randomWeights(K, type, nFf, dim, 41 + 3 * i), randomWeights(K, type, dim, nFf, 42 + 3 * i)]);
  for (const density of [1, 0.25]) {
    const k = Math.round(nFf * density);
    const ms = timeInterleaved(
      [
        // the standard layout does not prune: dense at every density
        cycling(W, ([w1, w3, w2]) => {
          K.raw.matvec_q8_0_q8_0(h1, w1!, x, nFf, dim);
          K.raw.matvec_q8_0_q8_0(h3, w3!, x, nFf, dim);
          K.raw.silu_f32(h1, nFf);
          K.raw.mul_f32(h1, h3, nFf);
          K.raw.quantize_row_q8_0(hq, h1, nFf);
          K.raw.matvec_q8_0_q8_0(xb, w2!, hq, dim, nFf);
          K.raw.add_f32(out, xb, dim);
        }),
        cycling(bundles, (p) => K.raw.ffn_swiglu_masked_q8_0(out, p, x, k, dim, 1)),
        cycling(packed, (p) => K.raw.ffn_swiglu_masked_f32(out, p, x, k, dim, 1)),
      ],
      ROUNDS,
      25,
    );
    const [std, masked, pk] = ms as [number, number, number];
    console.log(
      `dim ${dim} n_ff ${nFf} k=${k}: standard (dense) ${std.toFixed(3)} ms, masked ${masked.toFixed(3)} ms (×std ${(std / masked).toFixed(2)}), packed prototype ${pk.toFixed(3)} ms (×std ${(std / pk).toFixed(2)})`,
    );
  }
}
