/**
 * Node.js entry point (dist/node/index.js; `import … from 'ifprune'` under Node): the public API of
 * src/index.ts, plus the runtime module read from a file (beside the bundle, or in the repository's
 * build/ when running from source) and models named by path or URL (src/platform/local.ts):
 *
 *   const model = await open('models/stories260K/stories260K.gguf');        // a file
 *   const remote = await open('https://example.com/model.gguf');            // HTTP Range requests
 *
 * The same names as every entry point (deno.ts, worker.ts, web.ts): open, generate, loadRuntime,
 * fileSource, getRuntimeKey, capabilities.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IfpruneError } from '../errors.ts';
import { chooseBuild, type KernelBuild } from '../engine/simd.ts';
import type { SourceLike } from '../index.ts';
import type { GenerateOptions, Model, Token } from '../types.ts';
import { LOCAL_IO } from './local.ts';
import { WORKER_LOOP, type ThreadSupport } from '../threads.ts';
import { generateNamed, openNamed, readCompanion, resolveModel as resolveWith, type EntryPoint, type NamedOpenOptions, type ResolveOptions, type ResolvedModel } from './resolve.ts';

export * from './common.ts';
export { fileSource } from '../sources/file.ts';
export { localSource as modelSource, findTokenizerBeside } from './local.ts';
export type { ResolveOptions, ResolvedModel } from './resolve.ts';

const cache = new Map<string, Promise<WebAssembly.Module>>();

/** A wasm module file shipped in build/ (or beside the bundle). */
export function wasmPath(name: string): string {
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
  for (const u of candidates) {
    const p = fileURLToPath(u);
    if (existsSync(p)) return p;
  }
  throw new IfpruneError('not_found', `wasm module ${name} not found next to ${fileURLToPath(import.meta.url)} or in build/; run \`npm run build\``);
}

export function kernelPath(build: KernelBuild): string {
  return wasmPath(`kernels.${build}.wasm`);
}

/** Compiles a wasm module file once per process. */
function loadModule(name: string): Promise<WebAssembly.Module> {
  let m = cache.get(name);
  if (!m) {
    m = Promise.resolve()
      .then(() => readFile(wasmPath(name)))
      .then((bytes) => WebAssembly.compile(bytes))
      .catch((cause) => {
        cache.delete(name);
        if (cause instanceof IfpruneError) throw cause;
        throw new IfpruneError('no_wasm', `could not compile ${name}: ${cause?.message ?? cause}`, { cause });
      });
    cache.set(name, m);
  }
  return m;
}

/** The kernel module alone (build/kernels.*.wasm): kernel tests, benchmarks and the offline tools. */
export async function loadKernels(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  return loadModule(`kernels.${chooseBuild(requested)}.wasm`);
}

/** The whole runtime (build/ifprune.{relaxed,simd,scalar}.wasm, engine/simd.ts chooses): what open() runs models on. */
export async function loadRuntime(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  return loadModule(`ifprune.${chooseBuild(requested)}.wasm`);
}

// ---------------------------------------------------------------------------------------------------
// Models by path or URL, with companion files (tokenizer.bin, config.json) found beside them.

/**
 * Worker threads for open's threads: 2 (src/threads.ts): worker_threads running `loop` (WORKER_LOOP; a
 * test passes another) as eval code.
 */
export async function nodeThreads(loop: string = WORKER_LOOP): Promise<ThreadSupport> {
  const [runtime, kernels] = await Promise.all([loadModule('ifprune.threads.wasm'), loadModule('kernels.threads.wasm')]);
  return {
    runtime,
    kernels,
    async spawn(data) {
      const { Worker } = await import('node:worker_threads');
      const prelude = "const { workerData: data, parentPort } = require('node:worker_threads'); const ready = () => parentPort.postMessage('ready');\n";
      const w = new Worker(prelude + loop, { eval: true, workerData: data });
      await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`the worker exited with code ${code}`)));
      });
      w.unref(); // an unclosed model does not keep the process alive
      return w;
    },
  };
}

const NODE: EntryPoint = { io: LOCAL_IO, loadRuntime, threads: () => nodeThreads() };

/** Opens a model by path, file: or http(s) URL, or from any source. */
export function open(model: string | URL | SourceLike, opts: NamedOpenOptions = {}): Promise<Model> {
  return openNamed(model, opts, NODE);
}

/** One call: open, generate, close. */
export function generate(model: string | URL | SourceLike, prompt: string, opts: NamedOpenOptions & GenerateOptions = {}): AsyncGenerator<Token> {
  return generateNamed(model, prompt, opts, NODE);
}

/** The source of a model named by path or URL and the companions its format needs (what open() reads first). */
export function resolveModel(model: string, opts: ResolveOptions = {}): Promise<ResolvedModel> {
  return resolveWith(model, opts, LOCAL_IO);
}

/** A companion file (a tokenizer.bin) by path or URL, read whole. */
export function readFileOrUrl(name: string, what: string, signal?: AbortSignal): Promise<Uint8Array> {
  return readCompanion(name, what, LOCAL_IO, signal);
}
