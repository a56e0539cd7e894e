/**
 * A seeded mutation fuzzer over every input a user can hand ifprune, through the whole path: open from
 * memory, load at density 0.5 (instruct + load, or generate with a density), generate 8 tokens.
 *
 *   npm run fuzz -- --cases 10000 --seed 1 [--target gguf] [--timeout-ms 5000] [--json] [--out DIR]
 *
 * Targets (seed files are made at start, tiny, from tools/random-model.ts and the test fixtures; the
 * committed trained models are seeds too, seldom picked as each case copies them):
 *   gguf           standard GGUF: llama q8_0 / q4_0 / f32, qwen2 f16 with q/k/v biases, a GPT-2 BPE
 *                  vocabulary; stories260K.gguf
 *   gguf-bundled   ifprune bundled files (src/convert): no predictor; learned predictor + static ranking +
 *                  always-on neurons; static ranking only (q4_0); f16 with GPT-2 BPE and a learned
 *                  predictor; ifp-demo-joint
 *   llama2c        llama2.c checkpoints (.bin) + tokenizer.bin; stories260K.bin + tok512.bin
 *   safetensors    a Hugging Face checkpoint + config.json (+ tokenizer.bin), opened through the GGUF view
 *   jsonl          calibration / eval lines (src/convert/calibrate.ts parseCalibrationJsonl), whose prompts
 *                  then run through a good bundled model at density 0.5
 *
 * Mutations: bit flips, truncations, and — worth far more than random flips — structure-aware edits: a
 * walker that knows the GGUF layout (counts, string lengths, value types, array counts and items, tensor
 * dims, types and offsets; llama2.c header fields; tokenizer.bin scores and lengths; the safetensors JSON
 * header; config.json) writes huge counts and lengths, offsets past the end, overlapping and misaligned
 * tensors, wrong types and shapes, NaN/Inf scales and weights (with the ifprune chunk hashes recomputed,
 * so the bytes reach the engine), garbage tokenizer scores, pieces and merges.
 *
 * Every case must end in a result (tokens whose ids lie in the vocabulary) or an IfpruneError with a
 * known code, within --timeout-ms, with the wasm memory it grew to within MEMORY_BOUND of its input.
 * Anything else — a wasm trap or an internal abort of the runtime, a non-IfpruneError exception, a
 * hang, a crash of the worker, memory beyond the bound, a bad result — is a failure: its case id and
 * input are saved under --out, and the exit code is 1.
 *
 * Cases run one at a time in a child process (fork) with a watchdog in the parent: a hang is killed and
 * reported, never waited on. A case is a pure function of (seed, case id, target), so the parent rebuilds
 * a failing input itself rather than receiving it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IfpruneError, isIfpruneError, type IfpruneErrorCode } from '../src/errors.ts';
import { open } from '../src/index.ts';
import { memorySource } from '../src/sources/memory.ts';
import { openModel } from '../src/formats/model.ts';
import { readIfpruneInfo, summarizeLayout } from '../src/formats/ifprune.ts';
import { GGUFValueType as T, ggufTypeName, parseGGUF, type GGUFFile, type GGUFType, type GGUFValue } from '../src/formats/gguf.ts';
import { writeGGUF } from '../src/formats/gguf-write.ts';
import { QUANT, type QuantType } from '../src/formats/quant.ts';
import { xxh64 } from '../src/formats/xxh64.ts';
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import { parseCalibrationJsonl } from '../src/convert/calibrate.ts';
import { writeCalibratedModel } from '../src/pruning/predictor-file.ts';
import { MlpPredictor } from '../src/pruning/learned.ts';
import { loadKernels, loadRuntime } from '../src/platform/node.ts';
import { UsageError, choiceOption, escapeText, flagOption, formatHelp, intOption, parseArgs, stringOption, type CommandInfo } from '../src/cli/args.ts';
import { makeRandomModel, type RandomModelOptions } from './random-model.ts';
import { llama2cBytes, tinySafetensors, type TinyConfig } from '../test/format-fixtures.ts';
import { tokenizerBin } from '../test/tokenizer-fixtures.ts';
import { rng, randomF32 } from '../test/helpers.ts';

export const TARGETS = ['gguf', 'gguf-bundled', 'llama2c', 'safetensors', 'jsonl'] as const;
export type Target = (typeof TARGETS)[number];

/** Every IfpruneError code (src/errors.ts): an error outside this list is a failure. */
export const KNOWN_CODES: readonly IfpruneErrorCode[] = [
  'bad_magic', 'bad_version', 'truncated', 'corrupt', 'unsupported', 'hash_mismatch', 'range_unsupported', 'http_error',
  'context_overflow', 'bad_option', 'out_of_bounds', 'out_of_memory', 'no_wasm', 'not_found', 'numeric', 'aborted',
];

/** What src/runtime.ts's env.abort turns an internal check of the runtime (an AssemblyScript abort: an
 * array index out of range, a Map.get of a missing key, memory that could not grow) into: a bug, not an answer. */
const RUNTIME_ABORT = 'the wasm runtime stopped on an internal check';

/** New tokens per case, and the share of each layer's neurons loaded. */
export const GEN_TOKENS = 8;
export const DENSITY = 0.5;
/** The prompt of model targets (the jsonl target uses its lines' prompts). */
const PROMPT = 'Once upon a time';
/** Other prompts, now and then: empty, control and special-token text, characters no vocabulary holds,
 * longer than the seeds' contexts. */
const PROMPTS = ['', ' ', '\n\n', '<s>', '</s><s>', '<|endoftext|>', '<unk>', '\u2581\u2581', '\u0000\u0001', 'é😀\uFFFD\uD800', 'Once upon a time '.repeat(40), 'x'.repeat(2000)];
/** The second instruction of a selective case (at half the density). */
const PROMPT_2 = 'def parse(argv):';

/** The most wasm memory a case may grow to: a fixed allowance (runtime, KV cache of a capped context,
 * scratch) plus a multiple of its input bytes (weights as stored, f32 copies of norms and small tensors,
 * tokenizer tables). 16×, because a header whose one damaged string length spans the file legitimately
 * peaks near 13×: the string is decoded through a UTF-16 scratch buffer into a UTF-16 string (4 bytes per
 * byte), and AssemblyScript's allocator grows memory by doubling it. Amplification beyond that (messages
 * that repeated such a string reached 30×) is a failure. */
export const MEMORY_BOUND = { baseBytes: 16 << 20, perInputByte: 16 };
export const memoryBound = (inputBytes: number): number => MEMORY_BOUND.baseBytes + MEMORY_BOUND.perInputByte * inputBytes;

// ---------------------------------------------------------------------------------------------------
// inputs

/** One case's input: the files a user hands over. */
export interface FuzzInput {
  target: Target;
  /** Seed file label and the mutations applied, in order. */
  seed: string;
  mutations: string[];
  /** The model file (gguf, bundled gguf, llama2.c .bin, .safetensors), absent for jsonl. */
  model?: Uint8Array;
  /** File name the model is opened under (its extension picks nothing; names appear in messages). */
  name?: string;
  /** A llama2.c tokenizer.bin (llama2c, safetensors). */
  tokenizer?: Uint8Array;
  /** config.json text (safetensors). */
  config?: string;
  /** JSONL text (jsonl). */
  jsonl?: string;
  /** How often this seed is picked, relative to the others of its target (default 1). */
  weight?: number;
  /** Open with ffn 'selective' and instruct + load, rather than generate with a density. */
  selective?: boolean;
  /** Pruning policy (default: the file's default), neuron-cache budget and KV-cache length (open options). */
  policy?: 'dense' | 'static' | 'prompt' | 'learned';
  memoryBudget?: number;
  contextLength?: number;
  /** The outcome the input must have (set when its one mutation wrote NaN/Inf into a tensor read in full). */
  expect?: 'numeric';
  /** The prompt (default PROMPT), read with special-token text as tokens or not; stop strings. */
  prompt?: string;
  special?: boolean;
  stop?: string[];
}

/** Bytes of a case's input (what its memory bound is measured against). */
export const inputBytes = (i: FuzzInput): number => (i.model?.length ?? 0) + (i.tokenizer?.length ?? 0) + (i.config?.length ?? 0) + (i.jsonl?.length ?? 0);

// ---------------------------------------------------------------------------------------------------
// seed files

interface Seeds {
  byTarget: Record<Target, FuzzInput[]>;
  /** The good model the jsonl target's prompts run on. */
  jsonlModel: Uint8Array;
}

/** A random-weight model shape small enough that a case takes milliseconds (rows of one Q8_0 block). */
const TINY_GGUF: RandomModelOptions = { dim: 32, nLayers: 2, nHeads: 2, nKvHeads: 1, hiddenDim: 64, vocabSize: 300, seqLen: 48, type: 'q8_0' };
/** llama2.c and safetensors: no vocabulary in the file, so a small tokenizer.bin sets it. */
const TINY_L2C: TinyConfig = { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize: 64, seqLen: 32 };
const TINY_ST: TinyConfig = { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: 64, seqLen: 32 };

/** <unk> <s> </s>, single characters, then pieces that merge (llama2.c writes spaces as ' '). */
function l2cPieces(n: number): { pieces: string[]; scores: number[] } {
  const base = ['<unk>', '\n<s>\n', '\n</s>\n', ...' abcdefghijklmnopqrstuvwxyzOTU.,'];
  const extra = [' a', ' t', 'on', 'ce', ' up', 'upon', ' upon', 'ti', 'me', ' time', 'in', 'an', 'er', 'he', ' the', 'nce', 'Once', ' o', ' on', 'at', 'it', 'is', 'ar', 'en', 'es', 'or', 're', 'st', 'to', 'ou', 'ed', 'ng'];
  const pieces = [...base, ...extra].slice(0, n);
  while (pieces.length < n) pieces.push(`x${pieces.length}`);
  return { pieces, scores: pieces.map((p, i) => (i < 3 ? 0 : p.length * 10 - i / 100)) };
}

