/**
 * Node.js adapter: obtains the compiled kernel module from build/ (beside the bundle, or in the
 * repository's build/ when running from source).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IfpruneError } from '../errors.ts';
import { chooseBuild, type KernelBuild } from '../engine/simd.ts';

const cache = new Map<KernelBuild, Promise<WebAssembly.Module>>();

export function kernelPath(build: KernelBuild): string {
  const name = `kernels.${build}.wasm`;
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new IfpruneError('not_found', `kernel module ${name} not found next to ${fileURLToPath(import.meta.url)} or in build/; run \`npm run build\``);
}

export function loadKernels(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  const build = chooseBuild(requested);
  let m = cache.get(build);
  if (!m) {
    m = readFile(kernelPath(build)).then((bytes) => WebAssembly.compile(bytes)).catch((cause) => {
      cache.delete(build);
      if (cause instanceof IfpruneError) throw cause;
      throw new IfpruneError('no_wasm', `could not compile ${build} kernel module: ${cause?.message ?? cause}`, { cause });
    });
    cache.set(build, m);
  }
  return m;
}
