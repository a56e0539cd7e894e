/**
 * Builders of tiny model files for the format tests (gguf, llama2c, safetensors, model), written out
 * by hand from each format's layout so the parsers are checked against an independent encoding.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { rng, randomF32 } from './helpers.ts';

export const STORIES_DIR = fileURLToPath(new URL('../models/stories260K/', import.meta.url));
export const STORIES_BIN = STORIES_DIR + 'stories260K.bin';
export const STORIES_GGUF = STORIES_DIR + 'stories260K.gguf';
export const readStories = (file: string): Uint8Array => new Uint8Array(readFileSync(file));

export interface TinyConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
}

/** dim 32 so that every row is a whole Q8_0 / Q4_0 block. */
export const TINY: TinyConfig = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 40, seqLen: 16 };

export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), (o += p.length);
  return out;
}

export interface TinyTensor {
  name: string; // GGUF name
  dims: number[]; // GGUF order, ne0 first
  data: Float32Array;
}

/** The tensors of a tiny Llama under GGUF names, seeded random F32. */
export function tinyTensors(c: TinyConfig, opts: { tied?: boolean; bias?: boolean } = {}, seed = 1): TinyTensor[] {
  const r = rng(seed);
  const kvDim = (c.dim / c.nHeads) * c.nKvHeads;
  const out: TinyTensor[] = [];
  const t = (name: string, dims: number[]) => out.push({ name, dims, data: randomF32(r, dims.reduce((a, b) => a * b, 1)) });
  t('token_embd.weight', [c.dim, c.vocabSize]);
  for (let l = 0; l < c.nLayers; l++) {
    t(`blk.${l}.attn_norm.weight`, [c.dim]);
    t(`blk.${l}.attn_q.weight`, [c.dim, c.dim]);
    t(`blk.${l}.attn_k.weight`, [c.dim, kvDim]);
    t(`blk.${l}.attn_v.weight`, [c.dim, kvDim]);
    if (opts.bias) {
      t(`blk.${l}.attn_q.bias`, [c.dim]);
      t(`blk.${l}.attn_k.bias`, [kvDim]);
      t(`blk.${l}.attn_v.bias`, [kvDim]);
    }
    t(`blk.${l}.attn_output.weight`, [c.dim, c.dim]);
    t(`blk.${l}.ffn_norm.weight`, [c.dim]);
    t(`blk.${l}.ffn_gate.weight`, [c.dim, c.hiddenDim]);
    t(`blk.${l}.ffn_down.weight`, [c.hiddenDim, c.dim]);
    t(`blk.${l}.ffn_up.weight`, [c.dim, c.hiddenDim]);
  }
  t('output_norm.weight', [c.dim]);
  if (!opts.tied) t('output.weight', [c.dim, c.vocabSize]);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// llama2.c v0

/** Number of float32 weights a llama2.c v0 checkpoint holds, summed from run.c's memory_map_weights. */
export function llama2cFloatCount(c: TinyConfig, shared: boolean): number {
  const headSize = c.dim / c.nHeads;
  const kvDim = headSize * c.nKvHeads;
  const L = c.nLayers;
  return (
    c.vocabSize * c.dim + // token_embedding
    L * c.dim + // rms_att
    L * c.dim * c.dim * 2 + // wq, wo
    L * kvDim * c.dim * 2 + // wk, wv
    L * c.dim + // rms_ffn
    L * c.hiddenDim * c.dim * 3 + // w1, w2, w3
    c.dim + // rms_final
    c.seqLen * headSize + // freq_cis_real + freq_cis_imag, (seq_len, head_size / 2) each
    (shared ? 0 : c.vocabSize * c.dim) // wcls
  );
}

/** A llama2.c v0 checkpoint whose i-th float is fill(i) (default: i itself, exact below 2^24). */
export function llama2cBytes(c: TinyConfig, shared: boolean, fill: (i: number) => number = (i) => i): Uint8Array {
  const header = new Int32Array([c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, shared ? c.vocabSize : -c.vocabSize, c.seqLen]);
  const w = Float32Array.from({ length: llama2cFloatCount(c, shared) }, (_, i) => fill(i));
  return concat([bytesOf(header), bytesOf(w)]);
}

// ---------------------------------------------------------------------------------------------------
// safetensors

export interface STEntry {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** A safetensors file: uint64 header length, JSON header (space-padded to 8 bytes), data in entry order. */
export function safetensorsBytes(entries: STEntry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let o = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [o, o + e.data.length] };
    o += e.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(text.length), true);
  return concat([len, text, ...entries.map((e) => e.data)]);
}

/** GGUF name → Hugging Face Llama name, written out independently of src/formats/safetensors.ts. */
export function hfName(gguf: string): string {
  const global: Record<string, string> = { 'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight' };
  if (global[gguf]) return global[gguf]!;
  const [, l, rest] = /^blk\.(\d+)\.(.+)$/.exec(gguf)!;
  const layer: Record<string, string> = {
    'attn_norm.weight': 'input_layernorm.weight',
    'attn_q.weight': 'self_attn.q_proj.weight',
    'attn_k.weight': 'self_attn.k_proj.weight',
    'attn_v.weight': 'self_attn.v_proj.weight',
    'attn_q.bias': 'self_attn.q_proj.bias',
    'attn_k.bias': 'self_attn.k_proj.bias',
    'attn_v.bias': 'self_attn.v_proj.bias',
    'attn_output.weight': 'self_attn.o_proj.weight',
    'ffn_norm.weight': 'post_attention_layernorm.weight',
    'ffn_gate.weight': 'mlp.gate_proj.weight',
    'ffn_up.weight': 'mlp.up_proj.weight',
    'ffn_down.weight': 'mlp.down_proj.weight',
  };
  return `model.layers.${l}.${layer[rest!]}`;
}

/** float32 → bfloat16 bytes (truncation: the upper half). */
export function toBF16(a: Float32Array): Uint8Array {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  return bytesOf(Uint16Array.from(u, (x) => x >>> 16));
}

/** A tiny HF Llama checkpoint (F32 weights, BF16 norms) and its config.json. */
export function tinySafetensors(c: TinyConfig, opts: { tied?: boolean; bias?: boolean; modelType?: string } = {}) {
  const tensors = tinyTensors(c, opts);
  const entries: STEntry[] = tensors.map((t) => {
    const norm = t.name.endsWith('norm.weight');
    return { name: hfName(t.name), dtype: norm ? 'BF16' : 'F32', shape: [...t.dims].reverse(), data: norm ? toBF16(t.data) : bytesOf(t.data) };
  });
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: opts.modelType ?? 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: 1e-6,
    rope_theta: 500000,
    rope_scaling: null,
    tie_word_embeddings: !!opts.tied,
  };
  return { bytes: safetensorsBytes(entries, { format: 'pt' }), entries, config, tensors };
}
