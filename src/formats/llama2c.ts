/**
 * llama2.c legacy checkpoint, "version 0" (run.c read_checkpoint / memory_map_weights; export.py
 * legacy_export). A 28-byte header, then float32 weights, all little-endian, no padding:
 *
 *   field            type      shape                      notes
 *   dim              int32                                embedding width
 *   hidden_dim       int32                                FFN width
 *   n_layers         int32
 *   n_heads          int32
 *   n_kv_heads       int32
 *   vocab_size       int32                                negative: a separate classifier wcls follows
 *   seq_len          int32
 *   token_embedding  float32   (vocab, dim)
 *   rms_att          float32   (L, dim)
 *   wq               float32   (L, dim, dim)              every matrix is (out, in), row-major
 *   wk               float32   (L, kvDim, dim)            kvDim = n_kv_heads * head_size
 *   wv               float32   (L, kvDim, dim)
 *   wo               float32   (L, dim, dim)
 *   rms_ffn          float32   (L, dim)
 *   w1               float32   (L, hidden, dim)           gate
 *   w2               float32   (L, dim, hidden)           down
 *   w3               float32   (L, hidden, dim)           up
 *   rms_final        float32   (dim)
 *   freq_cis_real    float32   (seq_len, head_size / 2)   unused RoPE tables, kept for the layout
 *   freq_cis_imag    float32   (seq_len, head_size / 2)
 *   wcls             float32   (vocab, dim)               only when vocab_size < 0
 *
 * export.py --version 1 (fp32) and --version 2 (Q8_0) files start instead with the uint32 magic
 * 0x616b3432 ("ak42") and a version; they are recognised and refused.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { readAt } from '../sources/read.ts';
import type { ModelSpec, TensorRef } from './model-spec.ts';
import { QUANT } from './quant.ts';
import { checkModelSpec } from './spec-check.ts';

export const LLAMA2C_HEADER_BYTES = 7 * 4;
/** export.py's magic for versions >= 1, as the uint32 at byte 0. */
export const LLAMA2C_EXPORT_MAGIC = 0x616b3432;

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** |vocab_size| */
  vocabSize: number;
  seqLen: number;
  /** vocab_size > 0: the classifier is the token embedding. */
  sharedClassifier: boolean;
}

export interface Llama2cWeight {
  name: string;
  /** Outermost first, as in the table above. */
  shape: number[];
  offset: number;
  bytes: number;
}

export interface Llama2cFile {
  header: Llama2cHeader;
  /** In file order, by llama2.c name (token_embedding, rms_att, wq, ...). */
  weights: Map<string, Llama2cWeight>;
  /** Header plus weights: the least the file must hold. */
  expectedBytes: number;
}

/** The weight table above as data: each weight's shape for a header (null = absent). */
const LAYOUT: { name: string; shape: (h: Llama2cHeader, kvDim: number, headSize: number) => number[] | null }[] = [
  { name: 'token_embedding', shape: (h) => [h.vocabSize, h.dim] },
  { name: 'rms_att', shape: (h) => [h.nLayers, h.dim] },
  { name: 'wq', shape: (h) => [h.nLayers, h.dim, h.dim] },
  { name: 'wk', shape: (h, kvDim) => [h.nLayers, kvDim, h.dim] },
  { name: 'wv', shape: (h, kvDim) => [h.nLayers, kvDim, h.dim] },
  { name: 'wo', shape: (h) => [h.nLayers, h.dim, h.dim] },
  { name: 'rms_ffn', shape: (h) => [h.nLayers, h.dim] },
  { name: 'w1', shape: (h) => [h.nLayers, h.hiddenDim, h.dim] },
  { name: 'w2', shape: (h) => [h.nLayers, h.dim, h.hiddenDim] },
  { name: 'w3', shape: (h) => [h.nLayers, h.hiddenDim, h.dim] },
  { name: 'rms_final', shape: (h) => [h.dim] },
  { name: 'freq_cis_real', shape: (h, _, hs) => [h.seqLen, hs / 2] },
  { name: 'freq_cis_imag', shape: (h, _, hs) => [h.seqLen, hs / 2] },
  { name: 'wcls', shape: (h) => (h.sharedClassifier ? null : [h.vocabSize, h.dim]) },
];

