/**
 * Inputs and timing shared by the kernel benchmarks (bench/kernels.ts, bench/ffn-parts.ts).
 *
 * Timing: each case runs in interleaved rounds (a, b, c, a, b, c, ...) so a noisy neighbour hits all of
 * them alike; a round repeats the call until ≥ minRoundMs of this process's CPU time (process.cpuUsage:
 * time spent waiting for a busy core does not count) and the best round's per-call time is reported (the
 * least disturbed one).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from '../src/engine/kernels.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';

/** The value after `name` (e.g. '--reps') on this process's command line, or `def` when it is absent. */
export function argValue(name: string): string | undefined;
export function argValue(name: string, def: string): string;
export function argValue(name: string, def?: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
}

export function fillRandom(K: Kernels, p: number, bytes: number, seed: number): void {
  // cheap xorshift bytes; quantized blocks get sane fp16 scales below
  const u = K.u8(p, bytes);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    u[i] = s & 0xff;
  }
}

/** Random weights of a type, valid as numbers (f32 in [-1, 1), fp16 scales ~ 0.01). */
export function randomWeights(K: Kernels, type: QuantType, rows: number, cols: number, seed: number): number {
  const bytes = rows * rowBytes(type, cols);
  const p = K.alloc(bytes);
  if (type === QUANT.F32) {
    const f = K.f32(p, rows * cols);
    let s = seed;
    for (let i = 0; i < f.length; i++) f[i] = (((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24) * 2 - 1;
    return p;
  }
  fillRandom(K, p, bytes, seed);
  const u = K.u8(p, bytes);
  if (type === QUANT.F16) {
    for (let i = 1; i < bytes; i += 2) u[i] = (u[i]! & 0x83) | 0x38; // exponent near 1.0, finite
  } else {
    for (let b = 0; b < bytes; b += type.blockBytes) {
      u[b] = 0x1f; // fp16 0x201f ≈ 0.0098
      u[b + 1] = 0x20;
    }
  }
  return p;
}

/** A call over each weight copy in turn. */
export function cycling<W>(ws: W[], call: (w: W) => unknown): () => unknown {
  let i = 0;
  return () => call(ws[i++ % ws.length]!);
}

/** An activation operand: f32 (T, cols) for float weights, Q8_0 (T, cols) otherwise. */
export function activations(K: Kernels, type: QuantType, T: number, cols: number): number {
  const f = K.alloc(T * cols * 4);
  const v = K.f32(f, T * cols);
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.37);
  if (type.blockElems === 1) return f;
  const q = K.alloc(T * rowBytes(QUANT.Q8_0, cols));
  K.fn.quantize_row_q8_0(q, f, T * cols);
  return q;
}

/** Best per-call ms over interleaved rounds for several implementations. */
export function timeInterleaved(fns: (() => unknown)[], rounds: number, minRoundMs: number): number[] {
  const best = fns.map(() => Infinity);
  for (const f of fns) f(); // warm up (tier-up, page faults)
  for (let r = 0; r < rounds; r++) {
    fns.forEach((f, i) => {
      let n = 0;
      const c0 = process.cpuUsage();
      let ms = 0;
      do {
        f();
        n++;
        const c = process.cpuUsage(c0);
        ms = (c.user + c.system) / 1000;
      } while (ms < minRoundMs);
      best[i] = Math.min(best[i]!, ms / n);
    });
  }
  return best;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** src with `stmt` as the first statement of the function whose header starts with `head`. */
export function withEarlyReturn(src: string, head: string, stmt: string): string {
  const at = src.indexOf(head);
  if (at < 0) throw new Error(`bench: the kernel source has no "${head}" (update this script with the kernel)`);
  const brace = src.indexOf('{\n', at);
  return src.slice(0, brace + 2) + '  ' + stmt + '\n' + src.slice(brace + 2);
}

/** Builds the SIMD kernels from assembly/ with some files replaced (name → source) into dir/name.wasm. */
export function buildVariant(dir: string, name: string, replace: Record<string, string>): string {
  const src = join(dir, name, 'assembly');
  mkdirSync(src, { recursive: true });
  for (const f of readdirSync(join(root, 'assembly'))) if (f.endsWith('.ts')) copyFileSync(join(root, 'assembly', f), join(src, f));
  for (const [f, text] of Object.entries(replace)) writeFileSync(join(src, f), text);
  const out = join(dir, `${name}.wasm`);
  const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
  const r = spawnSync(process.execPath, [asc, join(src, 'index.ts'), '--runtime', 'stub', '--noAssert', '-O3', '--enable', 'simd', '-o', out], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`bench: building the ${name} variant of the kernels failed`);
  return out;
}