async function bundled(opts: RandomModelOptions, type: 'q8_0' | 'q4_0' | 'f16', predictor: 'none' | 'static' | 'learned'): Promise<Uint8Array> {
  const module = await loadKernels('auto');
  const model = await openModel(memorySource(await makeRandomModel(opts), 'random.gguf'));
  const sink = memorySink();
  await convert(model, sink, { type, layout: 'bundled', module, sourceSha256: '0'.repeat(64) });
  const bytes = sink.bytes();
  if (predictor === 'none') return bytes;
  const r = rng(opts.seed ?? 1);
  const { dim, nLayers, hiddenDim: nff, vocabSize: vocab } = opts;
  const cal: Parameters<typeof writeCalibratedModel>[2] = { static: Array.from({ length: nLayers }, () => randomF32(r, nff)) };
  if (predictor === 'learned') {
    cal.learned = MlpPredictor.init({ vocab, nLayers, nff, tokenDim: 8, hidden: 32, window: 4 }, randomF32(r, vocab * dim, 0.1), dim, opts.seed ?? 1);
    cal.shared = [Int32Array.of(0, 3, 60), new Int32Array(0)];
  }
  const out = memorySink();
  await writeCalibratedModel(memorySource(bytes), await parseGGUF(memorySource(bytes)), cal, { examples: 0, heldoutRecall: 0 }, out);
  return out.bytes();
}

/** Small random weights for the llama2.c checkpoint (its fixture's default fill, i itself, overflows). */
const smallFill = (seed: number) => {
  const r = rng(seed);
  return () => (r() * 2 - 1) * 0.3;
};

const STORIES = fileURLToPath(new URL('../models/stories260K/', import.meta.url));
const IFP_DEMO_JOINT = fileURLToPath(new URL('../models/ifp-demo-joint/ifp-demo-joint.q8_0.gguf', import.meta.url));

const JSONL_SEED = [
  { id: 'py-1', domain: 'python', prompt: 'def parse(argv):', response: '\n    return argv[1:]' },
  { prompt: 'Once upon a time', response: ' there was a cat.' },
  { id: 'de-2', domain: 'german', prompt: 'Es war einmal', response: ' ein König. ü ß €' },
  { text: 'Plain text lines are calibration data too.' },
].map((o) => JSON.stringify(o)).join('\n') + '\n';

let seedsPromise: Promise<Seeds> | null = null;

/** The seed files of every target (built once per process, deterministically). */
export function seeds(): Promise<Seeds> {
  seedsPromise ??= buildSeeds();
  return seedsPromise;
}

async function buildSeeds(): Promise<Seeds> {
  const g = (seed: string, model: Uint8Array, extra: Partial<FuzzInput> = {}): FuzzInput => ({ target: 'gguf', seed, mutations: [], model, name: `${seed.replace(/\W+/g, '-')}.gguf`, ...extra });
  const gguf = [
    g('llama q8_0 tied', await makeRandomModel(TINY_GGUF)),
    g('llama q4_0 1 layer', await makeRandomModel({ ...TINY_GGUF, nLayers: 1, type: 'q4_0', seed: 2 })),
    g('llama f32 untied', await makeRandomModel({ ...TINY_GGUF, dim: 16, hiddenDim: 32, nLayers: 1, type: 'f32', tied: false, seed: 3 })),
    g('qwen2 f16 q/k/v bias', await makeRandomModel({ ...TINY_GGUF, nLayers: 1, type: 'f16', qkvBias: true, tied: false, seed: 4 })),
    g('gpt2 q8_0', await makeRandomModel({ ...TINY_GGUF, nLayers: 1, tokenizer: 'gpt2', seed: 5 })),
    // trained models with real vocabularies (1.1 MB each): seldom, as each case copies them
    { ...g('stories260K.gguf', new Uint8Array(readFileSync(STORIES + 'stories260K.gguf'))), weight: 0.1 },
  ];
  const b = (seed: string, model: Uint8Array): FuzzInput => g(seed, model, { target: 'gguf-bundled' });
  const learned = await bundled({ ...TINY_GGUF, seed: 6 }, 'q8_0', 'learned');
  const gguBundled = [
    b('bundled q8_0 no predictor', await bundled({ ...TINY_GGUF, seed: 7 }, 'q8_0', 'none')),
    b('bundled q8_0 learned predictor', learned),
    b('bundled q4_0 static ranking', await bundled({ ...TINY_GGUF, nLayers: 1, seed: 8 }, 'q4_0', 'static')),
    b('bundled f16 gpt2 learned predictor', await bundled({ ...TINY_GGUF, nLayers: 1, tokenizer: 'gpt2', seed: 11 }, 'f16', 'learned')),
    // a trained model (4.4 MB, 4 layers, n_ff 768, its own predictor): seldom, as each case copies it
    { ...b('ifp-demo-joint', new Uint8Array(readFileSync(IFP_DEMO_JOINT))), weight: 0.1 },
  ];
  const l2c = l2cPieces(TINY_L2C.vocabSize);
  const tok = tokenizerBin(l2c.pieces, l2c.scores);
  const llama2c = [
    { target: 'llama2c', seed: 'llama2c shared', mutations: [], model: llama2cBytes(TINY_L2C, true, smallFill(9)), name: 'model.bin', tokenizer: tok },
    { target: 'llama2c', seed: 'llama2c untied', mutations: [], model: llama2cBytes({ ...TINY_L2C, nKvHeads: 2 }, false, smallFill(10)), name: 'model.bin', tokenizer: tok },
    { target: 'llama2c', seed: 'stories260K.bin', mutations: [], model: new Uint8Array(readFileSync(STORIES + 'stories260K.bin')), name: 'stories260K.bin', tokenizer: new Uint8Array(readFileSync(STORIES + 'tok512.bin')), weight: 0.2 },
  ] satisfies FuzzInput[];
  const st = (seed: string, opts: Parameters<typeof tinySafetensors>[1]): FuzzInput => {
    const s = tinySafetensors(TINY_ST, opts);
    return { target: 'safetensors', seed, mutations: [], model: s.bytes, name: 'model.safetensors', tokenizer: tok, config: JSON.stringify(s.config) };
  };
  const safetensors = [st('safetensors llama', {}), st('safetensors qwen2 bias tied', { bias: true, tied: true, modelType: 'qwen2' })];
  const jsonl: FuzzInput[] = [{ target: 'jsonl', seed: 'jsonl eval lines', mutations: [], jsonl: JSONL_SEED }];
  return { byTarget: { gguf, 'gguf-bundled': gguBundled, llama2c, safetensors, jsonl }, jsonlModel: learned };
}

// ---------------------------------------------------------------------------------------------------
// structure: where the fields of a seed file are (seeds are valid, so the walkers need no checks)

/** An integer field of a file: its offset, width and what it means. */
interface Field {
  kind: 'version' | 'count' | 'length' | 'valueType' | 'itemType' | 'scalar' | 'nDims' | 'dim' | 'tensorType' | 'tensorOffset' | 'l2cHeader' | 'maxTokenLen' | 'score';
  off: number;
  size: 1 | 2 | 4 | 8;
  label: string;
  /** 'scalar' and 'score': the GGUF value type (FLOAT32 scores are 6). */
  valueType?: number;
}

/** A GGUF metadata array: where its items are (fixed-size items) or each string item's bytes. */
interface ArrayField {
  key: string;
  itemType: number;
  count: number;
  itemsOff: number;
  strings: { off: number; len: number }[];
}

interface TensorField {
  name: string;
  typeId: number;
  dims: number[];
  typeOff: number;
  offsetOff: number;
  /** Absolute data offset and bytes. */
  dataOff: number;
  bytes: number;
}

interface GgufMap {
  fields: Field[];
  arrays: ArrayField[];
  tensors: TensorField[];
  /** Offset of each string's bytes (keys, names, string values): for garbage. */
  strings: { off: number; len: number; label: string }[];
  dataOffset: number;
  alignment: number;
  headerEnd: number;
}

const FIXED_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const QUANT_BLOCK: Record<number, [number, number]> = { 0: [1, 4], 1: [1, 2], 2: [32, 18], 8: [32, 34], 30: [1, 2] };

/** The fields of a valid GGUF v2/v3 file. */
export function mapGguf(b: Uint8Array): GgufMap {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const m: GgufMap = { fields: [], arrays: [], tensors: [], strings: [], dataOffset: 0, alignment: 32, headerEnd: 0 };
  let o = 4;
  const field = (kind: Field['kind'], size: Field['size'], label: string, valueType?: number) => {
    m.fields.push({ kind, off: o, size, label, valueType });
    o += size;
  };
  const u64 = (at: number) => Number(v.getBigUint64(at, true));
  const str = (label: string): string => {
    const n = u64(o);
    field('length', 8, `${label} length`);
    m.strings.push({ off: o, len: n, label });
    const s = new TextDecoder().decode(b.subarray(o, o + n));
    o += n;
    return s;
  };
  field('version', 4, 'version');
  const nTensors = u64(o);
  field('count', 8, 'tensor count');
  const nKV = u64(o);
  field('count', 8, 'metadata count');
  const value = (t: number, key: string): void => {
    if (t === 8) {
      str(`${key} value`);
    } else if (t === 9) {
      const it = v.getUint32(o, true);
      field('itemType', 4, `${key} item type`);
      const count = u64(o);
      field('count', 8, `${key} item count`);
      const a: ArrayField = { key, itemType: it, count, itemsOff: o, strings: [] };
      if (it === 8) {
        for (let i = 0; i < count; i++) {
          const n = u64(o);
          o += 8;
          a.strings.push({ off: o, len: n });
          o += n;
        }
      } else if (it === 9) {
        for (let i = 0; i < count; i++) value(9, `${key}[${i}]`);
      } else {
        o += count * FIXED_BYTES[it]!;
      }
      m.arrays.push(a);
    } else {
      if (key === 'general.alignment') m.alignment = v.getUint32(o, true);
      field('scalar', FIXED_BYTES[t] as Field['size'], key, t);
    }
  };
  for (let i = 0; i < nKV; i++) {
    const key = str('key');
    const t = v.getUint32(o, true);
    field('valueType', 4, `${key} type`);
    value(t, key);
  }
  const infos: Omit<TensorField, 'dataOff' | 'bytes'>[] = [];
  const rel: number[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str('tensor name');
    const nd = v.getUint32(o, true);
    field('nDims', 4, `${name} n_dims`);
    const dims: number[] = [];
    for (let d = 0; d < nd; d++) {
      dims.push(u64(o));
      field('dim', 8, `${name} dim ${d}`);
    }
    const typeId = v.getUint32(o, true);
    const typeOff = o;
    field('tensorType', 4, `${name} type`);
    rel.push(u64(o));
    const offsetOff = o;
    field('tensorOffset', 8, `${name} offset`);
    infos.push({ name, typeId, dims, typeOff, offsetOff });
  }
  m.headerEnd = o;
  m.dataOffset = Math.ceil(o / m.alignment) * m.alignment;
  infos.forEach((t, i) => {
    const [be, bb] = QUANT_BLOCK[t.typeId]!;
    const elems = t.dims.reduce((a, x) => a * x, 1);
    m.tensors.push({ ...t, dataOff: m.dataOffset + rel[i]!, bytes: (elems / be) * bb });
  });
  return m;
}