/** llama2.c name of a per-layer (L, ...) weight → GGUF tensor name suffix in blk.N. */
const LAYER_NAMES: Record<string, string> = {
  rms_att: 'attn_norm.weight',
  wq: 'attn_q.weight',
  wk: 'attn_k.weight',
  wv: 'attn_v.weight',
  wo: 'attn_output.weight',
  rms_ffn: 'ffn_norm.weight',
  w1: 'ffn_gate.weight',
  w2: 'ffn_down.weight',
  w3: 'ffn_up.weight',
};
/** llama2.c name of a global weight → GGUF tensor name (the freq_cis tables are not used). */
const GLOBAL_NAMES: Record<string, string> = {
  token_embedding: 'token_embd.weight',
  rms_final: 'output_norm.weight',
  wcls: 'output.weight',
};

/** The export version of an "ak42" file (1: fp32, 2: Q8_0), or null when `head` does not start with it. */
export function llama2cExportVersion(head: Uint8Array): number | null {
  if (head.length < 8) return null;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return v.getUint32(0, true) === LLAMA2C_EXPORT_MAGIC ? v.getInt32(4, true) : null;
}

/** Decodes the 7-int32 header from the first 28 bytes. */
export function decodeLlama2cHeader(head: Uint8Array): Llama2cHeader {
  const v = new DataView(head.buffer, head.byteOffset, LLAMA2C_HEADER_BYTES);
  const i = (k: number) => v.getInt32(4 * k, true);
  const vocab = i(5);
  return {
    dim: i(0), hiddenDim: i(1), nLayers: i(2), nHeads: i(3), nKvHeads: i(4),
    vocabSize: Math.abs(vocab), seqLen: i(6), sharedClassifier: vocab > 0,
  };
}

/** Why this header cannot describe a model (a sentence), or null when it is consistent. */
export function llama2cHeaderProblem(h: Llama2cHeader): string | null {
  const fields = { dim: h.dim, hidden_dim: h.hiddenDim, n_layers: h.nLayers, n_heads: h.nHeads, n_kv_heads: h.nKvHeads, vocab_size: h.vocabSize, seq_len: h.seqLen };
  for (const [k, v] of Object.entries(fields)) if (!(v > 0)) return `${k} is ${v}; it must be positive`;
  if (h.dim % h.nHeads !== 0) return `n_heads ${h.nHeads} does not divide dim ${h.dim}`;
  if (h.nHeads % h.nKvHeads !== 0) return `n_kv_heads ${h.nKvHeads} does not divide n_heads ${h.nHeads}`;
  if ((h.dim / h.nHeads) % 2 !== 0) return `head size ${h.dim / h.nHeads} is odd; RoPE rotates pairs`;
  return null;
}

/** Offsets and sizes of every weight, and the total the file must hold. */
export function llama2cLayout(h: Llama2cHeader): { weights: Map<string, Llama2cWeight>; expectedBytes: number } {
  const headSize = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * headSize;
  const weights = new Map<string, Llama2cWeight>();
  let offset = LLAMA2C_HEADER_BYTES;
  for (const { name, shape } of LAYOUT) {
    const s = shape(h, kvDim, headSize);
    if (!s) continue;
    const bytes = s.reduce((a, b) => a * b, 1) * 4;
    weights.set(name, { name, shape: s, offset, bytes });
    offset += bytes;
  }
  return { weights, expectedBytes: offset };
}

/** Sanity bounds used only to guess the format of an unnamed file (parseLlama2c itself checks consistency and size). */
const SNIFF_MAX = { dim: 1 << 16, hiddenDim: 1 << 18, nLayers: 1 << 10, vocabSize: 1 << 21, seqLen: 1 << 21 };

/** Why `head` (the first bytes of a `size`-byte file) is not a llama2.c v0 checkpoint, or null if it looks like one. */
export function whyNotLlama2c(head: Uint8Array, size: number): string | null {
  if (head.length < LLAMA2C_HEADER_BYTES) return `shorter than the ${LLAMA2C_HEADER_BYTES}-byte header`;
  const h = decodeLlama2cHeader(head);
  const problem = llama2cHeaderProblem(h);
  if (problem) return `header ${problem}`;
  for (const [k, max] of Object.entries(SNIFF_MAX)) {
    if (h[k as keyof typeof SNIFF_MAX] > max) return `header ${k} ${h[k as keyof typeof SNIFF_MAX]} is implausibly large`;
  }
  const { expectedBytes } = llama2cLayout(h);
  if (size < expectedBytes) return `header (dim ${h.dim}, ${h.nLayers} layers, vocab ${h.vocabSize}) needs ${expectedBytes} bytes, the file has ${size}`;
  return null;
}

