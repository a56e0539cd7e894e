/**
 * Deno entry point (dist/deno/index.js; `import … from 'npm:ifprune'` or the bundle by path): the same
 * names as node.ts. Models are named by path (Deno's node:fs, so `--allow-read=models` is the only
 * permission a local model needs) or by http(s) URL (`--allow-net`); the runtime module comes with the
 * module graph (deno-wasm.js), so reading it needs no permission.
 *
 *   const model = await open('models/stories260K/stories260K.gguf');
 *   for await (const t of model.generate('Once upon a time', { temperature: 0 })) …
 */
import { chooseBuild, type KernelBuild } from '../engine/simd.ts';
import type { SourceLike } from '../index.ts';
import type { GenerateOptions, Model, Token } from '../types.ts';
import { RUNTIME_MODULES, THREAD_MODULES } from './deno-wasm.js';
import { spawnWebWorker } from '../threads.ts';
import { LOCAL_IO } from './local.ts';
import { generateNamed, openNamed, resolveModel as resolveWith, type EntryPoint, type NamedOpenOptions, type ResolveOptions, type ResolvedModel } from './resolve.ts';

export * from './common.ts';
export { fileSource } from '../sources/file.ts';
export { localSource as modelSource } from './local.ts';
export type { ResolveOptions, ResolvedModel } from './resolve.ts';

/** The runtime module: the relaxed-SIMD build where the probe passes (Deno has relaxed SIMD on), else SIMD, else scalar. */
export async function loadRuntime(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  return RUNTIME_MODULES[chooseBuild(requested)];
}

/** threads: 2: the threads build with a Worker (src/threads.ts). */
const DENO: EntryPoint = { io: LOCAL_IO, loadRuntime, threads: async () => ({ ...THREAD_MODULES, spawn: spawnWebWorker }) };

/** Opens a model by path, file: or http(s) URL, or from any source. */
export function open(model: string | URL | SourceLike, opts: NamedOpenOptions = {}): Promise<Model> {
  return openNamed(model, opts, DENO);
}

/** One call: open, generate, close. */
export function generate(model: string | URL | SourceLike, prompt: string, opts: NamedOpenOptions & GenerateOptions = {}): AsyncGenerator<Token> {
  return generateNamed(model, prompt, opts, DENO);
}

/** The source of a model named by path or URL and the companions its format needs. */
export function resolveModel(model: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  return resolveWith(model, opts, LOCAL_IO);
}
