/**
 * ifprune's public API, the same on every platform. This module imports nothing platform-specific:
 * the caller (or a platform entry point such as src/platform/node.ts) supplies the compiled kernel
 * module and a ByteSource.
 *
 *   const model = await open(source, { module });
 *   for await (const t of model.generate('Once upon a time', { maxTokens: 50 })) write(t.text);
 *   model.stats();  // load time, TTFT, prefill and decode tok/s, bytes read
 */
import { IfpruneError } from './errors.ts';
import type { ByteSource } from './sources/types.ts';
import { memorySource } from './sources/memory.ts';
import { openModel } from './formats/model.ts';
import { parseTokenizerBin } from './formats/tokenizer-bin.ts';
import { createTokenizer, type Tokenizer } from './tokenizer/index.ts';
import type { ModelSpec } from './formats/model-spec.ts';
import { Kernels } from './engine/kernels.ts';
import { Engine } from './engine/engine.ts';
import { EngineModel } from './engine/model.ts';
import { readIfpruneInfo, verifyTensorBytes } from './formats/ifprune.ts';
import { readCalibration } from './pruning/predictor-file.ts';
import { NeuronLoader } from './pruning/loader.ts';
import { Pruner } from './pruning/pruner.ts';
import { DEFAULT_GAP_ROWS } from './pruning/plan.ts';
import type { RangeRead, RangeSource } from './sources/ranges.ts';
import type { GenerateOptions, Model, OpenOptions, Token } from './types.ts';

export { IfpruneError, isIfpruneError } from './errors.ts';
export type { IfpruneErrorCode } from './errors.ts';
export type * from './types.ts';
export type { ByteSource } from './sources/types.ts';
export { memorySource } from './sources/memory.ts';
export { httpSource } from './sources/http.ts';
export type { HttpSource, HttpSourceOptions, HttpStats } from './sources/http.ts';

export type SourceLike = ByteSource | Uint8Array | ArrayBuffer;

/** Opens a model: parses its header, reads its weights into wasm memory and returns a ready Model. */
export async function open(source: SourceLike, opts: OpenOptions = {}): Promise<Model> {
  const t0 = performance.now();
  if (!opts.module) {
    throw new IfpruneError('no_wasm', 'open() needs the compiled kernel module as { module }; platform entry points (ifprune on Node: src/platform/node.ts) pass it for you');
  }
  const counted = countingSource(toSource(source));
  try {
    const spec = await openModel(counted.source, { config: opts.config, signal: opts.signal });
    const tokenizer = await resolveTokenizer(spec, opts);
    const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, spec.source.name);
    if (opts.ffn !== undefined && !['dense', 'selective', 'auto'].includes(opts.ffn)) throw new IfpruneError('bad_option', `ffn = ${String(opts.ffn)}: expected 'dense', 'selective' or 'auto'`);
    const selective = opts.ffn === 'selective' || (opts.ffn === 'auto' && info?.layout === 'bundled');
    if (selective && (!info || info.layout !== 'bundled')) {
      throw new IfpruneError('bad_option', `${spec.source.name} is not an ifprune bundled model; selective loading needs one: convert it with \`ifprune convert MODEL -o model.gguf\``);
    }
    const verify = info ? (tensor: string, offset: number, bytes: Uint8Array) => verifyTensorBytes(info, tensor, offset, bytes) : undefined;
    const K = await Kernels.create(opts.module);
    if (opts.memoryBudget !== undefined && !(Number.isSafeInteger(opts.memoryBudget) && opts.memoryBudget > 0)) {
      throw new IfpruneError('bad_option', `memoryBudget = ${opts.memoryBudget}: expected a positive number of bytes`);
    }
    const engine = await Engine.load(K, spec, { contextLength: opts.contextLength, signal: opts.signal, verify, ffn: selective ? 'none' : 'dense', maxBytes: opts.memoryBudget });
    const calibration = await readCalibration(spec, info, opts.signal);
    calibration.learned?.useKernels?.(K);
    const coreBytes = K.mark();
    if (opts.memoryBudget !== undefined && coreBytes > opts.memoryBudget) {
      throw new IfpruneError('out_of_memory', `${spec.source.name}: the core and predictor need ${(coreBytes / 2 ** 20).toFixed(1)} MiB of wasm memory but the memory budget is ${(opts.memoryBudget / 2 ** 20).toFixed(1)} MiB; raise memoryBudget or lower contextLength`);
    }
    const layout = info?.bundles.length ? { offsets: info.bundles.map((b) => b.offset), rowBytes: info.bundles[0]!.rowBytes, rows: info.bundles[0]!.nFF } : null;
    const gapBytes = opts.gapBytes ?? (layout ? DEFAULT_GAP_ROWS * layout.rowBytes : 0);
    const loader = selective
      ? new NeuronLoader(engine, counted.source, layout!, { memoryBudget: opts.memoryBudget === undefined ? undefined : Math.max(0, opts.memoryBudget - coreBytes), gapBytes, verify: (l, off, bytes) => verifyTensorBytes(info!, info!.bundles[l]!.name, off, bytes) })
      : null;
    const pruner = new Pruner(engine, calibration, loader, layout, gapBytes);
    return new EngineModel(engine, tokenizer, pruner, {
      loadMs: performance.now() - t0,
      bytesRead: () => counted.bytes,
      kernels: K.simd ? 'simd' : 'scalar',
      close: async () => counted.source.close?.(),
    });
  } catch (e) {
    await counted.source.close?.();
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

/** Wraps a source to count the bytes read through it (Stats.bytesRead). */
function countingSource(src: ByteSource): { source: ByteSource; bytes: number } {
  const c = {
    bytes: 0,
    source: {
      size: src.size,
      name: src.name,
      readInto: async (offset: number, target: Uint8Array, signal?: AbortSignal) => {
        await src.readInto(offset, target, signal);
        c.bytes += target.length;
      },
      close: src.close ? () => src.close!() : undefined,
      // Sources that batch ranges (HTTP) keep doing so through the wrapper.
      readRanges: (src as RangeSource).readRanges
        ? async (ranges: readonly RangeRead[], signal?: AbortSignal) => {
            await (src as RangeSource).readRanges!(ranges, signal);
            c.bytes += ranges.reduce((n, r) => n + r.length, 0);
          }
        : undefined,
    } as ByteSource & RangeSource,
  };
  return c;
}

/** The file's own tokenizer, or opts.tokenizer (a llama2.c tokenizer.bin), which takes precedence. */
async function resolveTokenizer(spec: ModelSpec, opts: OpenOptions): Promise<Tokenizer> {
  if (opts.tokenizer) {
    const bytes = opts.tokenizer instanceof Uint8Array ? opts.tokenizer : await readAll(opts.tokenizer, opts.signal);
    return createTokenizer(parseTokenizerBin(bytes, spec.config.vocabSize));
  }
  if (spec.tokenizer) return createTokenizer(spec.tokenizer);
  throw new IfpruneError(
    'bad_option',
    `${spec.source.name} is a ${spec.format} checkpoint without a vocabulary; pass its tokenizer (a llama2.c tokenizer.bin) as { tokenizer }` +
      ` (the command line looks for tokenizer.bin or tok*.bin beside the model, or takes --tokenizer FILE)`,
  );
}

async function readAll(src: ByteSource, signal?: AbortSignal): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  await src.readInto(0, out, signal);
  await src.close?.();
  return out;
}
