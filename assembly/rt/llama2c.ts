// llama2.c legacy checkpoint, "version 0" (run.c read_checkpoint / memory_map_weights; export.py
// legacy_export; TS oracle src/formats/llama2c.ts). A 28-byte header, then float32 weights, all
// little-endian, no padding:
//
//   field            type      shape                      notes
//   dim              int32                                embedding width
//   hidden_dim       int32                                FFN width
//   n_layers         int32
//   n_heads          int32
//   n_kv_heads       int32
//   vocab_size       int32                                negative: a separate classifier wcls follows
//   seq_len          int32
//   token_embedding  float32   (vocab, dim)
//   rms_att          float32   (L, dim)
//   wq               float32   (L, dim, dim)              every matrix is (out, in), row-major
//   wk               float32   (L, kvDim, dim)            kvDim = n_kv_heads * head_size
//   wv               float32   (L, kvDim, dim)
//   wo               float32   (L, dim, dim)
//   rms_ffn          float32   (L, dim)
//   w1               float32   (L, hidden, dim)           gate
//   w2               float32   (L, dim, hidden)           down
//   w3               float32   (L, hidden, dim)           up
//   rms_final        float32   (dim)
//   freq_cis_real    float32   (seq_len, head_size / 2)   unused RoPE tables, kept for the layout
//   freq_cis_imag    float32   (seq_len, head_size / 2)
//   wcls             float32   (vocab, dim)               only when vocab_size < 0
//
// export.py --version 1 (fp32) and --version 2 (Q8_0) files start instead with the uint32 magic
// 0x616b3432 ("ak42") and a version; they are recognised and refused.
import { ModelSpec, TensorInfo, MetaValue } from './spec';
import { fail } from './error';
import { GGML_F32 } from './quant';
import { ConfigValues, checkModelSpec } from './spec-check';

export const LLAMA2C_HEADER_BYTES: u64 = 7 * 4;
/** export.py's magic for versions >= 1, as the uint32 at byte 0. */
export const LLAMA2C_EXPORT_MAGIC: u32 = 0x616b3432;

/** The 7-int32 header, widened to i64 (|vocab_size| of -2^31 must not wrap). */
export class Llama2cHeader {
  dim: i64 = 0;
  hiddenDim: i64 = 0;
  nLayers: i64 = 0;
  nHeads: i64 = 0;
  nKvHeads: i64 = 0;
  /** |vocab_size| */
  vocabSize: i64 = 0;
  seqLen: i64 = 0;
  /** vocab_size > 0: the classifier is the token embedding. */
  sharedClassifier: bool = false;
}

/** The export version of an "ak42" file (1: fp32, 2: Q8_0); `isExport` says whether it is one. */
export function llama2cIsExport(head: usize, n: usize): bool {
  return n >= 8 && load<u32>(head) == LLAMA2C_EXPORT_MAGIC;
}

/** Decodes the header from the first 28 bytes at `head`. */
export function decodeLlama2cHeader(head: usize): Llama2cHeader {
  const h = new Llama2cHeader();
  h.dim = <i64>load<i32>(head);
  h.hiddenDim = <i64>load<i32>(head, 4);
  h.nLayers = <i64>load<i32>(head, 8);
  h.nHeads = <i64>load<i32>(head, 12);
  h.nKvHeads = <i64>load<i32>(head, 16);
  const vocab = <i64>load<i32>(head, 20);
  h.vocabSize = vocab < 0 ? -vocab : vocab;
  h.seqLen = <i64>load<i32>(head, 24);
  h.sharedClassifier = vocab > 0;
  return h;
}

/** Why this header cannot describe a model (a sentence), or '' when it is consistent. */
export function llama2cHeaderProblem(h: Llama2cHeader): string {
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  const values = [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen];
  for (let i = 0; i < names.length; i++) if (!(values[i] > 0)) return names[i] + ' is ' + values[i].toString() + '; it must be positive';
  if (h.dim % h.nHeads != 0) return 'n_heads ' + h.nHeads.toString() + ' does not divide dim ' + h.dim.toString();
  if (h.nHeads % h.nKvHeads != 0) return 'n_kv_heads ' + h.nKvHeads.toString() + ' does not divide n_heads ' + h.nHeads.toString();
  if ((h.dim / h.nHeads) % 2 != 0) return 'head size ' + (h.dim / h.nHeads).toString() + ' is odd; RoPE rotates pairs';
  return '';
}

/** One weight of the layout table: llama2.c name, shape outermost first, byte offset and size. */
export class Llama2cWeight {
  constructor(public name: string, public shape: Array<i64>, public offset: u64, public bytes: u64) {}
}

