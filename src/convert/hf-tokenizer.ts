/**
 * Hugging Face `tokenizer.json` (the `tokenizers` library's serialisation) → TokenizerData, for
 * converting safetensors checkpoints. Two BPE families are recognised, as llama.cpp's
 * convert_hf_to_gguf.py maps them to tokenizer.ggml.model:
 *
 *   "gpt2"   byte-level BPE (pre_tokenizer / decoder ByteLevel: GPT-2, SmolLM, Llama 3, Qwen2):
 *            tokens by id, merges in rank order ("a b"), added special tokens as control (type 3)
 *   "llama"  SentencePiece-style BPE (model.byte_fallback, "▁" for spaces: Llama 2, TinyLlama, Mistral):
 *            tokens by id, <0xNN> byte pieces (type 6), score = -(rank of the merge that forms the
 *            token), so merging by highest score is merging by lowest rank; tokens no merge forms
 *            score below every merge
 *
 * Not carried over: the pre-tokenizer regex of non-GPT-2 byte-level models (tokenizer.ggml.pre), and
 * normalizers other than the SentencePiece space handling; ifprune's tokenizers use GPT-2's split.
 */
import { IfpruneError } from '../errors.ts';
import type { TokenizerData } from '../tokenizer/types.ts';

/** GGUF token types (tokenizer.ggml.token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, byte: 6 } as const;
const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;

export interface HfSpecialIds {
  /** config.json bos_token_id / eos_token_id, when known. */
  bosId?: number;
  eosId?: number;
}

type Json = Record<string, unknown>;

/** Every component of a (possibly Sequence) tokenizers component, flattened. */
function parts(c: unknown): Json[] {
  if (!c || typeof c !== 'object') return [];
  const o = c as Json;
  const inner = (o.pretokenizers ?? o.decoders ?? o.normalizers ?? o.processors) as unknown[] | undefined;
  return Array.isArray(inner) ? inner.flatMap(parts) : [o];
}

