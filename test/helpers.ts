/** Shared test helpers: seeded randomness, approximate comparison, NMSE. */
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** mulberry32: a tiny seeded PRNG so every test case is reproducible from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale). */
export function randomF32(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Normalised mean squared error, as ggml's test-backend-ops nmse(). */
export function nmse(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!;
    num += d * d;
    den += expected[i]! * expected[i]!;
  }
  return den === 0 ? num : num / den;
}

/**
 * Asserts |actual - expected| <= tol * max(1, |expected|) elementwise (relative for large values,
 * absolute near zero) and reports the worst index.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, label = ''): void {
  assert.is(actual.length, expected.length, `${label}: length`);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const err = Math.abs(a - e) / Math.max(1, Math.abs(e));
    if (!(err <= worstErr) || Number.isNaN(a) !== Number.isNaN(e)) {
      if (Number.isNaN(err) && Number.isNaN(a) && Number.isNaN(e)) continue;
      worstErr = Number.isNaN(err) ? Infinity : err;
      worst = i;
    }
  }
  if (worst >= 0 && !(worstErr <= tol)) {
    assert.unreachable(`${label}: worst error ${worstErr.toExponential(3)} > ${tol} at [${worst}]: got ${actual[worst]}, expected ${expected[worst]}`);
  }
}

/** Asserts two byte arrays are identical, naming the first difference. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, label = ''): void {
  assert.is(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.unreachable(`${label}: byte ${i} differs: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/** Asserts fn throws an IfpruneError with the given code (and returns it). */
export async function assertThrowsCode(fn: () => unknown, code: string, label = ''): Promise<Error & { code: string }> {
  try {
    await fn();
  } catch (e) {
    const err = e as Error & { code: string };
    assert.is(err?.name, 'IfpruneError', `${label}: expected IfpruneError, got ${err?.name}: ${err?.message}`);
    assert.is(err.code, code, `${label}: code (message: ${err.message})`);
    return err;
  }
  assert.unreachable(`${label}: expected IfpruneError ${code}, nothing was thrown`);
  throw new Error('unreachable');
}

/** max |a - b| / max |b|: the error relative to the logits' scale. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let d = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return d / m;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/ifprune.js ...args` from the repository root; `onStdout` sees each stdout chunk
 * (with the child, to signal it). */
export function runCli(args: string[], onStdout?: (chunk: string, child: ChildProcess) => void): Promise<CliResult> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/ifprune.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', IFPRUNE_DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      onStdout?.(d, child);
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