/** A llama2.c checkpoint's seven int32 header fields. */
const L2C_HEADER = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];

/** tokenizer.bin: max_token_length, then per token a float32 score and an int32 length. */
function mapTokenizerBin(b: Uint8Array): { fields: Field[]; pieces: { off: number; len: number }[] } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fields: Field[] = [{ kind: 'maxTokenLen', off: 0, size: 4, label: 'max_token_length' }];
  const pieces: { off: number; len: number }[] = [];
  for (let o = 4, i = 0; o + 8 <= b.length; i++) {
    fields.push({ kind: 'score', off: o, size: 4, label: `score ${i}`, valueType: 6 });
    const n = v.getInt32(o + 4, true);
    fields.push({ kind: 'length', off: o + 4, size: 4, label: `piece ${i} length` });
    pieces.push({ off: o + 8, len: n });
    o += 8 + n;
  }
  return { fields, pieces };
}

// ---------------------------------------------------------------------------------------------------
// mutations

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, a: readonly T[]): T => a[int(r, a.length)]!;

/** Integers that break parsers: zero, one, powers of two and their neighbours, sign bits, all ones,
 * near the file size, and the old value scaled. */
function interestingInt(r: Rand, size: number, old: bigint, fileSize: number): bigint {
  const bits = BigInt(size * 8);
  const max = (1n << bits) - 1n;
  const choices = [
    0n, 1n, 2n, 3n, 4n, 7n, 8n, 15n, 16n, 31n, 32n, 33n, 63n, 64n, 255n, 256n, 4096n, 65535n, 65536n,
    0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, (1n << 32n) + 1n, 1n << 53n, (1n << 53n) + 1n, 1n << 62n, 1n << 63n, max, max - 1n,
    BigInt(fileSize), BigInt(fileSize) + 1n, BigInt(Math.max(0, fileSize - 1)), old + 1n, old - 1n, old * 2n, old / 2n, old * 1000n, old ^ (1n << BigInt(int(r, size * 8))),
  ];
  return BigInt.asUintN(size * 8, pick(r, choices));
}

function readField(b: Uint8Array, f: Pick<Field, 'off' | 'size'>): bigint {
  if (f.off + f.size > b.length) return 0n; // an earlier mutation cut the file here
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return f.size === 8 ? v.getBigUint64(f.off, true) : f.size === 4 ? BigInt(v.getUint32(f.off, true)) : f.size === 2 ? BigInt(v.getUint16(f.off, true)) : BigInt(b[f.off]!);
}

function writeField(b: Uint8Array, f: Pick<Field, 'off' | 'size'>, x: bigint): void {
  if (f.off + f.size > b.length) return;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  x = BigInt.asUintN(f.size * 8, x);
  if (f.size === 8) v.setBigUint64(f.off, x, true);
  else if (f.size === 4) v.setUint32(f.off, Number(x), true);
  else if (f.size === 2) v.setUint16(f.off, Number(x), true);
  else b[f.off] = Number(x);
}

/** Floats that break numerics: NaN, ±Inf, huge, tiny, negative zero. */
const BAD_FLOATS = [NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e30, 1e-45, -0, 65504, -65504];
/** The same as f16 bit patterns (NaN, ±Inf, ±max, smallest subnormal). */
const BAD_HALVES = [0x7e00, 0x7c00, 0xfc00, 0x7bff, 0xfbff, 0x0001, 0x8000, 0xffff];

function writeBadFloat(b: Uint8Array, off: number, size: 2 | 4 | 8, r: Rand): string {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (off + size > b.length) return 'nothing (past the end)';
  if (size === 2) {
    const h = pick(r, BAD_HALVES);
    v.setUint16(off, h, true);
    return `f16 0x${h.toString(16)}`;
  }
  const x = pick(r, BAD_FLOATS);
  if (size === 4) v.setFloat32(off, x, true);
  else v.setFloat64(off, x, true);
  return String(x);
}

/** Whether the f16 / f32 at `off` is NaN or ±Infinity. */
function isNonFinite(b: Uint8Array, off: number, size: 2 | 4): boolean {
  if (off + size > b.length) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return size === 2 ? (v.getUint16(off, true) & 0x7c00) === 0x7c00 : !Number.isFinite(v.getFloat32(off, true));
}

/** Tensors every forward pass reads in full (norms, attention, the classifier, a standard FFN): a NaN or
 * ±Infinity anywhere in one must end a generation in 'numeric'. (Not token_embd, of which only the
 * prompt's rows are read unless it is also the classifier, nor bundles and predictor tensors, of which
 * a selection is used.) */
const READ_IN_FULL = /^(blk\.\d+\.(attn_(q|k|v|output)\.(weight|bias)|(attn|ffn)_norm\.weight|ffn_(gate|up|down)\.weight)|output_norm\.weight|output\.weight)$/;

/** Byte strings that are not text, or are text that tokenizers handle specially. */
const GARBAGE = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0], [0x20], [0x0a], [0x3c, 0x73, 0x3e], [0xe2, 0x96, 0x81]];

function garbageInto(b: Uint8Array, off: number, len: number, r: Rand): string {
  if (len <= 0) return 'nothing (empty)';
  const g = pick(r, GARBAGE);
  const at = off + int(r, len);
  for (let i = 0; i < g.length && at + i < off + len && at + i < b.length; i++) b[at + i] = g[i]!;
  return `bytes ${g.map((x) => x.toString(16)).join(' ')} at ${at}`;
}

const flipBits = (b: Uint8Array, r: Rand, lo: number, hi: number): string => {
  const n = 1 + int(r, 8);
  const at: number[] = [];
  for (let i = 0; i < n && hi > lo; i++) {
    const o = lo + int(r, hi - lo);
    b[o] ^= 1 << int(r, 8);
    at.push(o);
  }
  return `flip bits at ${at.join(',')}`;
};

/** A mutation: rewrites `b` (or returns a new array), and says what it did. */
/** A mutation's result. `nonFinite`: it wrote a NaN or ±Infinity into the data of this tensor. */
type Mutated = { bytes: Uint8Array; what: string; nonFinite?: string };
type Mutation = (b: Uint8Array, r: Rand) => Mutated;

/** Flips, truncations and splats that need no structure: `headerEnd` biases them to the header. */
function byteMutations(headerEnd: number): [number, Mutation][] {
  const region = (b: Uint8Array, r: Rand) => (r() < 0.7 ? [0, Math.min(b.length, headerEnd)] : [0, b.length]) as [number, number];
  return [
    [3, (b, r) => ({ bytes: b, what: flipBits(b, r, ...region(b, r)) })],
    [2, (b, r) => {
      const [lo, hi] = region(b, r);
      const n = lo + int(r, Math.max(1, hi - lo));
      return { bytes: b.slice(0, n), what: `truncate to ${n}` };
    }],
    [1, (b, r) => {
      const [lo, hi] = region(b, r);
      const o = lo + int(r, Math.max(1, hi - lo - 8));
      const x = pick(r, [0n, 0xffffffffffffffffn, 0x7fffffffn, 0x80000000n, 1n << 40n]);
      writeField(b, { off: o, size: 8 }, x);
      return { bytes: b, what: `u64 ${x} at ${o}` };
    }],
    [1, (b, r) => {
      const n = 1 + int(r, 64);
      const out = new Uint8Array(b.length + n);
      out.set(b);
      for (let i = b.length; i < out.length; i++) out[i] = int(r, 256);
      return { bytes: out, what: `append ${n} random bytes` };
    }],
    [1, (b, r) => {
      // delete or duplicate a short run inside the header: every later field shifts
      const o = int(r, Math.max(1, Math.min(b.length, headerEnd)));
      const n = 1 + int(r, 16);
      if (r() < 0.5) return { bytes: new Uint8Array([...b.subarray(0, o), ...b.subarray(o + n)]), what: `delete ${n} bytes at ${o}` };
      return { bytes: new Uint8Array([...b.subarray(0, o + n), ...b.subarray(o, o + n), ...b.subarray(o + n)]), what: `duplicate ${n} bytes at ${o}` };
    }],
  ];
}

/** ifprune chunk hashes recomputed over the file's current tensor bytes, in place, so that a mutation of
 * tensor data reaches the engine instead of stopping at hash_mismatch. */
export function rehash(b: Uint8Array, m: GgufMap): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (const a of m.arrays) {
    const name = /^ifprune\.chunk_hashes\.(.+)$/.exec(a.key)?.[1];
    const t = name === undefined ? undefined : m.tensors.find((x) => x.name === name);
    const cf = m.fields.find((f) => f.kind === 'scalar' && f.label === `ifprune.chunk_bytes.${name}`);
    if (!t || !cf || a.itemType !== 10) continue;
    const chunk = Number(readField(b, cf));
    for (let i = 0; i < a.count && chunk > 0; i++) {
      const lo = t.dataOff + i * chunk;
      if (lo >= b.length) break;
      v.setBigUint64(a.itemsOff + 8 * i, xxh64(b.subarray(lo, Math.min(lo + chunk, t.dataOff + t.bytes, b.length))), true);
    }
  }
}

