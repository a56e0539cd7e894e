/**
 * Opening a model by name (a path or a URL) with the companion files its format needs, the same on
 * every platform. An entry point (node.ts, deno.ts, worker.ts, web.ts) supplies a PlatformIO (how a
 * name becomes a ByteSource, where companions are) and its loadRuntime(); this file decides what to
 * read:
 *
 *   GGUF            the file alone (tokenizer and config are in its metadata)
 *   llama2.c .bin   + a tokenizer.bin: opts.tokenizer, else the one beside the model (io.tokenizerBeside)
 *   safetensors     + config.json: opts.config, else config.json beside the model
 *
 * Layers (STYLE.md habit 10): open(name) → resolveModel(name) → core open(source, { module, tokenizer, config }).
 */
import { IfpruneError } from '../errors.ts';
import { open as openCore, type SourceLike } from '../index.ts';
import { detectFormat, type ModelFormat } from '../formats/model.ts';
import { readAt } from '../sources/read.ts';
import type { ByteSource } from '../sources/types.ts';
import type { HttpSourceOptions } from '../sources/http.ts';
import type { KernelBuild } from '../engine/simd.ts';
import { checkThreads, type ThreadSupport } from '../threads.ts';
import type { GenerateOptions, Model, OpenOptions, Token } from '../types.ts';

/** How names become sources on one platform. */
export interface PlatformIO {
  /** A model or companion name (path or URL, as the platform allows) → a ByteSource. */
  source(name: string, signal?: AbortSignal): Promise<ByteSource>;
  /** The name of `file` in the same directory as `model`. */
  beside(model: string, file: string): string;
  /** The tokenizer of a llama2.c checkpoint when none is given (default: tokenizer.bin beside it). */
  tokenizerBeside?(model: string): string;
}

/**
 * Options of the HTTP sources the entry points open for models. The runtime plans which neuron rows to
 * read and how far to read through the gaps between them (OpenOptions.gapBytes, default 0: exactly
 * the selected rows), so the source must not widen that plan with its own read-through (httpSource's
 * default 16 KiB would read nearly every row at density 0.5); it still merges ranges that touch.
 */
export const MODEL_HTTP: HttpSourceOptions = { gapBytes: 0 };

/** http: or https: (a URL the HTTP Range source reads). */
export function isHttpUrl(name: string | URL): boolean {
  return /^https?:\/\//i.test(String(name));
}

export interface ResolveOptions {
  /** llama2.c tokenizer.bin: a name, bytes or a source; false: do not look for one (inspect). */
  tokenizer?: string | ByteSource | Uint8Array | false;
  /** config.json of a safetensors checkpoint (default: read from beside the model). */
  config?: object;
  signal?: AbortSignal;
}

export interface ResolvedModel {
  /** The model's bytes (close it when done, or hand it to open(), which closes it with the model). */
  source: ByteSource;
  format: ModelFormat;
  tokenizer?: ByteSource | Uint8Array;
  config?: object;
}

/** Opens the model's source and reads the companions its format needs. */
export async function resolveModel(model: string, opts: ResolveOptions, io: PlatformIO): Promise<ResolvedModel> {
  const source = await io.source(model, opts.signal);
  try {
    const format = await detectFormat(source, opts.signal);
    let tokenizer: ByteSource | Uint8Array | undefined;
    if (typeof opts.tokenizer === 'string') tokenizer = await readCompanion(opts.tokenizer, 'tokenizer', io, opts.signal);
    else if (opts.tokenizer) tokenizer = opts.tokenizer;
    else if (opts.tokenizer !== false && format === 'llama2c') {
      tokenizer = await readCompanion(io.tokenizerBeside?.(model) ?? io.beside(model, 'tokenizer.bin'), 'tokenizer', io, opts.signal, {
        why: `${model} is a llama2.c checkpoint, which carries no vocabulary`,
        fix: 'pass its tokenizer.bin with --tokenizer FILE (library: the tokenizer option)',
      });
    }
    let config = opts.config;
    if (format === 'safetensors' && !config) config = await readConfigJson(model, io, opts.signal);
    return { source, format, tokenizer, config };
  } catch (e) {
    await source.close?.();
    throw e;
  }
}

