/**
 * ifprune's public API, the same on every platform. This module imports nothing platform-specific:
 * the caller (or a platform entry point such as src/platform/node.ts) supplies the compiled kernel
 * module and a ByteSource.
 *
 *   const model = await open(source, { module });
 *   for await (const t of model.generate('Once upon a time', { maxTokens: 50 })) write(t.text);
 *   model.stats();  // load time, TTFT, prefill and decode tok/s, bytes read
 */
import { IfpruneError, isIfpruneError } from './errors.ts';
import type { ByteSource } from './sources/types.ts';
import { memorySource } from './sources/memory.ts';
import { detectFormat } from './formats/model.ts';
import { ggufView } from './formats/gguf-view.ts';
import { openRuntime } from './runtime.ts';
import type { ThreadSupport } from './threads.ts';
import type { GenerateOptions, Model, OpenOptions, Token } from './types.ts';

export { IfpruneError, isIfpruneError } from './errors.ts';
export type { IfpruneErrorCode } from './errors.ts';
export type * from './types.ts';
export type { ByteSource } from './sources/types.ts';
export { memorySource } from './sources/memory.ts';
export { httpSource } from './sources/http.ts';
export type { HttpSource, HttpSourceOptions, HttpStats } from './sources/http.ts';

export type SourceLike = ByteSource | Uint8Array | ArrayBuffer;

/**
 * Opens a model on the wasm runtime (`opts.module`: build/ifprune.*.wasm, which the platform entry points
 * load for you): the runtime parses the header, asks for the core's byte ranges (and, per instruction,
 * the neuron rows), and this host reads them from the source. Formats the runtime does not parse
 * (safetensors) are presented to it as a GGUF view of the same bytes.
 */
export async function open(source: SourceLike, opts: OpenOptions & { threadSupport?: ThreadSupport } = {}): Promise<Model> {
  if (!opts.module) {
    throw new IfpruneError('no_wasm', 'open() needs the compiled runtime module as { module } (build/ifprune.simd.wasm); platform entry points (ifprune on Node: src/platform/node.ts) pass it for you');
  }
  const src = toSource(source);
  const tokenizerSource = opts.tokenizer instanceof Uint8Array ? memorySource(opts.tokenizer, 'tokenizer.bin') : opts.tokenizer;
  try {
    try {
      return await openRuntime(opts.module, src, { ...opts, tokenizerSource });
    } catch (e) {
      // The runtime reads GGUF and llama2.c: a safetensors checkpoint runs through a GGUF view of its bytes.
      if (!(isIfpruneError(e, 'bad_magic') || isIfpruneError(e, 'unsupported')) || (await detectFormat(src, opts.signal).catch(() => null)) !== 'safetensors') throw e;
      return await openRuntime(opts.module, await ggufView(src, opts.config, opts.signal), { ...opts, tokenizerSource });
    }
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/** One call: open, generate, close. Yields the tokens as they come. */
export async function* generate(source: SourceLike, prompt: string, opts: OpenOptions & GenerateOptions = {}): AsyncGenerator<Token> {
  const model = await open(source, opts);
  try {
    yield* model.generate(prompt, opts);
  } finally {
    await model.close();
  }
}

function toSource(s: SourceLike): ByteSource {
  if (s instanceof Uint8Array) return memorySource(s);
  if (s instanceof ArrayBuffer) return memorySource(new Uint8Array(s));
  if (s && typeof (s as ByteSource).readInto === 'function' && Number.isFinite((s as ByteSource).size)) return s as ByteSource;
  throw new IfpruneError('bad_option', 'open(source): source must be a ByteSource, a Uint8Array or an ArrayBuffer');
}