/** Offsets and sizes of every weight, in file order (the table above). The header must be consistent. */
export function llama2cLayout(h: Llama2cHeader): Array<Llama2cWeight> {
  const headSize = h.dim / h.nHeads;
  const kvDim = h.nKvHeads * headSize;
  const L = h.nLayers;
  const shapes: Array<Array<i64>> = [
    [h.vocabSize, h.dim], // token_embedding
    [L, h.dim], // rms_att
    [L, h.dim, h.dim], // wq
    [L, kvDim, h.dim], // wk
    [L, kvDim, h.dim], // wv
    [L, h.dim, h.dim], // wo
    [L, h.dim], // rms_ffn
    [L, h.hiddenDim, h.dim], // w1
    [L, h.dim, h.hiddenDim], // w2
    [L, h.hiddenDim, h.dim], // w3
    [h.dim], // rms_final
    [h.seqLen, headSize / 2], // freq_cis_real
    [h.seqLen, headSize / 2], // freq_cis_imag
    [h.vocabSize, h.dim], // wcls, only when not shared
  ];
  const names = ['token_embedding', 'rms_att', 'wq', 'wk', 'wv', 'wo', 'rms_ffn', 'w1', 'w2', 'w3', 'rms_final', 'freq_cis_real', 'freq_cis_imag', 'wcls'];
  const out = new Array<Llama2cWeight>();
  let offset = LLAMA2C_HEADER_BYTES;
  for (let i = 0; i < names.length; i++) {
    if (names[i] == 'wcls' && h.sharedClassifier) continue;
    let bytes: u64 = 4;
    for (let d = 0; d < shapes[i].length; d++) bytes *= <u64>shapes[i][d];
    out.push(new Llama2cWeight(names[i], shapes[i], offset, bytes));
    offset += bytes;
  }
  return out;
}

/** Bytes the file must hold: header plus weights. */
export function llama2cExpectedBytes(weights: Array<Llama2cWeight>): u64 {
  const last = weights[weights.length - 1];
  return last.offset + last.bytes;
}

/** Sanity bounds used only to guess the format of an unnamed file (the parse itself checks consistency and size). */
const SNIFF_MAX_DIM: i64 = 1 << 16;
const SNIFF_MAX_HIDDEN: i64 = 1 << 18;
const SNIFF_MAX_LAYERS: i64 = 1 << 10;
const SNIFF_MAX_VOCAB: i64 = 1 << 21;
const SNIFF_MAX_SEQ: i64 = 1 << 21;

/** Why the first n bytes at head are not a llama2.c v0 checkpoint header, or '' if they look like one
 * (whyNotLlama2c with size Infinity: whether the weights fit is the parse's question). */
export function whyNotLlama2c(head: usize, n: usize): string {
  if (<u64>n < LLAMA2C_HEADER_BYTES) return 'shorter than the ' + LLAMA2C_HEADER_BYTES.toString() + '-byte header';
  const h = decodeLlama2cHeader(head);
  const problem = llama2cHeaderProblem(h);
  if (problem.length > 0) return 'header ' + problem;
  const names = ['dim', 'hiddenDim', 'nLayers', 'vocabSize', 'seqLen'];
  const values = [h.dim, h.hiddenDim, h.nLayers, h.vocabSize, h.seqLen];
  const maxes = [SNIFF_MAX_DIM, SNIFF_MAX_HIDDEN, SNIFF_MAX_LAYERS, SNIFF_MAX_VOCAB, SNIFF_MAX_SEQ];
  for (let i = 0; i < names.length; i++) if (values[i] > maxes[i]) return 'header ' + names[i] + ' ' + values[i].toString() + ' is implausibly large';
  return '';
}

// ---------------------------------------------------------------------------------------------------
// parseLlama2c + llama2cToModelSpec

/** llama2.c name of a per-layer (L, ...) weight → GGUF tensor name suffix in blk.N ('' for none). */
function layerName(w: string): string {
  if (w == 'rms_att') return 'attn_norm.weight';
  if (w == 'wq') return 'attn_q.weight';
  if (w == 'wk') return 'attn_k.weight';
  if (w == 'wv') return 'attn_v.weight';
  if (w == 'wo') return 'attn_output.weight';
  if (w == 'rms_ffn') return 'ffn_norm.weight';
  if (w == 'w1') return 'ffn_gate.weight';
  if (w == 'w2') return 'ffn_down.weight';
  if (w == 'w3') return 'ffn_up.weight';
  return '';
}

/** llama2.c name of a global weight → GGUF tensor name ('' for none: the freq_cis tables are not used). */
function globalName(w: string): string {
  if (w == 'token_embedding') return 'token_embd.weight';
  if (w == 'rms_final') return 'output_norm.weight';
  if (w == 'wcls') return 'output.weight';
  return '';
}

