// The format-independent description of a Llama-family model that the runtime consumes: every format
// reader (gguf.ts, llama2c.ts) maps its file to a ModelSpec. Mirrors src/formats/model-spec.ts.
//
// Tensor names are GGUF's (token_embd.weight, blk.N.attn_q.weight, ..., output.weight). A 2-D weight is
// (rows, cols) row-major with rows = outputs and cols = inputs (GGUF dims [cols, rows], ne0 = cols).
import { JsonWriter } from './json';

export class ModelConfig {
  dim: i32 = 0; // embedding width (llama.embedding_length)
  hiddenDim: i32 = 0; // FFN width n_ff (llama.feed_forward_length)
  nLayers: i32 = 0;
  nHeads: i32 = 0;
  nKvHeads: i32 = 0;
  headSize: i32 = 0; // dim / nHeads
  vocabSize: i32 = 0;
  seqLen: i32 = 0; // context length
  normEps: f32 = 1e-5; // RMSNorm epsilon
  ropeBase: f32 = 10000; // rope.freq_base
  ropeDim: i32 = 0; // rotated dims per head (= headSize by default)
  /** false: adjacent pairs (2i, 2i+1) as llama2.c / GGUF llama; true: neox (i, i + ropeDim/2), Qwen2. */
  ropeNeox: bool = false;
  /** The classifier shares the token embedding (no output.weight). */
  tiedEmbeddings: bool = false;
  /** Attention has q/k/v biases (Qwen2). */
  qkvBias: bool = false;

  /** Writes this config as the JSON object `key` (the fields of src/formats/model-spec.ts ModelConfig). */
  writeJson(w: JsonWriter, key: string): void {
    w.begin(key);
    w.num('dim', this.dim);
    w.num('hiddenDim', this.hiddenDim);
    w.num('nLayers', this.nLayers);
    w.num('nHeads', this.nHeads);
    w.num('nKvHeads', this.nKvHeads);
    w.num('headSize', this.headSize);
    w.num('vocabSize', this.vocabSize);
    w.num('seqLen', this.seqLen);
    w.num('normEps', <f64>this.normEps);
    w.num('ropeBase', <f64>this.ropeBase);
    w.num('ropeDim', this.ropeDim);
    w.str('ropeStyle', this.ropeNeox ? 'neox' : 'adjacent');
    w.bool('tiedEmbeddings', this.tiedEmbeddings);
    w.bool('qkvBias', this.qkvBias);
    w.end();
  }
}

export class TensorInfo {
  name: string = '';
  /** GGML type id (assembly/rt/quant.ts). */
  type: i32 = 0;
  /** GGUF order: dims[0] is the innermost (cols). */
  dims: Array<i64> = [];
  /** Absolute byte offset in the model file. */
  offset: u64 = 0;
  bytes: u64 = 0;

  elements(): i64 {
    let n: i64 = 1;
    for (let i = 0; i < this.dims.length; i++) n *= this.dims[i];
    return n;
  }
}

/** What a tokenizer needs, from a GGUF tokenizer.ggml.* section or a llama2.c tokenizer.bin
 * (mirrors src/tokenizer/types.ts). */
export class TokenizerData {
  /** 'llama': SentencePiece BPE merged by score with byte fallback; 'gpt2': byte-level BPE by rank. */
  model: string = 'llama';
  /** Piece text per id (llama: "▁" for a space, "<0xNN>" byte pieces; gpt2: byte-to-unicode form). */
  tokens: Array<string> = [];
  /** llama: merge priority per id (higher merges first); empty when absent. */
  scores: Array<f32> = [];
  /** GGUF token types per id: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; empty when absent. */
  tokenTypes: Array<i32> = [];
  /** gpt2: merges "left right" in rank order. */
  merges: Array<string> = [];
  bosId: i32 = 1;
  eosId: i32 = 2;
  unkId: i32 = -1;
  addBos: bool = true;
  /** llama: prepend a space before encoding (SentencePiece add_dummy_prefix). */
  addSpacePrefix: bool = true;
}