export function looksLikeLlama2c(head: Uint8Array, size: number): boolean {
  return whyNotLlama2c(head, size) === null;
}

// ---------------------------------------------------------------------------------------------------
// parseLlama2c

export async function parseLlama2c(src: ByteSource, signal?: AbortSignal): Promise<Llama2cFile> {
  const head = await readAt(src, 0, Math.min(src.size, LLAMA2C_HEADER_BYTES), 'llama2.c header', signal);
  const version = llama2cExportVersion(head);
  if (version !== null) {
    throw new IfpruneError(
      'unsupported',
      `${src.name} is a llama2.c version ${version} export ("ak42" header${version === 2 ? ', Q8_0 weights' : ''}); ` +
        `ifprune reads the legacy version 0 layout: re-export with llama2.c's export.py --version 0, or convert the model to GGUF`,
    );
  }
  if (head.length < LLAMA2C_HEADER_BYTES) {
    throw new IfpruneError('truncated', `${src.name} has ${src.size} bytes; a llama2.c checkpoint starts with a ${LLAMA2C_HEADER_BYTES}-byte header`);
  }
  const header = decodeLlama2cHeader(head);
  const problem = llama2cHeaderProblem(header);
  if (problem) throw new IfpruneError('corrupt', `${src.name} is not a valid llama2.c checkpoint: ${problem}`);
  const { weights, expectedBytes } = llama2cLayout(header);
  if (src.size < expectedBytes) {
    throw new IfpruneError(
      'truncated',
      `${src.name} has ${src.size} bytes, but its llama2.c header (dim ${header.dim}, hidden_dim ${header.hiddenDim}, ` +
        `${header.nLayers} layers, vocab ${header.vocabSize}${header.sharedClassifier ? '' : ' + classifier'}, seq_len ${header.seqLen}) ` +
        `needs ${expectedBytes} bytes (${expectedBytes - src.size} missing); the file is incomplete`,
    );
  }
  return { header, weights, expectedBytes };
}

// ---------------------------------------------------------------------------------------------------
// llama2cToModelSpec

/** Maps the checkpoint to GGUF tensor names; every tensor is F32 and referenced in place. */
export function llama2cToModelSpec(file: Llama2cFile, src: ByteSource): ModelSpec {
  const h = file.header;
  const tensors = new Map<string, TensorRef>();
  const add = (name: string, shape: number[], offset: number) => {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    tensors.set(name, { name, type: QUANT.F32, dims: [...shape].reverse(), offset, bytes });
  };
  for (const w of file.weights.values()) {
    const global = GLOBAL_NAMES[w.name];
    if (global) add(global, w.shape, w.offset);
    const suffix = LAYER_NAMES[w.name];
    if (!suffix) continue;
    const [, ...perLayer] = w.shape; // (L, ...) → one (...) slice per layer
    const layerBytes = w.bytes / h.nLayers;
    for (let l = 0; l < h.nLayers; l++) add(`blk.${l}.${suffix}`, perLayer, w.offset + l * layerBytes);
  }
  const headSize = h.dim / h.nHeads;
  const spec: ModelSpec = {
    format: 'llama2c',
    source: src,
    config: {
      dim: h.dim,
      hiddenDim: h.hiddenDim,
      nLayers: h.nLayers,
      nHeads: h.nHeads,
      nKvHeads: h.nKvHeads,
      headSize,
      vocabSize: h.vocabSize,
      seqLen: h.seqLen,
      normEps: 1e-5, // run.c rmsnorm
      ropeBase: 10000,
      ropeDim: headSize,
      ropeStyle: 'adjacent',
      tiedEmbeddings: h.sharedClassifier,
      qkvBias: false,
    },
    tensors,
    metadata: { ...h },
  };
  checkModelSpec(spec);
  return spec;
}