/** A small companion file (tokenizer.bin, config.json) read whole; 'not_found' saying which, why it was looked for and the fix. */
export async function readCompanion(name: string, what: string, io: PlatformIO, signal?: AbortSignal, help?: { why: string; fix: string }): Promise<Uint8Array> {
  let src: ByteSource;
  try {
    src = await io.source(name, signal);
  } catch (cause) {
    if ((cause as IfpruneError)?.code === 'aborted') throw cause;
    const msg = `cannot read the ${what} ${name}: ${(cause as Error)?.message ?? cause}`;
    throw new IfpruneError('not_found', help ? `${help.why}; ${msg}; ${help.fix}` : msg, { cause });
  }
  try {
    return await readAt(src, 0, src.size, what, signal);
  } finally {
    await src.close?.();
  }
}

async function readConfigJson(model: string, io: PlatformIO, signal?: AbortSignal): Promise<object> {
  const name = io.beside(model, 'config.json');
  const bytes = await readCompanion(name, 'config.json', io, signal, {
    why: `${model} is a safetensors checkpoint, which needs the config.json of its Hugging Face folder`,
    fix: 'put it beside the model (library: pass the config option)',
  });
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as object;
  } catch (cause) {
    throw new IfpruneError('corrupt', `${name} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
}

// ---------------------------------------------------------------------------------------------------
// open / generate for an entry point

export interface NamedOpenOptions extends Omit<OpenOptions, 'tokenizer' | 'module'> {
  /** A llama2.c tokenizer.bin: a name (path or URL), bytes or a source. Default: tokenizer.bin beside the model. */
  tokenizer?: string | ByteSource | Uint8Array;
  /** The compiled runtime; default: the entry point's loadRuntime(). */
  module?: WebAssembly.Module;
}

export interface EntryPoint {
  io: PlatformIO;
  loadRuntime(requested?: KernelBuild | 'auto'): Promise<WebAssembly.Module>;
  /** Worker threads (open's threads: 2), where the platform can start them (src/threads.ts). */
  threads?(): Promise<ThreadSupport>;
}

/** The entry points' open(): a name is resolved through `io`, anything else goes to the core as is. */
export async function openNamed(model: string | URL | SourceLike, opts: NamedOpenOptions, entry: EntryPoint): Promise<Model> {
  // threads: 2 runs the threads build (SIMD) with a worker, where the platform has workers
  const threadSupport = checkThreads(opts.threads, entry.threads !== undefined) > 1 ? await entry.threads!() : undefined;
  if (threadSupport && opts.kernels !== undefined && opts.kernels !== 'auto' && opts.kernels !== 'simd') {
    throw new IfpruneError('bad_option', `kernels = '${opts.kernels}' with threads: 2: the threads build runs the SIMD kernels; leave kernels out or pass threads: 1`);
  }
  const module = opts.module ?? (threadSupport ? threadSupport.runtime : await entry.loadRuntime(opts.kernels ?? 'auto'));
  if (typeof model !== 'string' && !(model instanceof URL)) {
    const tokenizer = typeof opts.tokenizer === 'string' ? await readCompanion(opts.tokenizer, 'tokenizer', entry.io, opts.signal) : opts.tokenizer;
    return openCore(model, { ...opts, module, tokenizer, threadSupport });
  }
  const r = await resolveModel(String(model), opts, entry.io);
  return openCore(r.source, { ...opts, module, tokenizer: r.tokenizer, config: r.config, threadSupport });
}

/** The entry points' one-call generate(): open, generate, close. */
export async function* generateNamed(model: string | URL | SourceLike, prompt: string, opts: NamedOpenOptions & GenerateOptions, entry: EntryPoint): AsyncGenerator<Token> {
  const m = await openNamed(model, opts, entry);
  try {
    yield* m.generate(prompt, opts);
  } finally {
    await m.close();
  }
}
