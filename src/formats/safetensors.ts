/**
 * safetensors (huggingface/safetensors, docs "Format"). Little-endian:
 *
 *   field        type          bytes   notes
 *   header_len   uint64        8       N; at most SAFETENSORS_MAX_HEADER_BYTES here
 *   header       UTF-8 JSON    N       { "__metadata__"?: { string: string },
 *                                         "<name>": { "dtype": "F32" | "F16" | "BF16" | ...,
 *                                                     "shape": [d0, d1, ...],       outermost first (row-major)
 *                                                     "data_offsets": [begin, end] } } ; may end in spaces
 *   data                       ...     tensor <name> is bytes [8 + N + begin, 8 + N + end)
 *
 * Hugging Face Llama checkpoints store each Linear weight as (out, in), i.e. GGUF dims [in, out], and
 * q_proj / k_proj rows in the split-halves ("neox") RoPE order.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { ByteReader, describeSource } from '../sources/read.ts';
import type { ModelConfig, ModelSpec, TensorRef } from './model-spec.ts';
import { QUANT, type QuantType } from './quant.ts';
import { checkModelSpec } from './spec-check.ts';

/** Headers beyond this are refused before they are read (the reference implementation's limit). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** safetensors dtype → tensor type; other dtypes (F64, I64, I8, BOOL, F8_E4M3, ...) are refused. */
export const SAFETENSORS_DTYPES: Record<string, QuantType> = { F32: QUANT.F32, F16: QUANT.F16, BF16: QUANT.BF16 };

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  type: QuantType;
  /** Outermost first, as in the header. */
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  bytes: number;
}

export interface SafetensorsFile {
  /** Byte offset of the data section (8 + N). */
  dataOffset: number;
  /** In header order. */
  tensors: Map<string, SafetensorsTensor>;
  /** The "__metadata__" strings, if any. */
  metadata: Record<string, string>;
}

/** Why `head` (the first bytes of a `size`-byte file) is not safetensors, or null if it looks like it. */
export function whyNotSafetensors(head: Uint8Array, size: number): string | null {
  if (head.length < 9) return 'shorter than the 8-byte header length and a JSON header';
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n || n > BigInt(Math.min(SAFETENSORS_MAX_HEADER_BYTES, size - 8))) return `header length ${n} does not fit the file`;
  if (head[8] !== 0x7b) return 'the JSON header does not start with "{"';
  return null;
}

export function looksLikeSafetensors(head: Uint8Array, size: number): boolean {
  return whyNotSafetensors(head, size) === null;
}

// ---------------------------------------------------------------------------------------------------
// parseSafetensors

export async function parseSafetensors(src: ByteSource, signal?: AbortSignal): Promise<SafetensorsFile> {
  const r = new ByteReader(src, 0, signal);
  r.context = 'safetensors header';
  const headerLen = await r.u64('header length');
  if (headerLen > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new IfpruneError('corrupt', `${src.name}: safetensors header length ${headerLen} exceeds ${SAFETENSORS_MAX_HEADER_BYTES} bytes; is this a safetensors file?`);
  }
  const text = await r.utf8(headerLen, 'JSON header');
  const dataOffset = r.pos;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new IfpruneError('corrupt', `${src.name}: the safetensors header is not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (!isObject(json)) throw new IfpruneError('corrupt', `${src.name}: the safetensors header is not a JSON object`);

  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isObject(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw new IfpruneError('corrupt', `${src.name}: safetensors __metadata__ must map strings to strings`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    tensors.set(name, readEntry(src, name, entry, dataOffset));
  }

  const byOffset = [...tensors.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const p = byOffset[i - 1]!;
    const t = byOffset[i]!;
    if (p.offset + p.bytes > t.offset) throw new IfpruneError('corrupt', `${src.name}: safetensors tensors "${p.name}" and "${t.name}" overlap`);
  }
  return { dataOffset, tensors, metadata };
}

function readEntry(src: ByteSource, name: string, entry: unknown, dataOffset: number): SafetensorsTensor {
  const bad = (msg: string) => new IfpruneError('corrupt', `${src.name}: safetensors tensor ${JSON.stringify(name)}: ${msg}`);
  if (!isObject(entry)) throw bad('entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') throw bad('dtype is missing');
  const type = SAFETENSORS_DTYPES[dtype];
  if (!type) {
    throw new IfpruneError(
      'unsupported',
      `${src.name}: safetensors tensor ${JSON.stringify(name)} has dtype ${dtype}; ifprune reads ${Object.keys(SAFETENSORS_DTYPES).join(', ')} ` +
        `(save the model in float16/bfloat16, e.g. model.to(torch.bfloat16).save_pretrained(...))`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`);
  }
  const elements = shape.reduce((a: number, b: number) => a * b, 1);
  const bytes = offsets[1] - offsets[0];
  if (!Number.isSafeInteger(elements) || bytes !== elements * type.blockBytes) {
    throw bad(`data_offsets span ${bytes} bytes, but ${dtype} [${shape}] needs ${elements * type.blockBytes}`);
  }
  const offset = dataOffset + offsets[0];
  if (offset + bytes > src.size) {
    throw new IfpruneError(
      'truncated',
      `safetensors tensor ${JSON.stringify(name)} (${bytes} bytes at byte ${offset}) runs past the end of ${describeSource(src)}; the download is probably incomplete`,
    );
  }
  return { name, dtype, type, shape: shape as number[], offset, bytes };
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

