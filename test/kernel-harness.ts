/** Loads each kernel build and moves data in and out of its memory, for the kernel test suites. */
import { Kernels } from '../src/engine/kernels.ts';
import { loadKernels } from '../src/platform/node.ts';
import type { KernelBuild } from '../src/engine/simd.ts';

/** Every kernel suite runs once per build (as-sha256's getSimdTests(sha256, useSimd)). The relaxed build is
 * held to the SIMD build bit for bit in test/relaxed.test.ts instead: Node 20 runs it only with a flag. */
export const BUILDS = ['simd', 'scalar'] as const satisfies readonly KernelBuild[];

export async function kernelsFor(build: KernelBuild): Promise<Kernels> {
  return Kernels.create(await loadKernels(build));
}

/** Copies `data` into a fresh arena region and returns its offset. */
export function put(K: Kernels, data: Float32Array | Uint8Array | Int32Array): number {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const p = K.alloc(bytes.length);
  K.u8(p, bytes.length).set(bytes);
  return p;
}

/** A zeroed region of n f32 (or `fill`). */
export function zeros(K: Kernels, n: number, fill = 0): number {
  const p = K.alloc(n * 4);
  K.f32(p, n).fill(fill);
  return p;
}

/** A copy of n f32 at p (a copy survives later memory growth). */
export function getF32(K: Kernels, p: number, n: number): Float32Array {
  return K.f32(p, n).slice();
}

export function getU8(K: Kernels, p: number, n: number): Uint8Array {
  return K.u8(p, n).slice();
}
