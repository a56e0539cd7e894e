/**
 * openModel: recognise a model file by its first bytes and map it to a ModelSpec.
 *
 *   GGUF          bytes 0..3 = "GGUF"
 *   safetensors   uint64 header length that fits the file, then "{"
 *   llama2.c      "ak42" magic (versions 1/2: recognised, then refused by parseLlama2c), or a plausible
 *                 7 x int32 version 0 header (positive, consistent, sane sizes). Whether the weights fit
 *                 is left to parseLlama2c, so a cut-off download reports 'truncated', not 'bad_magic'.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { readAt } from '../sources/read.ts';
import type { ModelSpec } from './model-spec.ts';
import { GGUF_MAGIC, describeBytes, ggufToModelSpec, parseGGUF } from './gguf.ts';
import { llama2cExportVersion, llama2cToModelSpec, parseLlama2c, whyNotLlama2c } from './llama2c.ts';
import { parseSafetensors, safetensorsToModelSpec, whyNotSafetensors } from './safetensors.ts';

export type ModelFormat = ModelSpec['format'];

/** Enough bytes for every format's signature. */
const SNIFF_BYTES = 64;

/** The format of `src`, from its first bytes; 'bad_magic' listing why each format was ruled out. */
export async function detectFormat(src: ByteSource, signal?: AbortSignal): Promise<ModelFormat> {
  const head = await readAt(src, 0, Math.min(src.size, SNIFF_BYTES), 'file signature', signal);
  if (String.fromCharCode(...head.subarray(0, 4)) === GGUF_MAGIC) return 'gguf';
  const notSafetensors = whyNotSafetensors(head, src.size);
  if (notSafetensors === null) return 'safetensors';
  if (llama2cExportVersion(head) !== null) return 'llama2c';
  const notLlama2c = whyNotLlama2c(head, Infinity); // header only; parseLlama2c checks the size
  if (notLlama2c === null) return 'llama2c';
  throw new IfpruneError(
    'bad_magic',
    `${src.name} is not a model file ifprune recognises; it starts with ${describeBytes(head.subarray(0, 8))}. Tried: ` +
      `GGUF (no "GGUF" magic); safetensors (${notSafetensors}); llama2.c version 0 (${notLlama2c}). ` +
      `Check the path or URL: an HTML error page or a Git LFS pointer file also ends up here.`,
  );
}

export interface OpenModelOptions {
  /** config.json of a safetensors checkpoint (required for safetensors, ignored otherwise). */
  config?: object;
  signal?: AbortSignal;
}

/** Reads the header of a GGUF, safetensors or llama2.c file and returns its ModelSpec. Tensor data is not read. */
export async function openModel(src: ByteSource, opts: OpenModelOptions = {}): Promise<ModelSpec> {
  const format = await detectFormat(src, opts.signal);
  switch (format) {
    case 'gguf':
      return ggufToModelSpec(await parseGGUF(src, opts.signal), src);
    case 'llama2c':
      return llama2cToModelSpec(await parseLlama2c(src, opts.signal), src);
    case 'safetensors': {
      if (!opts.config) {
        throw new IfpruneError('bad_option', `${src.name} is a safetensors checkpoint; pass its config.json as openModel(src, { config })`);
      }
      return safetensorsToModelSpec(await parseSafetensors(src, opts.signal), src, opts.config);
    }
  }
}
