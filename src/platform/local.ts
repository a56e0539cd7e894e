/**
 * Names on a machine with a file system (Node, and Deno through its node: built-ins): a path or a
 * file: URL is a local file (fileSource), an http(s) URL is read with Range requests (httpSource).
 * Companions sit in the same directory, or beside the URL (`new URL('config.json', url)`).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IfpruneError } from '../errors.ts';
import { fileSource } from '../sources/file.ts';
import { httpSource, type HttpSourceOptions } from '../sources/http.ts';
import type { ByteSource } from '../sources/types.ts';
import { MODEL_HTTP, isHttpUrl, type PlatformIO } from './resolve.ts';

/** A model or companion by path, file: URL or http(s) URL. */
export function localSource(name: string, opts: HttpSourceOptions = {}): Promise<ByteSource> {
  return isHttpUrl(name) ? httpSource(name, opts) : fileSource(toPath(name));
}

export const LOCAL_IO: PlatformIO = {
  source: (name, signal) => localSource(name, { ...MODEL_HTTP, signal }),
  beside: (model, file) => (isHttpUrl(model) ? new URL(file, model).href : join(dirname(toPath(model)), file)),
  tokenizerBeside,
};

/** The tokenizer of a llama2.c checkpoint: tokenizer.bin beside a URL, tokenizer.bin or the one tok*.bin beside a file. */
export function tokenizerBeside(model: string): string {
  return isHttpUrl(model) ? new URL('tokenizer.bin', model).href : findTokenizerBeside(toPath(model));
}

/** A file: URL as a path; anything else as given. */
function toPath(name: string): string {
  return /^file:\/\//i.test(name) ? fileURLToPath(name) : name;
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