/** Mutations that know the GGUF layout. */
function ggufMutations(m: GgufMap): [number, Mutation][] {
  const byKind = (k: Field['kind'][]) => m.fields.filter((f) => k.includes(f.kind));
  const ints = byKind(['version', 'count', 'length', 'nDims', 'dim', 'scalar']);
  const types = byKind(['valueType', 'itemType']);
  const hyper = m.fields.filter((f) => f.kind === 'scalar' && /^(llama|qwen2)\.|^tokenizer\.ggml\.(bos|eos|unknown)|^ifprune\.|^general\.alignment/.test(f.label));
  const numArrays = m.arrays.filter((a) => a.itemType !== 8 && a.itemType !== 9 && a.count > 0);
  const strArrays = m.arrays.filter((a) => a.itemType === 8 && a.count > 0);
  const tensorData = (r: Rand, b: Uint8Array, t: TensorField): { what: string; nonFinite: boolean } => {
    // a bad value where the engine reads it: a block's f16 scale (Q8_0, Q4_0), an f16 or f32 weight
    const [be, bb] = QUANT_BLOCK[t.typeId]!;
    const size = be === 32 || t.typeId === 1 || t.typeId === 30 ? 2 : 4;
    const blocks = t.bytes / bb;
    const n = r() < 0.5 ? 1 : 1 + int(r, blocks);
    let what = '';
    const at: number[] = [];
    for (let i = 0; i < n; i++) {
      at.push(t.dataOff + int(r, blocks) * bb);
      what = writeBadFloat(b, at[i]!, size, r);
    }
    // read back: a later write may have put a finite value over a NaN
    return { what: `${n} × ${what} in ${t.name}`, nonFinite: at.some((o) => isNonFinite(b, o, size)) };
  };
  return [
    [4, (b, r) => {
      const f = pick(r, ints);
      const x = interestingInt(r, f.size, readField(b, f), b.length);
      writeField(b, f, x);
      return { bytes: b, what: `${f.label} = ${x}` };
    }],
    [3, (b, r) => {
      if (hyper.length === 0) return { bytes: b, what: 'no hyperparameter' };
      const f = pick(r, hyper);
      if (f.valueType === 6 || f.valueType === 12) return { bytes: b, what: `${f.label} = ${writeBadFloat(b, f.off, f.size as 4 | 8, r)}` };
      const x = interestingInt(r, f.size, readField(b, f), b.length);
      writeField(b, f, x);
      return { bytes: b, what: `${f.label} = ${x}` };
    }],
    [2, (b, r) => {
      const f = pick(r, types);
      const x = BigInt(r() < 0.8 ? int(r, 14) : pick(r, [255, 0xffffffff, 0x80000009]));
      writeField(b, f, x);
      return { bytes: b, what: `${f.label} = ${x}` };
    }],
    [3, (b, r) => {
      // tensor table: wrong type, shapes, offsets past the end, overlapping or misaligned
      const t = pick(r, m.tensors);
      const c = int(r, 5);
      if (c === 0) {
        const id = pick(r, [0, 1, 2, 3, 6, 8, 9, 10, 12, 14, 28, 30, 39, 40, 100, 0xffffffff]);
        writeField(b, { off: t.typeOff, size: 4 }, BigInt(id));
        return { bytes: b, what: `${t.name} type = ${id}` };
      }
      const dataBytes = BigInt(b.length - m.dataOffset);
      const rel = readField(b, { off: t.offsetOff, size: 8 });
      const other = pick(r, m.tensors);
      const x = pick(r, [dataBytes, dataBytes + 32n, dataBytes - 32n, rel + 1n, rel + 2n, rel + 16n, rel - 32n, BigInt(other.dataOff - m.dataOffset), BigInt(other.dataOff - m.dataOffset + 32), 1n << 63n, 0xffffffffffffffe0n]);
      if (c === 1 || c === 2) {
        writeField(b, { off: t.offsetOff, size: 8 }, x);
        return { bytes: b, what: `${t.name} offset = ${BigInt.asUintN(64, x)} (data ${dataBytes})` };
      }
      const dimFields = m.fields.filter((f) => f.kind === 'dim' && f.label.startsWith(`${t.name} dim`));
      if (c === 3 && dimFields.length >= 2) {
        const [a, d] = [readField(b, dimFields[0]!), readField(b, dimFields[1]!)];
        writeField(b, dimFields[0]!, d);
        writeField(b, dimFields[1]!, a);
        return { bytes: b, what: `${t.name} dims swapped` };
      }
      const f = pick(r, dimFields.length ? dimFields : ints);
      const nx = pick(r, [0n, 1n, 2n, readField(b, f) * 2n, readField(b, f) + 32n, readField(b, f) - 32n, 1n << 32n, 1n << 62n]);
      writeField(b, f, nx);
      return { bytes: b, what: `${f.label} = ${BigInt.asUintN(64, nx)}` };
    }],
    [3, (b, r) => {
      // numeric arrays: token scores and types, chunk hashes, permutations, always-on neurons
      if (numArrays.length === 0) return { bytes: b, what: 'no numeric array' };
      const a = pick(r, numArrays);
      const size = FIXED_BYTES[a.itemType]!;
      const n = r() < 0.5 ? 1 : 1 + int(r, a.count);
      let what = '';
      for (let i = 0; i < n; i++) {
        const at = a.itemsOff + size * int(r, a.count);
        if (a.itemType === 6 || a.itemType === 12) what = writeBadFloat(b, at, size as 4 | 8, r);
        else {
          const x = interestingInt(r, size, readField(b, { off: at, size: size as Field['size'] }), b.length);
          writeField(b, { off: at, size: size as Field['size'] }, x);
          what = String(x);
        }
      }
      return { bytes: b, what: `${a.key}: ${n} items, last = ${what}` };
    }],
    [2, (b, r) => {
      // string arrays: tokens, merges (a piece's bytes garbage, or its length wrong)
      if (strArrays.length === 0) return { bytes: b, what: 'no string array' };
      const a = pick(r, strArrays);
      const s = pick(r, a.strings);
      if (r() < 0.7) return { bytes: b, what: `${a.key}: ${garbageInto(b, s.off, s.len, r)}` };
      const x = interestingInt(r, 8, BigInt(s.len), b.length);
      writeField(b, { off: s.off - 8, size: 8 }, x);
      return { bytes: b, what: `${a.key}: a length = ${x}` };
    }],
    [1, (b, r) => {
      const s = pick(r, m.strings);
      return { bytes: b, what: `${s.label}: ${garbageInto(b, s.off, s.len, r)}` };
    }],
    [3, (b, r) => {
      // NaN / Inf in weights or scales; chunk hashes recomputed (mostly) so the engine sees them
      const t = pick(r, m.tensors.filter((x) => QUANT_BLOCK[x.typeId]));
      const { what, nonFinite } = tensorData(r, b, t);
      const fix = r() < 0.85;
      if (fix) rehash(b, m);
      return { bytes: b, what: `${what}${fix ? ', hashes recomputed' : ''}`, nonFinite: nonFinite && fix ? t.name : undefined };
    }],
  ];
}

/** Values of other types for a metadata key (a well-formed file that says something else). */
const RETYPED: [GGUFType, GGUFValue][] = [
  [{ type: T.UINT8 }, 0], [{ type: T.INT32 }, -1], [{ type: T.UINT32 }, 0xffffffff], [{ type: T.UINT32 }, 0], [{ type: T.FLOAT32 }, NaN], [{ type: T.FLOAT32 }, 1.5],
  [{ type: T.FLOAT64 }, 1e300], [{ type: T.BOOL }, true], [{ type: T.STRING }, ''], [{ type: T.STRING }, '2'], [{ type: T.UINT64 }, 1n << 63n], [{ type: T.INT64 }, -(1n << 63n)],
  [{ type: T.ARRAY, itemType: T.UINT32 }, Uint32Array.of()], [{ type: T.ARRAY, itemType: T.STRING }, ['a', 'b']], [{ type: T.ARRAY, itemType: T.FLOAT32 }, Float32Array.of(NaN, 1)],
];

/** Type pairs with the same bytes per row: a tensor re-declared as another type over the same bytes. */
function reinterpret(t: { type: QuantType; dims: number[] }, r: Rand): { type: QuantType; dims: number[] } | null {
  const [ne0, ...rest] = t.dims as [number, ...number[]];
  const bytesPerRow = (ne0 / t.type.blockElems) * t.type.blockBytes;
  const to = pick(r, [QUANT.F32, QUANT.F16, QUANT.BF16, QUANT.Q8_0, QUANT.Q4_0].filter((q) => q !== t.type && bytesPerRow % q.blockBytes === 0));
  return to ? { type: to, dims: [(bytesPerRow / to.blockBytes) * to.blockElems, ...rest] } : null;
}

/**
 * A GGUF rewritten whole (writeGGUF) after a semantic edit: a key deleted, renamed or given a value of
 * another type, an array shortened or grown, a tensor dropped, renamed onto another, re-declared as
 * another type over the same bytes, or transposed. The file stays well-formed, so the edit reaches the
 * checks after the parser. Tensor bytes are unchanged (chunk hashes hold). Null when the bytes no longer
 * parse (an earlier mutation) or the edit cannot be written.
 */