/** One GGUF metadata value, kept for inspect and for the ifprune keys. */
export class MetaValue {
  /** GGUF value type id (0 u8 … 12 f64; 9 = array). */
  type: i32 = 0;
  /** For arrays: the element type. */
  arrayType: i32 = 0;
  /** Scalars: the number (integers exactly up to 2^53). */
  num: f64 = 0;
  /** Scalars that are 64-bit integers, exactly. */
  int: i64 = 0;
  str: string = '';
  /** Arrays: element count, and the elements when numeric (nums, each the nearest f64) or strings (strs). */
  count: i64 = 0;
  nums: Array<f64> = [];
  strs: Array<string> = [];
  /** UINT64 / INT64 arrays: the elements exactly (UINT64 as their bits in an i64, as `int`); empty for
   * other types. Chunk hashes (ifprune.chunk_hashes.*) and inspect's 64-bit items read these. */
  ints: Array<i64> = [];
}

export class ModelSpec {
  /** 'gguf' or 'llama2c'. */
  format: string = '';
  config: ModelConfig = new ModelConfig();
  tensors: Map<string, TensorInfo> = new Map();
  /** Tensors in file order (for inspect and planning). */
  tensorList: Array<TensorInfo> = [];
  /** null for llama2.c checkpoints (they need a tokenizer.bin). */
  tokenizer: TokenizerData | null = null;
  /** GGUF key/values in file order (llama2.c: its header fields). */
  metaKeys: Array<string> = [];
  meta: Map<string, MetaValue> = new Map();
  /** GGUF version, alignment and the offset of the tensor data section (0 for llama2.c). */
  version: i32 = 0;
  alignment: i32 = 32;
  dataOffset: u64 = 0;
  /** Bytes of header the parser consumed (the tensor table ends here). */
  headerBytes: u64 = 0;
}

// ---- ifprune files (docs/format.md; filled by ifprune.ts from the ifprune.* metadata) ---------------

/** XXH64 hashes of fixed-size chunks of one tensor. */
export class TensorChunks {
  tensor: string = '';
  /** Absolute offset of the tensor in the file, and its bytes. */
  offset: u64 = 0;
  bytes: u64 = 0;
  chunkBytes: u32 = 0;
  /** One XXH64 per chunk. */
  hashes: Array<u64> = [];
}

/** Layer `layer`'s neuron bundles: rows of [gate_j | up_j | down_j]. */
export class BundleInfo {
  layer: i32 = 0;
  name: string = '';
  /** GGML type id of the rows. */
  type: i32 = 0;
  dim: i32 = 0;
  /** Rows = neurons. */
  nFF: i32 = 0;
  /** Bytes of one neuron's bundle (3 × partBytes). */
  rowBytes: i32 = 0;
  partBytes: i32 = 0;
  /** Absolute offset of row 0 in the file. */
  offset: u64 = 0;
  bytes: u64 = 0;
}

/** The learned predictor's description (ifprune.pred.* keys; docs/format.md). */
export class PredictorInfo {
  kind: string = '';
  tokenDim: i32 = 0;
  hidden: i32 = 0;
  window: i32 = 0;
  /** Entries of the score codebook (kind deepsets-mlp-codebook); 0: none. */
  codebook: i32 = 0;
  /** ifprune.pred.codebook_route: the nearest entry c gives entry route[c]'s scores; empty: c's own. */
  route: Array<i32> = [];
}

export class IfpruneInfo {
  versionMajor: i32 = 0;
  versionMinor: i32 = 0;
  /** 'bundled' or 'standard'. */
  layout: string = '';
  /** 'f32', 'f16', 'q8_0', 'q4_0'. */
  type: string = '';
  converter: string = '';
  /** Per tensor, by GGUF name. */
  chunks: Map<string, TensorChunks> = new Map();
  /** Bundled layout: one per layer, in layer order; standard: empty. */
  bundles: Array<BundleInfo> = [];
  /** Per layer: row r holds source neuron perms[l][r]; empty arrays when not reordered. */
  perms: Array<Array<u32>> = [];
  /** Calibration carried by the file: the predictor (null when none), always-on neurons per layer
   * (empty when none; sorted), and whether the static ranking tensor ifprune.static exists. */
  predictor: PredictorInfo | null = null;
  shared: Array<Array<i32>> = [];
  hasStatic: bool = false;
}
