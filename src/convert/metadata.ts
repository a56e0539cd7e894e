/**
 * The standard GGUF metadata of a converted model: general.*, <arch>.* hyperparameters (llama.cpp's
 * LLM_KV names) and tokenizer.ggml.* from the model's TokenizerData. The ifprune.* keys are added by
 * convert.ts.
 */
import { IfpruneError } from '../errors.ts';
import type { ModelConfig } from '../formats/model-spec.ts';
import { GGUFValueType as T, type GGUFArray } from '../formats/gguf.ts';
import { inferArrayType, type GGUFKVInput } from '../formats/gguf-write.ts';
import type { TokenizerData } from '../tokenizer/types.ts';

/** llama.h LLAMA_FTYPE for general.file_type. */
export const FILE_TYPE = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 } as const;

/** <arch>.* hyperparameters, as llama.cpp's convert_hf_to_gguf writes them. */
export function hyperparameterKeys(arch: string, c: ModelConfig): GGUFKVInput[] {
  return [
    { key: `${arch}.context_length`, type: T.UINT32, value: c.seqLen },
    { key: `${arch}.embedding_length`, type: T.UINT32, value: c.dim },
    { key: `${arch}.block_count`, type: T.UINT32, value: c.nLayers },
    { key: `${arch}.feed_forward_length`, type: T.UINT32, value: c.hiddenDim },
    { key: `${arch}.attention.head_count`, type: T.UINT32, value: c.nHeads },
    { key: `${arch}.attention.head_count_kv`, type: T.UINT32, value: c.nKvHeads },
    { key: `${arch}.rope.freq_base`, type: T.FLOAT32, value: c.ropeBase },
    { key: `${arch}.rope.dimension_count`, type: T.UINT32, value: c.ropeDim },
    { key: `${arch}.attention.layer_norm_rms_epsilon`, type: T.FLOAT32, value: c.normEps },
  ];
}

/** The Jinja chat template (llama.cpp's LLM_KV_TOKENIZER_CHAT_TEMPLATE), as transformers' tokenizer_config.json chat_template. */
export const CHAT_TEMPLATE_KEY = 'tokenizer.chat_template';

/** Keys tokenizerKeys writes from TokenizerData; other tokenizer.* keys of a GGUF source are copied. */
const TOKENIZER_DATA_KEYS = new Set([
  'tokenizer.ggml.model', 'tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type', 'tokenizer.ggml.merges',
  'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.unknown_token_id',
  'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_space_prefix',
]);

/** tokenizer.ggml.* for a TokenizerData (what gguf.ts ggufTokenizer reads back). */
export function tokenizerKeys(tok: TokenizerData, vocabSize: number): GGUFKVInput[] {
  if (tok.tokens.length > vocabSize) {
    throw new IfpruneError('bad_option', `the tokenizer has ${tok.tokens.length} tokens but the model's embedding has ${vocabSize} rows: is it this model's tokenizer?`);
  }
  const kv: GGUFKVInput[] = [
    { key: 'tokenizer.ggml.model', type: T.STRING, value: tok.model },
    { key: 'tokenizer.ggml.tokens', type: { type: T.ARRAY, itemType: T.STRING }, value: tok.tokens },
  ];
  if (tok.scores) kv.push({ key: 'tokenizer.ggml.scores', type: { type: T.ARRAY, itemType: T.FLOAT32 }, value: Float32Array.from(tok.scores) });
  if (tok.tokenTypes) kv.push({ key: 'tokenizer.ggml.token_type', type: { type: T.ARRAY, itemType: T.INT32 }, value: Int32Array.from(tok.tokenTypes) });
  if (tok.merges) kv.push({ key: 'tokenizer.ggml.merges', type: { type: T.ARRAY, itemType: T.STRING }, value: tok.merges });
  const id = (key: string, v: number | undefined) => {
    if (v !== undefined && v >= 0) kv.push({ key, type: T.UINT32, value: v });
  };
  id('tokenizer.ggml.bos_token_id', tok.bosId);
  id('tokenizer.ggml.eos_token_id', tok.eosId);
  id('tokenizer.ggml.unknown_token_id', tok.unkId);
  kv.push({ key: 'tokenizer.ggml.add_bos_token', type: T.BOOL, value: tok.addBos });
  if (tok.addSpacePrefix !== undefined) kv.push({ key: 'tokenizer.ggml.add_space_prefix', type: T.BOOL, value: tok.addSpacePrefix });
  return kv;
}

/**
 * Other tokenizer.* keys of a GGUF source (chat template, pre-tokenizer name, padding id, ...), with a
 * type inferred from the value: the reader's types are not in ModelSpec.metadata.
 */
export function extraTokenizerKeys(metadata: Record<string, unknown>): GGUFKVInput[] {
  const kv: GGUFKVInput[] = [];
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.startsWith('tokenizer.') || TOKENIZER_DATA_KEYS.has(key)) continue;
    const entry = inferKV(key, value);
    if (entry) kv.push(entry);
  }
  return kv;
}

/** general.* keys of a GGUF source worth keeping (name, license, ...), minus what convert sets itself. */
export function extraGeneralKeys(metadata: Record<string, unknown>): GGUFKVInput[] {
  const own = new Set(['general.architecture', 'general.alignment', 'general.file_type', 'general.quantization_version', 'general.name']);
  const kv: GGUFKVInput[] = [];
  for (const [key, value] of Object.entries(metadata)) {
    if (!key.startsWith('general.') || own.has(key)) continue;
    const entry = inferKV(key, value);
    if (entry) kv.push(entry);
  }
  return kv;
}

function inferKV(key: string, value: unknown): GGUFKVInput | null {
  if (typeof value === 'string') return { key, type: T.STRING, value };
  if (typeof value === 'boolean') return { key, type: T.BOOL, value };
  if (typeof value === 'bigint') return { key, type: value < 0n ? T.INT64 : T.UINT64, value };
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 0xffffffff) return { key, type: T.UINT32, value };
    if (Number.isInteger(value) && value >= -0x80000000 && value < 0) return { key, type: T.INT32, value };
    return { key, type: T.FLOAT32, value };
  }
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    if ((value as ArrayLike<unknown>).length === 0) return null; // item type unknowable; nothing lost
    try {
      return { key, type: inferArrayType(value as GGUFArray, key), value: value as GGUFArray };
    } catch {
      return null;
    }
  }
  return null;
}
