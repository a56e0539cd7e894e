/**
 * The format-independent description of a Llama-family model that the engine consumes: every format
 * reader (gguf.ts, llama2c.ts, safetensors.ts) maps its file to this.
 *
 * Tensor names are GGUF's (token_embd.weight, blk.N.attn_q.weight, ..., output.weight). A 2-D weight is
 * (rows, cols) row-major with rows = outputs and cols = inputs (GGUF dims [cols, rows], ne0 = cols).
 */
import type { ByteSource } from '../sources/types.ts';
import type { QuantType } from './quant.ts';
import type { TokenizerData } from '../tokenizer/types.ts';

export interface ModelConfig {
  dim: number; // embedding width (llama.embedding_length)
  hiddenDim: number; // FFN width n_ff (llama.feed_forward_length)
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headSize: number; // dim / nHeads
  vocabSize: number;
  seqLen: number; // context length
  normEps: number; // RMSNorm epsilon
  ropeBase: number; // rope.freq_base (10000 default)
  ropeDim: number; // rotated dims per head (rope.dimension_count; = headSize by default)
  /** adjacent pairs (2i, 2i+1) as llama2.c / GGUF llama; neox: (i, i + ropeDim/2) as HF / Qwen2. */
  ropeStyle: 'adjacent' | 'neox';
  /** Whether the classifier shares the token embedding (no separate output.weight). */
  tiedEmbeddings: boolean;
  /** Whether attention has q/k/v biases (Qwen2). */
  qkvBias: boolean;
}

export interface TensorRef {
  name: string; // GGUF name
  type: QuantType;
  /** GGUF order: dims[0] is the innermost (cols). */
  dims: number[];
  /** Absolute byte offset in the source. */
  offset: number;
  bytes: number;
}

export interface ModelSpec {
  format: 'gguf' | 'llama2c' | 'safetensors';
  source: ByteSource;
  config: ModelConfig;
  tensors: Map<string, TensorRef>;
  /** Present when the file carries one (GGUF); llama2.c needs a separate tokenizer.bin. */
  tokenizer?: TokenizerData;
  /** Raw metadata for inspect (GGUF key/values, llama2.c header fields, safetensors config.json). */
  metadata: Record<string, unknown>;
}