async function ggufRewrite(bytes: Uint8Array, r: Rand): Promise<{ bytes: Uint8Array; what: string } | null> {
  let file: GGUFFile;
  try {
    file = await parseGGUF(memorySource(bytes));
  } catch {
    return null;
  }
  const metadata = { ...file.metadata };
  const kvTypes = { ...file.kvTypes };
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: [...t.dims], data: bytes.subarray(t.offset, t.offset + t.bytes) }));
  const keys = Object.keys(metadata);
  if (keys.length === 0 || tensors.length === 0) return null; // an earlier mutation left nothing to edit
  const key = pick(r, keys);
  const t = pick(r, tensors);
  let what: string;
  switch (int(r, 9)) {
    case 0:
      delete metadata[key];
      delete kvTypes[key];
      what = `delete ${key}`;
      break;
    case 1: {
      const to = key.replace(/\.[^.]*$/, '.x');
      metadata[to] = metadata[key]!;
      kvTypes[to] = kvTypes[key]!;
      delete metadata[key];
      delete kvTypes[key];
      what = `rename ${key} to ${to}`;
      break;
    }
    case 2:
    case 3: {
      const [type, value] = pick(r, RETYPED);
      metadata[key] = value;
      kvTypes[key] = type;
      what = `${key} = ${ggufTypeName(type.type)} ${String(value).slice(0, 20)}`;
      break;
    }
    case 4: {
      const arrays = keys.filter((k) => kvTypes[k]!.type === T.ARRAY && kvTypes[k]!.itemType !== T.ARRAY);
      if (arrays.length === 0) return null;
      const k = pick(r, arrays);
      const v = metadata[k] as unknown as { length: number; slice(a?: number, b?: number): unknown; constructor: new (x: unknown[]) => unknown };
      const c = int(r, 3);
      metadata[k] = (c === 0 ? v.slice(0, v.length - 1) : c === 1 ? v.slice(0, 0) : new v.constructor([...(v as unknown as unknown[]), ...(v as unknown as unknown[]).slice(0, 1)])) as GGUFValue;
      what = `${k}: ${['one item fewer', 'empty', 'one item more'][c]}`;
      break;
    }
    case 5:
      tensors.splice(tensors.indexOf(t), 1);
      what = `drop tensor ${t.name}`;
      break;
    case 6: {
      const other = pick(r, tensors);
      what = `rename tensor ${t.name} to ${other.name}`;
      t.name = other.name;
      break;
    }
    case 7: {
      const to = reinterpret(t, r);
      if (!to) return null;
      what = `tensor ${t.name} ${t.type.name} [${t.dims}] read as ${to.type.name} [${to.dims}]`;
      Object.assign(t, to);
      break;
    }
    default:
      if (t.dims.length < 2 || t.dims[1]! % t.type.blockElems !== 0) return null;
      t.dims = [t.dims[1]!, t.dims[0]!, ...t.dims.slice(2)];
      what = `tensor ${t.name} transposed to [${t.dims}]`;
  }
  try {
    return { bytes: writeGGUF({ metadata, kvTypes }, tensors, kvTypes['general.alignment'] ? undefined : file.alignment), what };
  } catch {
    return null;
  }
}

function llama2cMutations(): [number, Mutation][] {
  return [
    [4, (b, r) => {
      const i = int(r, 7);
      if (b.length < 28) return { bytes: b, what: `no header field ${L2C_HEADER[i]} (cut)` };
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const x = pick(r, [0, 1, -1, 2, 3, 7, 64, 65, -64, 0x7fffffff, -0x80000000, 1 << 20, v.getInt32(4 * i, true) * 2, v.getInt32(4 * i, true) + 1, -v.getInt32(4 * i, true)]);
      v.setInt32(4 * i, x, true);
      return { bytes: b, what: `${L2C_HEADER[i]} = ${x}` };
    }],
    [2, (b, r) => {
      const n = 1 + int(r, 4);
      let what = '';
      for (let i = 0; i < n; i++) what = writeBadFloat(b, 28 + 4 * int(r, Math.max(0, b.length - 28) >> 2), 4, r);
      return { bytes: b, what: `${n} weights = ${what}` };
    }],
  ];
}

function tokenizerBinMutations(b0: Uint8Array): [number, Mutation][] {
  const { fields, pieces } = mapTokenizerBin(b0);
  return [
    [3, (b, r) => {
      const f = pick(r, fields);
      if (f.kind === 'score') return { bytes: b, what: `${f.label} = ${writeBadFloat(b, f.off, 4, r)}` };
      const x = BigInt.asIntN(32, interestingInt(r, 4, readField(b, f), b.length));
      writeField(b, f, x);
      return { bytes: b, what: `${f.label} = ${x}` };
    }],
    [2, (b, r) => {
      const p = pick(r, pieces);
      return { bytes: b, what: `a piece: ${garbageInto(b, p.off, p.len, r)}` };
    }],
  ];
}

/** JSON values that break readers of config.json and safetensors headers. */
const BAD_JSON: unknown[] = [0, -1, 1, 2, 3, 0.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 32, 2 ** 31, 65, 1e-300, null, true, 'x', '', [], {}, [1, 2], -0];

function mutateJson(o: unknown, r: Rand, path = ''): string {
  // descend to a random leaf (or a container) and replace it, delete it, or grow it
  if (o && typeof o === 'object') {
    const keys = Object.keys(o);
    if (keys.length > 0 && r() < 0.85) {
      const k = pick(r, keys);
      const child = (o as Record<string, unknown>)[k];
      if (child && typeof child === 'object' && r() < 0.7) return mutateJson(child, r, `${path}.${k}`);
      const c = int(r, 10);
      if (c === 0 && !Array.isArray(o)) {
        delete (o as Record<string, unknown>)[k];
        return `delete ${path}.${k}`;
      }
      const x = typeof child === 'number' && c < 4 ? pick(r, [child + 1, child - 1, child * 2, Math.floor(child / 2), -child, child * 1e6]) : pick(r, BAD_JSON);
      (o as Record<string, unknown>)[k] = x;
      return `${path}.${k} = ${JSON.stringify(x)}`;
    }
    if (Array.isArray(o)) {
      o.push(pick(r, BAD_JSON));
      return `${path} push`;
    }
    (o as Record<string, unknown>)[`k${int(r, 10)}`] = pick(r, BAD_JSON);
    return `${path} add a key`;
  }
  return 'a scalar';
}

/** safetensors: the JSON header re-encoded after a structural edit (the length prefix kept right, or not). */
function safetensorsHeaderMutation(b: Uint8Array, r: Rand): { bytes: Uint8Array; what: string } {
  const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = pick(r, names);
  const t = header[name]!;
  const other = header[pick(r, names)]!;
  const dataBytes = b.length - 8 - n;
  let what: string;
  const c = int(r, 6);
  if (c === 0) what = `${name} dtype = ${(t.dtype = pick(r, ['F32', 'F16', 'BF16', 'F64', 'I8', 'U8', 'Q8_0', 'BOOL', '']))}`;
  else if (c === 1) {
    t.shape = pick(r, [[], [0], [t.shape[0]!], [...t.shape].reverse(), [t.shape[0]! * 2, ...t.shape.slice(1)], [1, ...t.shape], [2 ** 31, 2 ** 31], [-1, 16]]);
    what = `${name} shape = ${JSON.stringify(t.shape)}`;
  } else if (c === 2) {
    const [lo, hi] = t.data_offsets as [number, number];
    t.data_offsets = pick(r, [[lo, dataBytes + 4], [dataBytes, dataBytes + (hi - lo)], [hi, lo], [lo + 1, hi + 1], [lo + 2, hi], other.data_offsets, [0, hi - lo], [2 ** 53, 2 ** 53 + hi - lo], [-4, hi]]);
    what = `${name} data_offsets = ${JSON.stringify(t.data_offsets)}`;
  } else if (c === 3) {
    delete header[name];
    what = `delete ${name}`;
  } else if (c === 4) {
    header[name.replace(/layers\.0\./, 'layers.7.').replace(/^model\./, 'x.')] = t;
    delete header[name];
    what = `rename ${name}`;
  } else what = `header: ${mutateJson(header, r)}`;
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(r() < 0.9 ? text.length : n), true);
  out.set(text, 8);
  out.set(b.subarray(8 + n), 8 + text.length);
  return { bytes: out, what };
}

function pickWeighted<T>(r: Rand, list: [number, T][]): T {
  let total = 0;
  for (const [w] of list) total += w;
  let x = r() * total;
  for (const [w, m] of list) if ((x -= w) < 0) return m;
  return list[list.length - 1]![1];
}

/** Text mutations of JSONL: broken JSON, wrong shapes, hostile strings (invalid UTF-8 after decoding,
 * control characters, special-token text, prompts longer than any context). */
function mutateJsonl(text: string, r: Rand): { text: string; what: string } {
  const lines = text.split('\n');
  const i = int(r, lines.length);
  const c = int(r, 8);
  const hostile = pick(r, ['\u0000', '\uFFFD', '\uD800', '<s>', '</s>', '<|endoftext|>', '\u2581', 'x'.repeat(5000), ' '.repeat(300), '😀'.repeat(50), '\r\n', '\\u0000', '"', '\u202e', 'é'.normalize('NFD')]);
  if (c === 0) {
    const at = int(r, text.length + 1);
    return { text: text.slice(0, at), what: `truncate to ${at}` };
  }
  if (c === 1) {
    const at = int(r, text.length);
    return { text: text.slice(0, at) + String.fromCharCode(int(r, 128)) + text.slice(at + 1), what: `char at ${at}` };
  }
  if (c === 2 || c === 3) {
    let o: Record<string, unknown> = {};
    try {
      const v = JSON.parse(lines[i]!) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) o = v as Record<string, unknown>;
    } catch {
      /* a line already broken: start from an empty object */
    }
    const key = pick(r, ['prompt', 'response', 'text', 'domain', 'id']);
    o[key] = c === 2 ? pick(r, BAD_JSON) : `${String(o[key] ?? '')}${hostile}`;
    lines[i] = JSON.stringify(o);
    return { text: lines.join('\n'), what: `line ${i + 1} ${key} = ${JSON.stringify(o[key]).slice(0, 40)}` };
  }
  if (c === 4) {
    lines[i] = pick(r, ['null', '[]', '1', '"x"', '{', '{"prompt": "a"}', '{"prompt": "a", "response": 1}', '[[[[[[[[[[[[]]]]]]]]]]]]', '{"text": null}', '\uFEFF{"text": "bom"}', '{"__proto__": {"prompt": "p", "response": "r"}}']);
    return { text: lines.join('\n'), what: `line ${i + 1} = ${lines[i]}` };
  }
  if (c === 5) return { text: '', what: 'empty' };
  if (c === 6) return { text: lines.concat(lines).join('\r\n'), what: 'doubled, CRLF' };
  // raw bytes that are not UTF-8: decoded as readFile(…, 'utf8') does (U+FFFD)
  const bytes = new TextEncoder().encode(text);
  const at = int(r, bytes.length + 1);
  const g = pick(r, GARBAGE);
  const raw = new Uint8Array([...bytes.subarray(0, at), ...g, ...bytes.subarray(at)]);
  return { text: new TextDecoder().decode(raw), what: `bytes ${g.join(' ')} at ${at}` };
}

