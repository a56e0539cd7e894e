/**
 * Node.js entry point: the public API of src/index.ts, plus the kernel module from build/ (beside the
 * bundle, or in the repository's build/ when running from source) and model paths.
 */
import { readFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IfpruneError } from '../errors.ts';
import { chooseBuild, type KernelBuild } from '../engine/simd.ts';
import { open as openCore, type SourceLike } from '../index.ts';
import { fileSource } from '../sources/file.ts';
import { detectFormat } from '../formats/model.ts';
import type { ByteSource } from '../sources/types.ts';
import type { GenerateOptions, Model, OpenOptions, Token } from '../types.ts';

export * from '../index.ts';
export { fileSource } from '../sources/file.ts';

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
export function loadKernels(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  return loadModule(`kernels.${chooseBuild(requested)}.wasm`);
}

/** The whole runtime (build/ifprune.*.wasm): what open() runs models on. */
export function loadRuntime(requested: KernelBuild | 'auto' = 'auto'): Promise<WebAssembly.Module> {
  return loadModule(`ifprune.${chooseBuild(requested)}.wasm`);
}

// ---------------------------------------------------------------------------------------------------
// The Node entry point: the public API with paths accepted wherever a source is, and the kernel module
// and companion files (tokenizer.bin, config.json) found for you.

export interface NodeOpenOptions extends Omit<OpenOptions, 'tokenizer' | 'module'> {
  /** A llama2.c tokenizer.bin: a path, bytes or a source. Default: tokenizer.bin or tok*.bin beside the model. */
  tokenizer?: string | ByteSource | Uint8Array;
  module?: WebAssembly.Module;
}

/** Opens a model from a path (or any source) on Node. */
export async function open(model: string | SourceLike, opts: NodeOpenOptions = {}): Promise<Model> {
  const module = opts.module ?? (await loadRuntime(opts.kernels ?? 'auto'));
  if (typeof model !== 'string') {
    const tokenizer = typeof opts.tokenizer === 'string' ? await readFile(opts.tokenizer) : opts.tokenizer;
    return openCore(model, { ...opts, module, tokenizer });
  }
  const src = await fileSource(model);
  try {
    const format = await detectFormat(src, opts.signal);
    let tokenizer: ByteSource | Uint8Array | undefined;
    if (typeof opts.tokenizer === 'string') tokenizer = await readCompanion(opts.tokenizer, 'tokenizer');
    else if (opts.tokenizer) tokenizer = opts.tokenizer;
    else if (format === 'llama2c') tokenizer = await readCompanion(findTokenizerBeside(model), 'tokenizer');
    let config = opts.config;
    if (format === 'safetensors' && !config) config = JSON.parse(new TextDecoder().decode(await readCompanion(join(dirname(model), 'config.json'), 'config.json'))) as object;
    return await openCore(src, { ...opts, module, tokenizer, config });
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/** One call on Node: open a path, generate, close. */
export async function* generate(model: string | SourceLike, prompt: string, opts: NodeOpenOptions & GenerateOptions = {}): AsyncGenerator<Token> {
  const m = await open(model, opts);
  try {
    yield* m.generate(prompt, opts);
  } finally {
    await m.close();
  }
}

/** tokenizer.bin, else the only tok*.bin, beside a llama2.c checkpoint. */
export function findTokenizerBeside(modelPath: string): string {
  const dir = dirname(modelPath);
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // reported below
  }
  if (names.includes('tokenizer.bin')) return join(dir, 'tokenizer.bin');
  const toks = names.filter((n) => /^tok.*\.bin$/.test(n)).sort();
  if (toks.length === 1) return join(dir, toks[0]!);
  throw new IfpruneError(
    'not_found',
    toks.length > 1
      ? `${modelPath} is a llama2.c checkpoint and ${dir} has several tokenizers (${toks.join(', ')}); choose one with --tokenizer FILE`
      : `${modelPath} is a llama2.c checkpoint, which carries no vocabulary, and no tokenizer.bin or tok*.bin is beside it; pass one with --tokenizer FILE`,
  );
}

async function readCompanion(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new IfpruneError('not_found', `cannot read the ${what} ${path}: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}