/**
 * Parses the checkpoint whose first n bytes are at head (n ≥ 28 unless it is an export) into a
 * ModelSpec: every tensor F32 under its GGUF name, referenced in place. Fails 'unsupported' (an "ak42"
 * export), 'truncated', 'corrupt'.
 */
export function parseLlama2c(head: usize, n: usize, fileSize: u64, fileName: string): ModelSpec | null {
  if (llama2cIsExport(head, n)) {
    const version = load<i32>(head, 4);
    fail('unsupported', fileName + ' is a llama2.c version ' + version.toString() + ' export ("ak42" header' + (version == 2 ? ', Q8_0 weights' : '') + '); ' +
      "ifprune reads the legacy version 0 layout: re-export with llama2.c's export.py --version 0, or convert the model to GGUF");
    return null;
  }
  if (<u64>n < LLAMA2C_HEADER_BYTES) {
    fail('truncated', fileName + ' has ' + fileSize.toString() + ' bytes; a llama2.c checkpoint starts with a ' + LLAMA2C_HEADER_BYTES.toString() + '-byte header');
    return null;
  }
  const h = decodeLlama2cHeader(head);
  const problem = llama2cHeaderProblem(h);
  if (problem.length > 0) {
    fail('corrupt', fileName + ' is not a valid llama2.c checkpoint: ' + problem);
    return null;
  }
  const weights = llama2cLayout(h);
  const expected = llama2cExpectedBytes(weights);
  if (fileSize < expected) {
    fail('truncated', fileName + ' has ' + fileSize.toString() + ' bytes, but its llama2.c header (dim ' + h.dim.toString() + ', hidden_dim ' + h.hiddenDim.toString() +
      ', ' + h.nLayers.toString() + ' layers, vocab ' + h.vocabSize.toString() + (h.sharedClassifier ? '' : ' + classifier') + ', seq_len ' + h.seqLen.toString() +
      ') needs ' + expected.toString() + ' bytes (' + (expected - fileSize).toString() + ' missing); the file is incomplete');
    return null;
  }

  const spec = new ModelSpec();
  spec.format = 'llama2c';
  spec.headerBytes = LLAMA2C_HEADER_BYTES;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    const global = globalName(w.name);
    if (global.length > 0) addTensor(spec, global, w.shape, w.offset);
    const suffix = layerName(w.name);
    if (suffix.length == 0) continue;
    const perLayer = w.shape.slice(1); // (L, ...) → one (...) slice per layer
    const layerBytes = w.bytes / <u64>h.nLayers;
    for (let l: i64 = 0; l < h.nLayers; l++) addTensor(spec, 'blk.' + l.toString() + '.' + suffix, perLayer, w.offset + <u64>l * layerBytes);
  }
  // metadata: the header fields, as the TS's { ...header }
  const keys = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'seqLen', 'sharedClassifier'];
  const values = [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.vocabSize, h.seqLen, h.sharedClassifier ? 1 : 0];
  for (let i = 0; i < keys.length; i++) {
    const v = new MetaValue();
    v.type = i == 7 ? 7 : 5; // GGUF BOOL, INT32
    v.int = values[i];
    v.num = <f64>values[i];
    spec.metaKeys.push(keys[i]);
    spec.meta.set(keys[i], v);
  }

  const c = new ConfigValues();
  c.dim = <f64>h.dim;
  c.hiddenDim = <f64>h.hiddenDim;
  c.nLayers = <f64>h.nLayers;
  c.nHeads = <f64>h.nHeads;
  c.nKvHeads = <f64>h.nKvHeads;
  c.headSize = <f64>h.dim / <f64>h.nHeads;
  c.vocabSize = <f64>h.vocabSize;
  c.seqLen = <f64>h.seqLen;
  c.normEps = 1e-5; // run.c rmsnorm
  c.ropeBase = 10000;
  c.ropeDim = c.headSize;
  c.tiedEmbeddings = h.sharedClassifier;
  if (!checkModelSpec(spec, c, 'llama2c model ' + fileName)) return null;
  return spec;
}

/** An F32 tensor of llama2.c shape (outermost first) at `offset`, under GGUF dims (ne0 first). */
function addTensor(spec: ModelSpec, name: string, shape: Array<i64>, offset: u64): void {
  const t = new TensorInfo();
  t.name = name;
  t.type = GGML_F32;
  t.dims = shape.slice(0).reverse();
  t.offset = offset;
  let bytes: u64 = 4;
  for (let d = 0; d < shape.length; d++) bytes *= <u64>shape[d];
  t.bytes = bytes;
  spec.tensors.set(name, t);
  spec.tensorList.push(t);
}