export function parseHfTokenizer(text: string, vocabSize: number, special: HfSpecialIds = {}, name = 'tokenizer.json'): TokenizerData {
  let j: Json;
  try {
    j = JSON.parse(text) as Json;
  } catch (cause) {
    throw new IfpruneError('corrupt', `${name} is not valid JSON (${(cause as Error).message})`, { cause });
  }
  const model = j.model as Json | undefined;
  if (!model || model.type !== 'BPE' || typeof model.vocab !== 'object' || !model.vocab) {
    throw new IfpruneError('unsupported', `${name}: tokenizer model ${JSON.stringify(model?.type)} is not supported; ifprune converts BPE tokenizers (byte-level or SentencePiece-style)`);
  }
  const kinds = [...parts(j.pre_tokenizer), ...parts(j.decoder), ...parts(j.normalizer)].map((p) => p.type);
  const spm = model.byte_fallback === true || kinds.includes('Metaspace') || kinds.includes('ByteFallback');
  const byteLevel = kinds.includes('ByteLevel');
  if (!spm && !byteLevel) throw new IfpruneError('unsupported', `${name}: a BPE tokenizer that is neither byte-level nor SentencePiece-style (${kinds.join(', ') || 'no pre-tokenizer'})`);

  // --- tokens by id
  const tokens: string[] = [];
  const set = (id: number, content: string) => {
    if (!(Number.isInteger(id) && id >= 0)) throw new IfpruneError('corrupt', `${name}: token ${JSON.stringify(content)} has id ${id}`);
    tokens[id] = content;
  };
  for (const [content, id] of Object.entries(model.vocab as Record<string, number>)) set(id, content);
  const added = (Array.isArray(j.added_tokens) ? j.added_tokens : []) as { id: number; content: string; special?: boolean }[];
  for (const a of added) set(a.id, a.content);
  if (tokens.length > vocabSize) throw new IfpruneError('corrupt', `${name} has ids up to ${tokens.length - 1}, beyond the model's vocabulary of ${vocabSize}`);
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) tokens[i] = `[PAD${i}]`; // as llama.cpp fills gaps

  const tokenTypes = new Int32Array(tokens.length).fill(TOKEN_TYPE.normal);
  for (const a of added) tokenTypes[a.id] = a.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
  const unk = typeof model.unk_token === 'string' ? tokens.indexOf(model.unk_token) : -1;
  if (unk >= 0) tokenTypes[unk] = TOKEN_TYPE.unknown;

  // --- merges: "a b" strings (older files) or [a, b] pairs (tokenizers >= 0.20)
  const merges = ((model.merges ?? []) as (string | [string, string])[]).map((m) => (typeof m === 'string' ? m : m.join(' ')));

  const byContent = (...names: string[]) => {
    for (const n of names) {
      const i = tokens.indexOf(n);
      if (i >= 0) return i;
    }
    return -1;
  };
  const bosId = special.bosId ?? byContent('<s>', '<|begin_of_text|>', '<|endoftext|>', '<|im_start|>');
  const eosId = special.eosId ?? byContent('</s>', '<|end_of_text|>', '<|endoftext|>', '<|im_end|>');
  // BOS is added when the single-sequence template starts with a special token (TemplateProcessing).
  const template = parts(j.post_processor).find((p) => p.type === 'TemplateProcessing')?.single as Json[] | undefined;
  const addBos = Array.isArray(template) && template.length > 0 && 'SpecialToken' in template[0]!;

  if (!spm) return { model: 'gpt2', tokens, tokenTypes, merges, bosId, eosId, addBos };

  for (let i = 0; i < tokens.length; i++) if (tokenTypes[i] === TOKEN_TYPE.normal && BYTE_PIECE.test(tokens[i]!)) tokenTypes[i] = TOKEN_TYPE.byte;
  const scores = new Float32Array(tokens.length).fill(-1e9); // formed by no merge: merged last
  const ids = new Map(tokens.map((t, i) => [t, i]));
  merges.forEach((m, rank) => {
    const id = ids.get(m.replace(' ', ''));
    if (id !== undefined && scores[id] === -1e9) scores[id] = -rank;
  });
  for (let i = 0; i < tokens.length; i++) if ([...tokens[i]!].length === 1 || tokenTypes[i] !== TOKEN_TYPE.normal) scores[i] = 0;
  const prefix = parts(j.normalizer).some((p) => p.type === 'Prepend' && p.prepend === '\u2581') ||
    parts(j.pre_tokenizer).some((p) => p.type === 'Metaspace' && (p.add_prefix_space === true || p.prepend_scheme === 'always' || p.prepend_scheme === 'first'));
  return { model: 'llama', tokens, scores, tokenTypes, bosId, eosId, unkId: unk >= 0 ? unk : undefined, addBos, addSpacePrefix: prefix };
}

/**
 * The chat template of a Hugging Face tokenizer_config.json: its `chat_template` string, or, when it
 * holds a list of named templates ([{name, template}], as tokenizers with tool-use variants do), the
 * one named "default" (what transformers' apply_chat_template uses without a name). undefined when the
 * file has none. convert writes it as tokenizer.chat_template.
 */
export function parseHfChatTemplate(text: string, name = 'tokenizer_config.json'): string | undefined {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (cause) {
    throw new IfpruneError('corrupt', `${name} is not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new IfpruneError('corrupt', `${name} must hold a JSON object`);
  const t = (j as Json).chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'string') return t;
  if (Array.isArray(t) && t.every((e) => e && typeof e === 'object' && typeof (e as Json).name === 'string' && typeof (e as Json).template === 'string')) {
    const named = t as { name: string; template: string }[];
    const def = named.find((e) => e.name === 'default');
    if (def) return def.template;
    throw new IfpruneError('unsupported', `${name} has chat templates named ${named.map((e) => e.name).join(', ')} but none named "default"; pass the one to use explicitly`);
  }
  throw new IfpruneError('corrupt', `${name}: chat_template must be a string or a list of {name, template}; found ${Array.isArray(t) ? 'another list' : typeof t}`);
}