// ---------------------------------------------------------------------------------------------------
// safetensorsToModelSpec

/** Hugging Face Llama tensor names → GGUF names: the per-layer part of model.layers.N.<name> → blk.N.<gguf>. */
const HF_LAYER_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const HF_GLOBAL_NAMES: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};
const HF_MODEL_TYPES = ['llama', 'qwen2'];

/** The GGUF name of a Hugging Face tensor name, or null for tensors the forward pass does not use. */
export function hfToGGUFName(name: string): string | null {
  const global = HF_GLOBAL_NAMES[name];
  if (global) return global;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const suffix = m && HF_LAYER_NAMES[m[2]!];
  return suffix ? `blk.${Number(m![1])}.${suffix}` : null;
}

/**
 * Maps a Hugging Face Llama-family checkpoint (one .safetensors file) and its config.json to a ModelSpec.
 * Tensors are referenced in place; GGUF dims are the safetensors shape reversed.
 */
export function safetensorsToModelSpec(file: SafetensorsFile, src: ByteSource, configJson: object): ModelSpec {
  const cfg = configJson as Record<string, unknown>;
  const where = `${src.name} (config.json)`;
  const modelType = cfg.model_type;
  if (modelType !== undefined && !HF_MODEL_TYPES.includes(modelType as string)) {
    throw new IfpruneError('unsupported', `${where}: model_type "${String(modelType)}" is not supported; ifprune runs ${HF_MODEL_TYPES.join(' and ')} checkpoints`);
  }
  if (cfg.rope_scaling != null) {
    throw new IfpruneError('unsupported', `${where}: rope_scaling ${JSON.stringify(cfg.rope_scaling)} is not supported yet`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = cfg[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new IfpruneError('corrupt', `${where}: key ${key} is missing`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new IfpruneError('corrupt', `${where}: ${key} should be a number; found ${JSON.stringify(v)}`);
    return v;
  };

  const tensors = new Map<string, TensorRef>();
  const hfName = new Map<string, string>();
  for (const t of file.tensors.values()) {
    const name = hfToGGUFName(t.name);
    if (!name) continue;
    tensors.set(name, { name, type: t.type, dims: [...t.shape].reverse(), offset: t.offset, bytes: t.bytes });
    hfName.set(name, t.name);
  }
  const tied = cfg.tie_word_embeddings === true || !tensors.has('output.weight');
  if (tied) tensors.delete('output.weight');

  const dim = num('hidden_size');
  const nHeads = num('num_attention_heads');
  const headSize = dim / nHeads;
  if (cfg.head_dim != null && cfg.head_dim !== headSize) {
    throw new IfpruneError('unsupported', `${where}: head_dim ${String(cfg.head_dim)} differs from hidden_size / num_attention_heads = ${headSize}; not supported`);
  }
  const embd = file.tensors.get('model.embed_tokens.weight');
  const vocabSize = num('vocab_size', embd?.shape[0]);
  if (embd && embd.shape[0] !== vocabSize) {
    throw new IfpruneError('corrupt', `${where}: vocab_size ${vocabSize} differs from model.embed_tokens.weight's ${embd.shape[0]} rows`);
  }
  const config: ModelConfig = {
    dim,
    hiddenDim: num('intermediate_size'),
    nLayers: num('num_hidden_layers'),
    nHeads,
    nKvHeads: num('num_key_value_heads', nHeads),
    headSize,
    vocabSize,
    seqLen: num('max_position_embeddings', 2048), // defaults as transformers' LlamaConfig
    normEps: num('rms_norm_eps', 1e-6),
    ropeBase: num('rope_theta', 10000),
    ropeDim: headSize,
    ropeStyle: 'neox',
    tiedEmbeddings: tied,
    qkvBias: tensors.has('blk.0.attn_q.bias'),
  };
  const spec: ModelSpec = { format: 'safetensors', source: src, config, tensors, metadata: { ...cfg } };
  checkModelSpec(spec, (name) => hfName.get(name) ?? hfNameOf(name));
  return spec;
}

/** The Hugging Face name of a GGUF tensor name, for messages about tensors that are missing. */
function hfNameOf(ggufName: string): string {
  for (const [hf, g] of Object.entries(HF_GLOBAL_NAMES)) if (g === ggufName) return hf;
  const m = /^blk\.(\d+)\.(.+)$/.exec(ggufName);
  const hf = m && Object.entries(HF_LAYER_NAMES).find(([, g]) => g === m[2]);
  return hf ? `model.layers.${m![1]}.${hf[0]}` : ggufName;
}