/** A 32-bit seed for one case of a campaign. */
function caseSeed(seed: number, id: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(id + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}

/** Every this-many cases one runs unmutated (the outcome must be tokens: the seeds are good). */
const CLEAN_EVERY = 50;

/** Case `id` of the campaign `seed`: a seed file of `target` (or of target id mod 5) with 1-3 mutations. */
export async function makeCase(seed: number, id: number, target?: Target): Promise<FuzzInput> {
  const s = await seeds();
  const r = rng(caseSeed(seed, id));
  const t = target ?? TARGETS[id % TARGETS.length]!;
  const base = pickWeighted(r, s.byTarget[t].map((x): [number, FuzzInput] => [x.weight ?? 1, x]));
  const input: FuzzInput = { ...base, mutations: [], model: base.model?.slice(), tokenizer: base.tokenizer?.slice(), selective: r() < 0.6 };
  if (id % CLEAN_EVERY === 0) return input;
  // open and pruning options, now and then: a policy the file may lack, a tight budget, a short context
  if (r() < 0.2) input.policy = pick(r, ['dense', 'static', 'prompt', 'learned'] as const);
  if (r() < 0.1) input.memoryBudget = pick(r, [1, 4096, 100_000, 300_000, 1 << 20]);
  if (r() < 0.1) input.contextLength = pick(r, [1, 2, 5, 16, 4096]);
  if (r() < 0.2) input.prompt = pick(r, PROMPTS);
  if (r() < 0.2) input.special = true;
  if (r() < 0.1) input.stop = [pick(r, ['', 'a', ' ', '<s>', '\uFFFD', 'x'.repeat(300), '\u0000']), pick(r, PROMPTS)];
  const n = r() < 0.7 ? 1 : r() < 0.7 ? 2 : 3;
  for (let k = 0; k < n; k++) {
    if (t === 'jsonl') {
      const m = mutateJsonl(input.jsonl!, r);
      input.jsonl = m.text;
      input.mutations.push(m.what);
      continue;
    }
    // which file: the model mostly; the tokenizer.bin and config.json of the formats that have them
    const which = t === 'llama2c' ? (r() < 0.7 ? 'model' : 'tokenizer') : t === 'safetensors' ? pick(r, ['model', 'model', 'header', 'config', 'tokenizer'] as const) : 'model';
    if (which === 'config') {
      const cfg = JSON.parse(input.config!) as object;
      input.mutations.push(`config.json: ${mutateJson(cfg, r)}`);
      input.config = JSON.stringify(cfg);
      continue;
    }
    if (which === 'header') {
      try {
        const m = safetensorsHeaderMutation(input.model!, r);
        input.model = m.bytes;
        input.mutations.push(`safetensors ${m.what}`);
      } catch {
        input.mutations.push('safetensors header: not JSON any more, left as is');
      }
      continue;
    }
    const bytes = which === 'tokenizer' ? input.tokenizer! : input.model!;
    let list: [number, Mutation][];
    if (which === 'tokenizer') list = [...byteMutations(bytes.length), ...tokenizerBinMutations(base.tokenizer!)];
    else if (t === 'llama2c') list = [...byteMutations(28), ...llama2cMutations()];
    else if (t === 'safetensors') list = byteMutations(bytes.length >> 3);
    else if (r() < 0.25) {
      const m = await ggufRewrite(bytes, r);
      input.mutations.push(m ? `model: ${m.what}` : 'model: rewrite not possible, left as is');
      if (m) input.model = m.bytes;
      continue;
    } else {
      // the map of the seed, valid for the bytes as long as earlier mutations kept the layout
      const m = mapGguf(base.model!);
      list = [...byteMutations(m.dataOffset), ...ggufMutations(m)];
    }
    const m = pickWeighted(r, list)(bytes, r);
    if (n === 1 && m.nonFinite && READ_IN_FULL.test(m.nonFinite)) input.expect = 'numeric';
    input.mutations.push(`${which === 'tokenizer' ? 'tokenizer.bin' : 'model'}: ${m.what}`);
    if (which === 'tokenizer') input.tokenizer = m.bytes;
    else input.model = m.bytes;
  }
  return input;
}

// ---------------------------------------------------------------------------------------------------
// running one case

/** How a case ended. `failure` is set when it is not an acceptable outcome. */
export interface Outcome {
  /** 'ok', an IfpruneError code, or what went wrong ('trap', 'exception', 'hang', 'crash', 'memory', 'bad_result'). */
  result: string;
  message?: string;
  failure?: 'trap' | 'exception' | 'unknown_code' | 'hang' | 'crash' | 'memory' | 'bad_result' | 'nan_text';
  tokens?: number;
  ms: number;
  /** Largest wasm memory a runtime instance of this case grew to. */
  wasmBytes: number;
}

/** Runtime instances created during the current case (their memories are measured after it). */
const instances: WebAssembly.Instance[] = [];
let hooked = false;

/** Records every instance the runtime host creates, to read its memory size afterwards (the host keeps
 * its instance private; this is the fuzzer's measuring tap, not a change of behaviour). */
function hookInstantiate(): void {
  if (hooked) return;
  hooked = true;
  const orig = WebAssembly.instantiate.bind(WebAssembly) as (m: WebAssembly.Module, i?: WebAssembly.Imports) => Promise<WebAssembly.Instance>;
  (WebAssembly as { instantiate: unknown }).instantiate = async (m: WebAssembly.Module, imports?: WebAssembly.Imports) => {
    const inst = await orig(m, imports);
    if (inst instanceof WebAssembly.Instance) instances.push(inst);
    return inst;
  };
}

/** Runs the tokens of one generation; checks ids against the vocabulary and the count against maxTokens. */
async function tokensOf(it: AsyncIterable<{ id: number; text: string }>, vocab: number): Promise<number> {
  let n = 0;
  for await (const t of it) {
    n++;
    if (!(Number.isInteger(t.id) && t.id >= 0 && t.id < vocab) || typeof t.text !== 'string') throw new BadResult(`token ${JSON.stringify(t)} is outside the vocabulary of ${vocab}`);
    if (n > GEN_TOKENS) throw new BadResult(`more than ${GEN_TOKENS} tokens for maxTokens ${GEN_TOKENS}`);
  }
  return n;
}

class BadResult extends Error {}

/** Open, (instruct + load | generate with a density), generate: the whole path a user's file takes. */
async function runModel(input: FuzzInput, module: WebAssembly.Module, id: number): Promise<number> {
  let config: object | undefined;
  if (input.config !== undefined) {
    try {
      config = JSON.parse(input.config) as object;
    } catch (cause) {
      // what open() by name does with a config.json that is not JSON (src/platform/resolve.ts readConfigJson)
      throw new IfpruneError('corrupt', `config.json is not valid JSON (${(cause as Error).message})`, { cause });
    }
  }
  await inspectParse(input, config);
  const bundledFile = input.target === 'gguf-bundled';
  const model = await open(memorySource(input.model!, input.name ?? 'model'), {
    module, ffn: bundledFile && input.selective ? 'selective' : 'auto', tokenizer: input.tokenizer, config, memoryBudget: input.memoryBudget ?? 256 << 20, contextLength: input.contextLength,
  });
  try {
    const gen = { maxTokens: GEN_TOKENS, temperature: id % 2 === 0 ? 0 : 0.8, seed: id, policy: input.policy, special: input.special, stop: input.stop };
    const prompt = input.prompt ?? PROMPT;
    if (bundledFile && input.selective) {
      const ins = await model.instruct(prompt, { density: DENSITY, policy: input.policy, special: input.special });
      await model.load(ins);
      const n = await tokensOf(model.generate(prompt, gen), model.config.vocabSize);
      // a second instruction on the same model: other neurons through the cache (evicting under a tight budget)
      const again = await model.instruct(PROMPT_2, { density: DENSITY / 2, policy: input.policy });
      await model.load(again);
      return n + (await tokensOf(model.generate(PROMPT_2, gen), model.config.vocabSize));
    }
    return await tokensOf(model.generate(prompt, bundledFile ? { ...gen, density: DENSITY } : gen), model.config.vocabSize);
  } finally {
    await model.close();
  }
}

/** The jsonl target: parse the lines as calibrate / eval do, then run each prompt (and prompt +
 * response through the tokenizer) on a good bundled model at density 0.5. */
async function runJsonl(input: FuzzInput, module: WebAssembly.Module, modelBytes: Uint8Array, id: number): Promise<number> {
  const examples = parseCalibrationJsonl(input.jsonl!, 'fuzz.jsonl');
  const model = await open(modelBytes, { module, ffn: 'selective' });
  try {
    let n = 0;
    for (const ex of examples.slice(0, 3)) {
      const prompt = 'prompt' in ex ? ex.prompt : ex.text;
      if ('prompt' in ex) model.tokenizer.encode(ex.prompt + ex.response, { bos: true });
      try {
        n += await tokensOf(model.generate(prompt, { maxTokens: GEN_TOKENS, density: DENSITY, temperature: 0, seed: id }), model.config.vocabSize);
      } catch (e) {
        // a prompt longer than the context is the answer for that line; the next lines still run
        if (!isIfpruneError(e, 'context_overflow')) throw e;
      }
    }
    return n;
  } finally {
    await model.close();
  }
}

/** What `ifprune inspect` (and convert, calibrate, eval) read first: the TypeScript parse of the header,
 * tensor table, tokenizer and ifprune metadata (src/cli/inspect.ts inspectModel, without the file I/O).
 * Its IfpruneErrors are answers; anything else it throws is a failure of the case. */
async function inspectParse(input: FuzzInput, config: object | undefined): Promise<void> {
  try {
    const src = memorySource(input.model!, input.name ?? 'model');
    const spec = await openModel(src, { config });
    const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, src.name);
    if (info?.bundles.length) summarizeLayout(info, src.size);
  } catch (e) {
    if (isIfpruneError(e)) return;
    throw new InspectFailure(`inspect (the TypeScript parsers): ${String((e as Error)?.stack ?? e)}`);
  }
}

class InspectFailure extends Error {}

/** How a thrown value ends a case: an IfpruneError with a known code is an answer; a trap (a wasm
 * RuntimeError, or an internal abort of the runtime that src/runtime.ts reports as 'corrupt'), an
 * unknown code, any other exception or a bad result is a failure. */
