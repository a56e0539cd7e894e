/**
 * Cloudflare Workers (workerd) entry point (dist/worker/index.js; the `workerd` / `worker` export
 * conditions): the same names as node.ts. workerd refuses to compile wasm bytes at run time ("Wasm code
 * generation disallowed by embedder"), so the runtime module is *imported*: the bundle keeps
 * `import runtime from './ifprune.simd.wasm'` and wrangler (CompiledWasm rule) or a workerd config
 * (`wasm = embed "ifprune.simd.wasm"`) supplies it as a WebAssembly.Module, once per isolate.
 *
 * Only the SIMD build ships: every Workers runtime has SIMD128. The relaxed-SIMD build does not: workerd
 * runs relaxed SIMD, but refuses `new WebAssembly.Module(bytes)`, so the probe that checks the relaxed
 * dot computes right (engine/simd.ts) cannot run there, and a second imported module would add its size
 * to every deployment. Models are ByteSources (an R2 object,
 * memory) or absolute http(s) URLs read with Range requests through the global fetch.
 */
import runtime from '../../build/ifprune.simd.wasm';
import { IfpruneError } from '../errors.ts';
import type { KernelBuild } from '../engine/simd.ts';
import type { SourceLike } from '../index.ts';
import { httpSource } from '../sources/http.ts';
import type { GenerateOptions, Model, Token } from '../types.ts';
import { capabilities } from './detect.ts';
import { MODEL_HTTP, generateNamed, isHttpUrl, openNamed, type EntryPoint, type NamedOpenOptions, type PlatformIO } from './resolve.ts';

export * from './common.ts';
export { r2Source, type R2BucketLike, type R2Source, type R2SourceOptions, type R2Stats } from '../sources/r2.ts';

/** The imported runtime module (the SIMD build). */
export async function loadRuntime(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  if (requested === 'scalar' || requested === 'relaxed') {
    throw new IfpruneError('bad_option', `kernels = '${requested}': the Worker entry point ships only the SIMD runtime build (every Workers runtime has SIMD); use 'auto' or 'simd'`);
  }
  if (!capabilities.simd) throw new IfpruneError('no_wasm', 'this runtime does not validate WebAssembly SIMD128, which the Worker build of ifprune needs');
  return runtime;
}

const WORKER_IO: PlatformIO = {
  source(name, signal) {
    if (!isHttpUrl(name)) {
      return Promise.reject(new IfpruneError('bad_option', `a Worker has no files: "${name}" is not an http(s) URL; pass an absolute URL, or a ByteSource (an R2 object, memory)`));
    }
    return httpSource(name, { ...MODEL_HTTP, signal });
  },
  beside: (model, file) => new URL(file, model).href,
};

const WORKER: EntryPoint = { io: WORKER_IO, loadRuntime };

/** Opens a model from a ByteSource (R2, memory), bytes, or an absolute http(s) URL. */
export function open(model: string | URL | SourceLike, opts: NamedOpenOptions = {}): Promise<Model> {
  return openNamed(model, opts, WORKER);
}

/** One call: open, generate, close. */
export function generate(model: string | URL | SourceLike, prompt: string, opts: NamedOpenOptions & GenerateOptions = {}): AsyncGenerator<Token> {
  return generateNamed(model, prompt, opts, WORKER);
}
