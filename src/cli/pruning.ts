/**
 * What `ifprune calibrate` and `ifprune eval` share: reading prompt/response data into domains, opening
 * a model with its tokenizer and a dense engine, and the bundle layout that byte counts are measured on.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { readAt } from '../sources/read.ts';
import { detectFormat, openModel } from '../formats/model.ts';
import type { ModelSpec } from '../formats/model-spec.ts';
import { ggufToModelSpec, parseGGUF, type GGUFFile } from '../formats/gguf.ts';
import { QUANT, rowBytes } from '../formats/quant.ts';
import { parseTokenizerBin } from '../formats/tokenizer-bin.ts';
import { readIfpruneInfo, verifyTensorBytes, type IfpruneInfo } from '../formats/ifprune.ts';
import { toF32 } from '../formats/quant-values.ts';
import { createTokenizer, type Tokenizer } from '../tokenizer/index.ts';
import { Kernels } from '../engine/kernels.ts';
import { Engine } from '../engine/engine.ts';
import { loadKernels, modelSource, readFileOrUrl } from '../platform/node.ts';
import { tokenizerBeside } from '../platform/local.ts';
import { parseCalibrationJsonl, spreadSample } from '../convert/calibrate.ts';
import type { Example } from '../pruning/activations.ts';
import type { BundleLayout } from '../pruning/plan.ts';
import { UsageError, escapeText, listOption, type ParsedArgs } from './args.ts';

/** Comma-separated items of a (repeatable) option, empty items dropped: `-d a.jsonl,b.jsonl -d c.jsonl`. */
export function commaList(args: ParsedArgs, name: string): string[] {
  return listOption(args, name).flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/**
 * Reads JSONL files of {prompt, response[, domain, id]} into one example list per domain (in order of
 * first appearance). A line without a domain belongs to its file's base name ("python.jsonl" → python).
 * `limit` examples at most per file, spread over it.
 */
export async function readDomains(files: string[], limit: number | undefined, command: string): Promise<Map<string, Example[]>> {
  if (files.length === 0) throw new UsageError(`${command} needs prompt/response data: -d DATA.jsonl[,DATA2.jsonl...]`, command);
  const domains = new Map<string, Example[]>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new IfpruneError('not_found', `cannot read data file ${file}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`, { cause });
    }
    const fileDomain = basename(file, extname(file));
    const parsed = parseCalibrationJsonl(text, file);
    const examples = spreadSample(parsed, limit ?? parsed.length);
    for (const [i, ex] of examples.entries()) {
      if (!('prompt' in ex)) throw new IfpruneError('bad_option', `${file} holds {"text": ...} lines; ${command} needs {"prompt": ..., "response": ...} pairs (the response is what is scored)`);
      const domain = ex.domain ?? fileDomain;
      let list = domains.get(domain);
      if (!list) domains.set(domain, (list = []));
      list.push({ id: ex.id ?? `${fileDomain}:${i}`, domain, prompt: ex.prompt, response: ex.response });
    }
  }
  return domains;
}

export interface OpenedModel {
  src: ByteSource;
  spec: ModelSpec;
  /** The parsed GGUF (null for other formats). */
  gguf: GGUFFile | null;
  /** ifprune metadata (null for a plain GGUF or another format). */
  info: IfpruneInfo | null;
}

/** Opens a GGUF or llama2.c model's header, by path or URL (safetensors: convert first); the caller closes `src`. */
export async function openForPruning(path: string, command: string): Promise<OpenedModel> {
  const src = await modelSource(path);
  try {
    const format = await detectFormat(src);
    if (format === 'safetensors') {
      throw new IfpruneError('unsupported', `${path} is a safetensors checkpoint; ${command} reads GGUF and llama2.c files: convert it first with \`ifprune convert ${path} -o model.gguf\``);
    }
    const gguf = format === 'gguf' ? await parseGGUF(src) : null;
    const spec = gguf ? ggufToModelSpec(gguf, src) : await openModel(src);
    const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, path);
    return { src, spec, gguf, info };
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/** The file's own tokenizer, else --tokenizer (a llama2.c tokenizer.bin), else one beside a llama2.c checkpoint. */
export async function tokenizerFor(m: OpenedModel, modelPath: string, given: string | undefined): Promise<Tokenizer> {
  if (!given && m.spec.tokenizer) return createTokenizer(m.spec.tokenizer);
  const path = given ?? tokenizerBeside(modelPath);
  let bytes: Uint8Array;
  try {
    bytes = await readFileOrUrl(path, 'tokenizer');
  } catch (cause) {
    throw new IfpruneError('not_found', `${(cause as Error).message}; pass it with --tokenizer FILE`, { cause });
  }
  return createTokenizer(parseTokenizerBin(bytes, m.spec.config.vocabSize));
}

/** A dense engine over every weight, checking ifprune chunk hashes as it reads. */
export async function loadDenseEngine(m: OpenedModel): Promise<Engine> {
  const info = m.info;
  const verify = info ? (tensor: string, offset: number, bytes: Uint8Array) => verifyTensorBytes(info, tensor, offset, bytes) : undefined;
  return Engine.load(await Kernels.create(await loadKernels()), m.spec, { verify });
}

/** A tensor's values as f32 (F32, F16, BF16, Q8_0 or Q4_0 in the file), hash-checked in an ifprune file. */
export async function readTensorF32(m: OpenedModel, name: string): Promise<Float32Array> {
  const t = m.spec.tensors.get(name);
  if (!t) throw new IfpruneError('corrupt', `${m.spec.source.name}: tensor ${name} is missing`);
  const bytes = await readAt(m.spec.source, t.offset, t.bytes, name);
  if (m.info) verifyTensorBytes(m.info, name, 0, bytes);
  return toF32(t.type, bytes, t.dims.reduce((a, b) => a * b, 1), undefined, `${m.spec.source.name}: tensor ${name}`);
}

export interface LayoutChoice {
  layout: BundleLayout;
  /** Set when the file has no bundles and the layout is what a bundled conversion would have: why. */
  synthesized: string | null;
}

/**
 * Where the FFN bundles are: the file's own (ifprune bundled), or, for any other model, the layout a
 * bundled conversion in the FFN matrices' type would have (a row = gate, up and down parts of dim
 * values each, layers consecutive), so byte counts stay comparable.
 */
export function bundleLayout(m: OpenedModel): LayoutChoice {
  const c = m.spec.config;
  const b = m.info?.bundles;
  if (b?.length) return { layout: { offsets: b.map((x) => x.offset), rowBytes: b[0]!.rowBytes, rows: b[0]!.nFF }, synthesized: null };
  const parts = ['ffn_gate', 'ffn_up', 'ffn_down'].map((p) => m.spec.tensors.get(`blk.0.${p}.weight`));
  if (parts.some((t) => !t)) throw new IfpruneError('corrupt', `${m.spec.source.name}: layer 0 has neither ffn_bundle nor ffn_gate/ffn_up/ffn_down`);
  const row = parts.reduce((s, t) => s + rowBytes(t!.type, c.dim), 0);
  const types = [...new Set(parts.map((t) => t!.type.name))].join('/');
  return {
    layout: { offsets: Array.from({ length: c.nLayers }, (_, l) => l * c.hiddenDim * row), rowBytes: row, rows: c.hiddenDim },
    synthesized: `${escapeText(m.spec.source.name)} is not an ifprune bundled file; bytes and requests are for the FFN as if bundled in ${types} (${row} bytes per neuron, layers back to back)`,
  };
}