export function classify(e: unknown): Omit<Outcome, 'ms' | 'wasmBytes'> {
  if (e instanceof BadResult) return { result: 'bad_result', failure: 'bad_result', message: e.message };
  if (e instanceof InspectFailure) return { result: 'exception', failure: 'exception', message: e.message };
  if (isIfpruneError(e)) {
    if (e.message.startsWith(RUNTIME_ABORT)) return { result: 'trap', failure: 'trap', message: e.message };
    if (!KNOWN_CODES.includes(e.code)) return { result: String(e.code), failure: 'unknown_code', message: e.message };
    return { result: e.code, message: e.message };
  }
  if (e instanceof WebAssembly.RuntimeError) return { result: 'trap', failure: 'trap', message: String(e.stack ?? e) };
  return { result: 'exception', failure: 'exception', message: String((e as Error)?.stack ?? e) };
}

/** Runs one input and classifies how it ended. */
export async function runInput(input: FuzzInput, id = 0, bound: (inputBytes: number) => number = memoryBound): Promise<Outcome> {
  hookInstantiate();
  const module = await loadRuntime('simd');
  const { jsonlModel } = input.target === 'jsonl' ? await seeds() : { jsonlModel: null };
  instances.length = 0;
  const t0 = performance.now();
  let out: Omit<Outcome, 'ms' | 'wasmBytes'>;
  try {
    const tokens = input.target === 'jsonl' ? await runJsonl(input, module, jsonlModel!, id) : await runModel(input, module, id);
    out = { result: 'ok', tokens };
  } catch (e) {
    out = classify(e);
  }
  const ms = performance.now() - t0;
  const wasmBytes = Math.max(0, ...instances.map((i) => (i.exports.memory as WebAssembly.Memory).buffer.byteLength));
  instances.length = 0;
  if (input.expect && out.result === 'ok') {
    out = { ...out, result: 'nan_text', failure: 'nan_text', message: `${input.mutations.join('; ')}: a tensor every forward pass reads in full holds NaN/Inf, yet the case generated ${out.tokens} tokens instead of '${input.expect}'` };
  }
  const given = inputBytes(input) + (input.target === 'jsonl' ? jsonlModel!.length : 0);
  const limit = bound(given);
  if (!out.failure && wasmBytes > limit) {
    out = { ...out, result: 'memory', failure: 'memory', message: `wasm memory grew to ${wasmBytes} bytes for ${given} bytes of input (bound ${limit}); outcome was ${out.result}` };
  }
  return { ...out, ms, wasmBytes };
}

// ---------------------------------------------------------------------------------------------------
// the campaign: cases in a child process, a watchdog in this one

export interface CampaignOptions {
  cases: number;
  seed: number;
  target?: Target;
  timeoutMs?: number;
  /** Where failing inputs are saved (default: $TMPDIR/ifprune-fuzz). */
  out?: string;
  /** Called every few seconds with the progress so far. */
  onProgress?: (s: Summary) => void;
}

export interface FailureRecord {
  id: number;
  target: Target;
  seed: string;
  mutations: string[];
  outcome: Outcome;
  /** The folder holding its input files and case.json. */
  saved: string;
}

export interface Summary {
  cases: number;
  seed: number;
  target: Target | 'all';
  /** Outcomes by result ('ok' or an error code), and by target. */
  outcomes: Record<string, number>;
  byTarget: Record<string, Record<string, number>>;
  failures: FailureRecord[];
  hangs: number;
  crashes: number;
  /** Cases whose first run hung or died but whose rerun alone ended in time (not failures; listed). */
  stalls: { id: number; first: 'hang' | 'crash'; ms: number; message: string }[];
  slowest: { id: number; target: Target; ms: number; result: string } | null;
  /** Peak resident set of the worker processes (the parent's excluded), and the largest wasm memory of a case. */
  peakRssBytes: number;
  peakWasmBytes: number;
  seconds: number;
  casesPerSecond: number;
  /** Worker CPU time (user + system) per case. */
  cpuMsPerCase: number;
}

/** The files of an input under `dir` (model, tokenizer.bin, config.json, data.jsonl) and case.json. */
export function saveInput(dir: string, input: FuzzInput, meta: object): void {
  mkdirSync(dir, { recursive: true });
  if (input.model) writeFileSync(join(dir, input.name ?? 'model'), input.model);
  if (input.tokenizer) writeFileSync(join(dir, 'tokenizer.bin'), input.tokenizer);
  if (input.config !== undefined) writeFileSync(join(dir, 'config.json'), input.config);
  if (input.jsonl !== undefined) writeFileSync(join(dir, 'data.jsonl'), input.jsonl);
  const { target, seed, mutations, selective, policy, memoryBudget, contextLength, prompt, special, stop, expect } = input;
  const files = { model: input.model ? (input.name ?? 'model') : undefined };
  writeFileSync(join(dir, 'case.json'), JSON.stringify({ target, seed, mutations, selective, policy, memoryBudget, contextLength, prompt, special, stop, expect, ...files, ...meta }, null, 1) + '\n');
}

/** An input saved by saveInput (a failure found, or a regression fixture in test/fixtures/fuzz/). */
export function loadInput(dir: string): { input: FuzzInput; meta: Record<string, unknown> } {
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as Record<string, unknown> & Partial<FuzzInput> & { model?: string };
  const file = (name: string) => (existsSync(join(dir, name)) ? new Uint8Array(readFileSync(join(dir, name))) : undefined);
  const text = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined);
  const input: FuzzInput = {
    target: meta.target!, seed: meta.seed!, mutations: meta.mutations ?? [], selective: meta.selective, policy: meta.policy, memoryBudget: meta.memoryBudget, contextLength: meta.contextLength,
    prompt: meta.prompt, special: meta.special, stop: meta.stop, expect: meta.expect === 'numeric' ? 'numeric' : undefined,
    model: meta.model ? file(meta.model) : undefined, name: meta.model, tokenizer: file('tokenizer.bin'), config: text('config.json'), jsonl: text('data.jsonl'),
  };
  return { input, meta };
}

type ToChild = { type: 'run'; id: number };
type FromChild = { type: 'ready' } | { type: 'done'; id: number; outcome: Outcome; maxRssKiB: number; cpuUs: number };

const SELF = fileURLToPath(import.meta.url);

class Worker {
  readonly child: ChildProcess;
  private waiting: ((m: FromChild | null) => void) | null = null;
  private exited = false;
  /** Killed by the watchdog (a hang), rather than exited by itself (a crash). */
  timedOut = false;
  stderr = '';
  exit = '';
  constructor(opts: { seed: number; target?: Target }) {
    this.child = fork(SELF, ['--child', String(opts.seed), opts.target ?? ''], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    // a worker's stderr is kept (its end) for the report of a crash, not printed
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    this.child.on('message', (m: FromChild) => this.resolve(m));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      this.exit = `exit code ${code}, signal ${signal}`;
      this.resolve(null);
    });
  }

  private resolve(m: FromChild | null): void {
    const w = this.waiting;
    this.waiting = null;
    w?.(m);
  }

  /**
   * The next message, or null when the worker exited or ran out of time (then it is killed): `ms` of its
   * CPU time where the OS reports it (Linux /proc), so a worker starved by a busy machine is not taken
   * for a hang, and WALL_FACTOR × `ms` of wall time in any case (a case waiting forever uses no CPU).
   */
  next(ms: number): Promise<FromChild | null> {
    if (this.exited) return Promise.resolve(null);
    const cpu0 = this.cpuMs();
    const t0 = performance.now();
    return new Promise((res) => {
      const check = () => {
        const cpu = this.cpuMs();
        const over = cpu !== null && cpu0 !== null ? cpu - cpu0 > ms : performance.now() - t0 > ms;
        if (over || performance.now() - t0 > WALL_FACTOR * ms) {
          this.timedOut = true;
          this.kill();
          this.resolve(null);
        }
      };
      const timer = setInterval(check, Math.min(ms, WATCH_EVERY_MS));
      this.waiting = (m) => {
        clearInterval(timer);
        res(m);
      };
    });
  }

  /** The worker's CPU time (user + system) in ms from /proc/<pid>/stat, or null where there is none. */
  private cpuMs(): number | null {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields 3.. (state first)
      return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS; // utime, stime (fields 14, 15)
    } catch {
      return null;
    }
  }

  send(m: ToChild): void {
    this.child.send(m);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/** The watchdog looks this often; a case may take WALL_FACTOR × the bound in wall time (CPU time decides). */
const WATCH_EVERY_MS = 100;
const WALL_FACTOR = 10;
/** Linux's USER_HZ, the unit of utime and stime in /proc/<pid>/stat (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** A worker's start: tsx, the runtime, the seed files. */
const STARTUP_MS = 120_000;

export async function runCampaign(o: CampaignOptions): Promise<Summary> {
  const timeoutMs = o.timeoutMs ?? 5000;
  const out = resolve(o.out ?? join(tmpdir(), 'ifprune-fuzz'));
  const t0 = performance.now();
  const s: Summary = {
    cases: 0, seed: o.seed, target: o.target ?? 'all', outcomes: {}, byTarget: {}, failures: [], hangs: 0, crashes: 0, stalls: [], slowest: null,
    peakRssBytes: 0, peakWasmBytes: 0, seconds: 0, casesPerSecond: 0, cpuMsPerCase: 0,
  };
  let cpuUs = 0;
  let lastProgress = performance.now();
  let worker: Worker | null = null;
  let cpuBase = 0; // a restarted worker's CPU clock starts again at 0
  const start = async (): Promise<Worker> => {
    const w = new Worker(o);
    const m = await w.next(STARTUP_MS);
    if (m?.type !== 'ready') throw new IfpruneError('corrupt', `the fuzz worker did not start (${m ? JSON.stringify(m) : 'it exited or timed out'}); run a case alone: node --import tsx tools/fuzz.ts --cases 1 --seed ${o.seed}`);
    return w;
  };
  try {
    for (let id = 0; id < o.cases; id++) {
      worker ??= await start();
      worker.send({ type: 'run', id });
      const tCase = performance.now();
      let m = await worker.next(timeoutMs);
      let outcome: Outcome | null = null;
      let stall: Summary['stalls'][number] | null = null;
      for (let attempt = 0; !outcome; attempt++) {
        if (m?.type === 'done') {
          outcome = m.outcome;
          if (stall) s.stalls.push(stall);
          s.peakRssBytes = Math.max(s.peakRssBytes, m.maxRssKiB * 1024);
          cpuUs = cpuBase + m.cpuUs;
          break;
        }
        const hung = worker!.timedOut;
        worker!.kill();
        if (!hung) await new Promise((res) => setTimeout(res, 100)); // let its exit status and stderr arrive
        cpuBase = cpuUs;
        const ms = performance.now() - tCase;
        const what = hung ? `no outcome within ${timeoutMs} ms of CPU time (or ${WALL_FACTOR * timeoutMs} ms of wall time): the worker was killed` : `the worker process died (${worker!.exit || 'no exit status'}): ${worker!.stderr.trim() || 'nothing on stderr'}`;
        worker = null;
        if (attempt === 0) {
          // Confirm alone, in a fresh worker: on a loaded machine a worker can stall past the bound (or
          // be killed) for reasons of its own. A case that then ends in time is counted as a stall and
          // judged by that outcome; one that hangs or dies again is a failure.
          stall = { id, first: hung ? 'hang' : 'crash', ms, message: what };
          worker = await start();
          worker.send({ type: 'run', id });
          m = await worker.next(timeoutMs);
          continue;
        }
        outcome = { result: hung ? 'hang' : 'crash', failure: hung ? 'hang' : 'crash', message: `${what} (twice: also alone in a fresh worker)`, ms, wasmBytes: 0 };
        if (hung) s.hangs++;
        else s.crashes++;
      }
      let input: FuzzInput;
      try {
        input = await makeCase(o.seed, id, o.target);
      } catch (e) {
        // a bug of the fuzzer's own mutators: reported as a failure of the case, and the run goes on
        input = { target: o.target ?? TARGETS[id % TARGETS.length]!, seed: '?', mutations: [] };
        outcome = { result: 'exception', failure: 'exception', message: `the fuzzer could not make case ${id}: ${String((e as Error)?.stack ?? e)}`, ms: 0, wasmBytes: 0 };
      }
      s.cases++;
      s.outcomes[outcome.result] = (s.outcomes[outcome.result] ?? 0) + 1;
      const bt = (s.byTarget[input.target] ??= {});
      bt[outcome.result] = (bt[outcome.result] ?? 0) + 1;
      s.peakWasmBytes = Math.max(s.peakWasmBytes, outcome.wasmBytes);
      if (!s.slowest || outcome.ms > s.slowest.ms) s.slowest = { id, target: input.target, ms: outcome.ms, result: outcome.result };
      if (outcome.failure) {
        const dir = join(out, `${input.target}-seed${o.seed}-case${id}`);
        saveInput(dir, input, { campaignSeed: o.seed, case: id, outcome });
        s.failures.push({ id, target: input.target, seed: input.seed, mutations: input.mutations, outcome, saved: dir });
      }
      if (o.onProgress && performance.now() - lastProgress > 5000) {
        lastProgress = performance.now();
        finish(s, t0, cpuUs);
        o.onProgress(s);
      }
    }
  } finally {
    worker?.kill();
  }
  return finish(s, t0, cpuUs);
}

function finish(s: Summary, t0: number, cpuUs: number): Summary {
  s.seconds = (performance.now() - t0) / 1000;
  s.casesPerSecond = s.cases / s.seconds;
  s.cpuMsPerCase = s.cases ? cpuUs / 1000 / s.cases : 0;
  return s;
}

/** The worker: runs the cases the parent names, one at a time, and reports each outcome. */
async function child(seed: number, target: Target | undefined): Promise<void> {
  await seeds();
  await loadRuntime('simd');
  const send = (m: FromChild) => process.send!(m);
  process.on('message', (m: ToChild) => {
    void (async () => {
      let outcome: Outcome;
      try {
        outcome = await runInput(await makeCase(seed, m.id, target), m.id);
      } catch (e) {
        outcome = { result: 'exception', failure: 'exception', message: `the fuzzer could not make or run case ${m.id}: ${String((e as Error)?.stack ?? e)}`, ms: 0, wasmBytes: 0 };
      }
      const cpu = process.cpuUsage();
      send({ type: 'done', id: m.id, outcome, maxRssKiB: process.resourceUsage().maxRSS, cpuUs: cpu.user + cpu.system });
    })();
  });
  send({ type: 'ready' });
}

// ---------------------------------------------------------------------------------------------------
// CLI

const COMMAND: CommandInfo = {
  name: 'fuzz',
  usage: ['npm run fuzz -- --cases N --seed S [--target T] [--timeout-ms MS] [--out DIR] [--json]', 'npm run fuzz -- --case I --seed S [--target T]', 'npm run fuzz -- --replay DIR'],
  summary: `mutates tiny seed files of every input ifprune reads and runs each through open, load at density ${DENSITY} and ${GEN_TOKENS} generated tokens`,
  options: [
    { name: 'cases', kind: 'string', value: 'N', help: 'cases to run (default 1000)' },
    { name: 'seed', kind: 'string', value: 'S', help: 'campaign seed, an integer (default 1); case i of seed S is always the same input' },
    { name: 'target', kind: 'string', value: 'T', help: `${TARGETS.join(' | ')} (default: all, in turn)` },
    { name: 'timeout-ms', kind: 'string', value: 'MS', help: 'a case running longer is a hang: its worker is killed (default 5000)' },
    { name: 'out', kind: 'string', value: 'DIR', help: 'where failing inputs go (default $TMPDIR/ifprune-fuzz)' },
    { name: 'case', kind: 'string', value: 'I', help: "run only case I, in this process, and print its input's mutations and outcome" },
    { name: 'replay', kind: 'string', value: 'DIR', help: 'run a saved input (a failure\'s folder, or one of test/fixtures/fuzz/) in this process' },
    { name: 'json', kind: 'boolean', help: 'print the summary as JSON on stdout (progress still goes to stderr)' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'this text' },
  ],
  details:
    `Every case must end in tokens or an IfpruneError with a known code, within the time bound, without growing\n` +
    `wasm memory past ${MEMORY_BOUND.baseBytes >> 20} MiB + ${MEMORY_BOUND.perInputByte} × its input. Failures are saved (input files + case.json) under\n` +
    '--out; the exit code is then 1. See docs/reliability.md.',
};

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function printSummary(s: Summary): void {
  const w = (l: string) => process.stdout.write(l + '\n');
  w(`fuzz: ${s.cases} cases (seed ${s.seed}, target ${s.target}) in ${s.seconds.toFixed(1)} s, ${s.casesPerSecond.toFixed(1)} cases/s, ${s.cpuMsPerCase.toFixed(1)} ms worker CPU per case`);
  const results = Object.keys(s.outcomes).sort((a, b) => s.outcomes[b]! - s.outcomes[a]!);
  w(`${'target'.padEnd(14)}${results.map((r) => r.padStart(Math.max(8, r.length + 2))).join('')}`);
  for (const [t, counts] of Object.entries(s.byTarget)) w(`${t.padEnd(14)}${results.map((r) => String(counts[r] ?? 0).padStart(Math.max(8, r.length + 2))).join('')}`);
  w(`${'all'.padEnd(14)}${results.map((r) => String(s.outcomes[r]).padStart(Math.max(8, r.length + 2))).join('')}`);
  w(`failures: ${s.failures.length} (hangs ${s.hangs}, crashes ${s.crashes}); peak worker RSS ${mib(s.peakRssBytes)}; largest wasm memory ${mib(s.peakWasmBytes)}`);
  if (s.stalls.length) w(`stalls (hung or died once, then ended in time alone; not failures): ${s.stalls.map((x) => `case ${x.id} (${x.first})`).join(', ')}`);
  if (s.slowest) w(`slowest: case ${s.slowest.id} (${s.slowest.target}, ${s.slowest.result}) ${s.slowest.ms.toFixed(0)} ms`);
  for (const f of s.failures) w(`FAIL case ${f.id} (${f.target}, ${f.seed}; ${f.mutations.join('; ')}): ${f.outcome.result}: ${f.outcome.message?.split('\n')[0]} → ${f.saved}`);
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, COMMAND.options, 'fuzz');
  if (argv.length === 0 || flagOption(args, 'help')) {
    process.stdout.write(formatHelp(COMMAND));
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument "${escapeText(args.positionals[0]!)}"; see --help`, 'fuzz');
  const count = { min: 0 };
  const cases = intOption(args, 'cases', count, 'fuzz') ?? 1000;
  const seed = intOption(args, 'seed', { min: 0, max: 0xffffffff }, 'fuzz') ?? 1;
  const timeoutMs = intOption(args, 'timeout-ms', { min: 1 }, 'fuzz') ?? 5000;
  const only = intOption(args, 'case', count, 'fuzz');
  const target = choiceOption(args, 'target', TARGETS, 'fuzz');
  const out = stringOption(args, 'out');
  const replay = stringOption(args, 'replay');
  const json = flagOption(args, 'json');
  if (replay !== undefined) {
    const { input } = loadInput(replay);
    const outcome = await runInput(input);
    process.stdout.write(JSON.stringify({ replay, target: input.target, seed: input.seed, mutations: input.mutations, outcome }, null, 1) + '\n');
    return outcome.failure ? 1 : 0;
  }
  if (only !== undefined) {
    const input = await makeCase(seed, only, target);
    const outcome = await runInput(input, only);
    process.stdout.write(JSON.stringify({ case: only, target: input.target, seed: input.seed, mutations: input.mutations, outcome }, null, 1) + '\n');
    return outcome.failure ? 1 : 0;
  }
  const s = await runCampaign({
    cases, seed, target, timeoutMs, out,
    onProgress: (p) => process.stderr.write(`fuzz: ${p.cases}/${cases} cases, ${p.casesPerSecond.toFixed(1)}/s, ${p.failures.length} failures, peak RSS ${mib(p.peakRssBytes)}\n`),
  });
  if (json) process.stdout.write(JSON.stringify(s) + '\n');
  else printSummary(s);
  return s.failures.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  if (process.argv[2] === '--child') {
    void child(Number(process.argv[3]), (process.argv[4] || undefined) as Target | undefined);
  } else {
    main(process.argv.slice(2)).then(
      (code) => (process.exitCode = code),
      (e) => {
        process.stderr.write(`fuzz: ${isIfpruneError(e) ? `${e.code}: ${e.message}` : (e?.stack ?? String(e))}\n`);
        process.exitCode = isIfpruneError(e, 'bad_option') ? 2 : 1;
      },
    );
  }
}
