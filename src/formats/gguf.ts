/**
 * GGUF reader, versions 2 and 3 (ggml docs/gguf.md, include/gguf.h). All numbers little-endian.
 *
 *   field                 type                  bytes
 *   magic                 "GGUF"                4
 *   version               uint32                4        2 or 3 (1 had uint32 counts and lengths: refused)
 *   n_tensors             uint64                8
 *   n_kv                  uint64                8
 *   kv[n_kv]
 *     key                 string                8 + n    string = uint64 byte length + UTF-8 bytes, no NUL
 *     value_type          uint32                4        GGUFValueType below
 *     value               by type               1..8     bool = 1 byte 0/1; string as above;
 *                                                         array = uint32 item type + uint64 count + items
 *   tensor_info[n_tensors]
 *     name                string                8 + n
 *     n_dims              uint32                4        1..4
 *     dims                uint64[n_dims]        8·n      ne0 (the contiguous, innermost dim) first
 *     type                uint32                4        GGML type id, see quant.ts
 *     offset              uint64                8        from the start of tensor data, a multiple of alignment
 *   padding                                     0..a-1   to a multiple of general.alignment (uint32, default 32)
 *   tensor data                                          tensor i at data start + offset_i
 *
 * This file knows block sizes (quant.ts) and nothing about dequantisation, and maps a llama / qwen2
 * file to the format-independent ModelSpec.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { ByteReader, HOST_LITTLE_ENDIAN, alignUp, describeSource, readAt } from '../sources/read.ts';
import type { TokenizerData } from '../tokenizer/types.ts';
import type { ModelConfig, ModelSpec, TensorRef } from './model-spec.ts';
import { quantById, type QuantType } from './quant.ts';
import { checkModelSpec } from './spec-check.ts';
import { looksLikeLlama2c, llama2cExportVersion } from './llama2c.ts';
import { looksLikeSafetensors } from './safetensors.ts';

/** Longest name or string from a file quoted whole in a message (assembly/rt/reader.ts MAX_QUOTED_CHARS). */
export const MAX_QUOTED_CHARS = 80;

/**
 * A key, tensor name or string read from a file, for an error message: JSON-quoted (control characters
 * escaped) and cut to MAX_QUOTED_CHARS, so a damaged length that makes a "name" megabytes long does not
 * make every message that long (as the runtime's quoted()).
 */
export function quoted(s: string): string {
  if (s.length <= MAX_QUOTED_CHARS) return JSON.stringify(s);
  const cut = JSON.stringify(s.slice(0, MAX_QUOTED_CHARS));
  return `${cut.slice(0, -1)}…" (${s.length} characters)`;
}

export const GGUF_MAGIC = 'GGUF';
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** GGML_MAX_DIMS */
export const GGUF_MAX_DIMS = 4;
/** Arrays of arrays deeper than this are refused (none exist in practice; it bounds recursion). */
export const GGUF_MAX_ARRAY_DEPTH = 4;

/** Metadata value types, as written in the file (gguf.h enum gguf_type). Shared by reader and writer. */
export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueType = (typeof GGUFValueType)[keyof typeof GGUFValueType];

export type GGUFTypedArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array;
/** Numbers for 8..32-bit ints and floats, bigint for 64-bit ints, boolean, string. */
export type GGUFScalar = number | bigint | boolean | string;
/** Numeric arrays decode to typed arrays (64-bit ints to BigInt64Array / BigUint64Array), bool arrays
 * to boolean[], string arrays to string[], arrays of arrays to arrays of these. */
export type GGUFArray = GGUFTypedArray | boolean[] | string[] | GGUFArray[];
export type GGUFValue = GGUFScalar | GGUFArray;

/**
 * The declared type of a value, kept so a writer can round-trip it: `type` is its GGUFValueType; an
 * array also has `itemType`; an array of arrays also has `items`, the type of each inner array (each
 * inner array declares its own item type in the file).
 */
export interface GGUFType {
  type: GGUFValueType;
  itemType?: GGUFValueType;
  items?: GGUFType[];
}

/** One metadata entry, in file order. */
export interface GGUFKV {
  key: string;
  type: GGUFType;
  value: GGUFValue;
}

type TypedArrayCtor = { new (buffer: ArrayBuffer): GGUFTypedArray; BYTES_PER_ELEMENT: number };

/** Fixed-size value types: size, the typed array an array of them decodes to, and DataView access. */
export interface GGUFFixedType {
  name: string;
  bytes: number;
  /** Absent for BOOL, whose arrays decode to boolean[]. */
  array?: TypedArrayCtor;
  get(v: DataView, o: number): number | bigint | boolean;
  set(v: DataView, o: number, x: number | bigint | boolean): void;
}

export const GGUF_FIXED_TYPES: Record<number, GGUFFixedType> = {
  [GGUFValueType.UINT8]: { name: 'UINT8', bytes: 1, array: Uint8Array, get: (v, o) => v.getUint8(o), set: (v, o, x) => v.setUint8(o, x as number) },
  [GGUFValueType.INT8]: { name: 'INT8', bytes: 1, array: Int8Array, get: (v, o) => v.getInt8(o), set: (v, o, x) => v.setInt8(o, x as number) },
  [GGUFValueType.UINT16]: { name: 'UINT16', bytes: 2, array: Uint16Array, get: (v, o) => v.getUint16(o, true), set: (v, o, x) => v.setUint16(o, x as number, true) },
  [GGUFValueType.INT16]: { name: 'INT16', bytes: 2, array: Int16Array, get: (v, o) => v.getInt16(o, true), set: (v, o, x) => v.setInt16(o, x as number, true) },
  [GGUFValueType.UINT32]: { name: 'UINT32', bytes: 4, array: Uint32Array, get: (v, o) => v.getUint32(o, true), set: (v, o, x) => v.setUint32(o, x as number, true) },
  [GGUFValueType.INT32]: { name: 'INT32', bytes: 4, array: Int32Array, get: (v, o) => v.getInt32(o, true), set: (v, o, x) => v.setInt32(o, x as number, true) },
  [GGUFValueType.FLOAT32]: { name: 'FLOAT32', bytes: 4, array: Float32Array, get: (v, o) => v.getFloat32(o, true), set: (v, o, x) => v.setFloat32(o, x as number, true) },
  [GGUFValueType.BOOL]: { name: 'BOOL', bytes: 1, get: (v, o) => v.getUint8(o) !== 0, set: (v, o, x) => v.setUint8(o, x ? 1 : 0) },
  [GGUFValueType.UINT64]: { name: 'UINT64', bytes: 8, array: BigUint64Array, get: (v, o) => v.getBigUint64(o, true), set: (v, o, x) => v.setBigUint64(o, x as bigint, true) },
  [GGUFValueType.INT64]: { name: 'INT64', bytes: 8, array: BigInt64Array, get: (v, o) => v.getBigInt64(o, true), set: (v, o, x) => v.setBigInt64(o, x as bigint, true) },
  [GGUFValueType.FLOAT64]: { name: 'FLOAT64', bytes: 8, array: Float64Array, get: (v, o) => v.getFloat64(o, true), set: (v, o, x) => v.setFloat64(o, x as number, true) },
};

export function ggufTypeName(t: number): string {
  return t === GGUFValueType.STRING ? 'STRING' : t === GGUFValueType.ARRAY ? 'ARRAY' : (GGUF_FIXED_TYPES[t]?.name ?? `unknown type ${t}`);
}

/** Fewest bytes one value of type `t` occupies: bounds counts before anything is allocated by them. */
export function ggufMinValueBytes(t: number): number {
  if (t === GGUFValueType.STRING) return 8; // uint64 length
  if (t === GGUFValueType.ARRAY) return 4 + 8; // item type + count
  return GGUF_FIXED_TYPES[t]!.bytes;
}

export interface GGUFTensorInfo {
  name: string;
  /** GGUF order: dims[0] = ne0, the innermost (contiguous) dimension. */
  dims: number[];
  type: QuantType;
  /** Offset from the start of tensor data, as stored. */
  relOffset: number;
  /** Absolute offset in the file: tensorDataOffset + relOffset. */
  offset: number;
  elements: number;
  bytes: number;
}

export interface GGUFFile {
  version: 2 | 3;
  alignment: number;
  /** Values by key. Object key order is file order, except that integer-like keys come first. */
  metadata: Record<string, GGUFValue>;
  /** Declared type of each key's value (for writing the file back). */
  kvTypes: Record<string, GGUFType>;
  /** In file order. */
  tensors: GGUFTensorInfo[];
  /** Absolute offset of tensor data (end of the tensor infos, aligned). */
  tensorDataOffset: number;
}

// ---------------------------------------------------------------------------------------------------
// parseGGUF

export async function parseGGUF(src: ByteSource, signal?: AbortSignal): Promise<GGUFFile> {
  const head = await readAt(src, 0, Math.min(src.size, 32), 'GGUF header', signal);
  checkMagic(src, head);

  const r = new ByteReader(src, 4, signal);
  r.context = 'GGUF header';
  const version = await r.u32('version');
  if (version === 1) {
    throw new IfpruneError(
      'bad_version',
      `${src.name} is GGUF version 1 (2023's first draft, 32-bit counts), which ifprune does not read; ` +
        `re-convert the model with a current llama.cpp (convert_hf_to_gguf.py) to get version 3`,
    );
  }
  if (version !== 2 && version !== 3) {
    const bigEndian = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(4, false);
    if (bigEndian >= 1 && bigEndian <= 3) {
      throw new IfpruneError('unsupported', `${src.name} is a big-endian GGUF (version ${bigEndian}); ifprune reads little-endian GGUF, as llama.cpp writes by default`);
    }
    throw new IfpruneError('bad_version', `${src.name} is GGUF version ${version}; ifprune reads versions 2 and 3. Is ifprune out of date?`);
  }
  const nTensors = await r.u64('tensor count');
  const nKv = await r.u64('metadata key/value count');
  // Bound the counts by what the rest of the file could hold before looping or allocating by them.
  const KV_MIN_BYTES = 8 + 4 + 1; // empty key, value type, 1-byte value
  const TENSOR_INFO_MIN_BYTES = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one dim, type, offset
  r.ensureRemaining(
    nKv * KV_MIN_BYTES + nTensors * TENSOR_INFO_MIN_BYTES,
    `${nKv} metadata entries (at least ${KV_MIN_BYTES} bytes each) and ${nTensors} tensor infos (at least ${TENSOR_INFO_MIN_BYTES} bytes each)`,
  );

  // --- metadata
  const metadata: Record<string, GGUFValue> = Object.create(null);
  const kvTypes: Record<string, GGUFType> = Object.create(null);
  for (let i = 0; i < nKv; i++) {
    r.context = `GGUF metadata key ${i}`;
    const keyAt = r.pos;
    const key = await r.string('key');
    r.context = `GGUF metadata key ${i} ${quoted(key)}`;
    if (key in metadata) throw r.error('corrupt', `duplicate key`, keyAt);
    const type = await r.u32('value type');
    const { value, type: desc } = await readValue(r, type, 0);
    metadata[key] = value;
    kvTypes[key] = desc;
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if ('general.alignment' in metadata) {
    const a = metadata['general.alignment'];
    if (kvTypes['general.alignment']!.type !== GGUFValueType.UINT32 || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
      throw new IfpruneError('corrupt', `${src.name}: general.alignment must be a UINT32 power of two; found ${ggufTypeName(kvTypes['general.alignment']!.type)} ${String(a)}`);
    }
    alignment = a;
  }

  // --- tensor infos
  const raw: { name: string; dims: number[]; type: QuantType; relOffset: number; elements: number; bytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    r.context = `GGUF tensor info ${i}`;
    const at = r.pos;
    const name = await r.string('name');
    r.context = `GGUF tensor info ${i} ${quoted(name)}`;
    if (names.has(name)) throw r.error('corrupt', 'duplicate tensor name', at);
    names.add(name);
    const nDims = await r.u32('n_dims');
    if (nDims < 1 || nDims > GGUF_MAX_DIMS) throw r.error('corrupt', `n_dims is ${nDims}; GGML tensors have 1 to ${GGUF_MAX_DIMS}`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = await r.u64(`dim ${d}`);
      if (ne !== 0 && elements > Number.MAX_SAFE_INTEGER / ne) throw r.error('corrupt', `shape [${dims},${ne}...] has more elements than any file can hold`);
      elements *= ne;
      dims.push(ne);
    }
    const type = quantById(await r.u32('type'), `tensor ${quoted(name)}`);
    if (dims[0]! % type.blockElems !== 0) {
      throw r.error('corrupt', `ne0 = ${dims[0]} is not a multiple of the ${type.name} block size ${type.blockElems}`);
    }
    const relOffset = await r.u64('offset');
    if (relOffset % alignment !== 0) throw r.error('corrupt', `data offset ${relOffset} is not a multiple of the alignment ${alignment}`);
    raw.push({ name, dims, type, relOffset, elements, bytes: (elements / type.blockElems) * type.blockBytes });
  }

  // --- tensor data: bounds and overlaps
  const tensorDataOffset = alignUp(r.pos, alignment);
  const tensors: GGUFTensorInfo[] = raw.map((t) => ({ ...t, offset: tensorDataOffset + t.relOffset }));
  for (const t of tensors) {
    if (t.offset + t.bytes > src.size) {
      throw new IfpruneError(
        'truncated',
        `GGUF tensor ${quoted(t.name)} (${t.type.name} [${t.dims}], ${t.bytes} bytes at byte ${t.offset}) runs past the end of ` +
          `${describeSource(src)}; the download is probably incomplete`,
      );
    }
  }
  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const p = byOffset[i - 1]!;
    const t = byOffset[i]!;
    if (p.offset + p.bytes > t.offset) {
      throw new IfpruneError('corrupt', `${src.name}: GGUF tensors ${JSON.stringify(p.name)} and ${JSON.stringify(t.name)} overlap (bytes ${t.offset}..${p.offset + p.bytes})`);
    }
  }
  return { version, alignment, metadata, kvTypes, tensors, tensorDataOffset };
}

/** Reads one value of type `type` (the type id already read) and its full declared type. */
async function readValue(r: ByteReader, type: number, depth: number): Promise<{ value: GGUFValue; type: GGUFType }> {
  if (type === GGUFValueType.STRING) return { value: await r.string('string value'), type: { type } };
  if (type === GGUFValueType.ARRAY) return readArray(r, depth);
  const fixed = GGUF_FIXED_TYPES[type];
  if (!fixed) throw r.error('corrupt', `unknown value type ${type} (GGUF defines 0..12)`, r.pos - 4);
  const b = await r.bytes(fixed.bytes, `${fixed.name} value`);
  return { value: fixed.get(new DataView(b.buffer), 0), type: { type: type as GGUFValueType } };
}

async function readArray(r: ByteReader, depth: number): Promise<{ value: GGUFArray; type: GGUFType }> {
  if (depth >= GGUF_MAX_ARRAY_DEPTH) throw r.error('corrupt', `arrays nested deeper than ${GGUF_MAX_ARRAY_DEPTH}`);
  const itemType = await r.u32('array item type');
  if (itemType !== GGUFValueType.STRING && itemType !== GGUFValueType.ARRAY && !GGUF_FIXED_TYPES[itemType]) {
    throw r.error('corrupt', `unknown array item type ${itemType} (GGUF defines 0..12)`, r.pos - 4);
  }
  const count = await r.u64('array count');
  const minBytes = ggufMinValueBytes(itemType);
  r.ensureRemaining(count * minBytes, `array of ${count} ${ggufTypeName(itemType)} (at least ${count * minBytes} bytes)`);
  const t = itemType as GGUFValueType;

  if (t === GGUFValueType.STRING) {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await r.string(`item ${i}`));
    return { value: out, type: { type: GGUFValueType.ARRAY, itemType: t } };
  }
  if (t === GGUFValueType.ARRAY) {
    const out: GGUFArray[] = [];
    const items: GGUFType[] = [];
    for (let i = 0; i < count; i++) {
      const inner = await readArray(r, depth + 1);
      out.push(inner.value);
      items.push(inner.type);
    }
    return { value: out, type: { type: GGUFValueType.ARRAY, itemType: t, items } };
  }
  const fixed = GGUF_FIXED_TYPES[t]!;
  const bytes = await r.bytes(count * fixed.bytes, `array of ${count} ${fixed.name}`); // a fresh copy, offset 0
  let value: GGUFArray;
  if (fixed.array && HOST_LITTLE_ENDIAN) {
    value = new fixed.array(bytes.buffer as ArrayBuffer); // r.bytes returns a fresh copy starting at offset 0
  } else {
    const view = new DataView(bytes.buffer);
    const get = (i: number) => fixed.get(view, i * fixed.bytes);
    value = fixed.array ? fillTyped(new fixed.array(new ArrayBuffer(bytes.length)), get) : Array.from({ length: count }, (_, i) => get(i) as boolean);
  }
  return { value, type: { type: GGUFValueType.ARRAY, itemType: t } };
}

function fillTyped(a: GGUFTypedArray, get: (i: number) => number | bigint | boolean): GGUFTypedArray {
  for (let i = 0; i < a.length; i++) (a as unknown as (number | bigint)[])[i] = get(i) as number | bigint;
  return a;
}

/** Throws 'bad_magic' unless the file starts with "GGUF", saying what it looks like instead. */
function checkMagic(src: ByteSource, head: Uint8Array): void {
  const found = String.fromCharCode(...head.subarray(0, 4));
  if (found === GGUF_MAGIC) return;
  let hint = 'Is this a GGUF model file? Check the path or URL (an HTML error page or a Git LFS pointer also fails here).';
  const v = llama2cExportVersion(head);
  if (v !== null) hint = `It looks like a llama2.c version ${v} export ("ak42" header), which ifprune does not read; re-export with llama2.c export.py --version 0, or convert to GGUF.`;
  else if (looksLikeSafetensors(head, src.size)) hint = 'It looks like a safetensors file: open it with parseSafetensors / openModel(src, { config }) and its config.json.';
  else if (looksLikeLlama2c(head, src.size)) hint = 'It looks like a llama2.c checkpoint (.bin): open it with parseLlama2c / openModel.';
  else if (['lmgg', 'fmgg', 'tjgg', 'algg'].includes(found)) hint = `It looks like a pre-GGUF llama.cpp file (ggml/ggjt); convert it with llama.cpp's convert_llama_ggml_to_gguf.py.`;
  throw new IfpruneError('bad_magic', `${src.name} is not a GGUF file: it starts with ${describeBytes(head.subarray(0, 4))}, expected "GGUF". ${hint}`);
}

/** `0x7b 0x22 0x5f 0x5f ("{"__")` with non-printable bytes shown as "." */
export function describeBytes(b: Uint8Array): string {
  const hex = [...b].map((x) => '0x' + x.toString(16).padStart(2, '0')).join(' ');
  const text = [...b].map((x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
  return b.length ? `${hex} ("${text}")` : 'nothing (empty file)';
}

// ---------------------------------------------------------------------------------------------------
// ggufToModelSpec

/** Architectures whose GGUF tensors follow llama's names; qwen2 adds q/k/v biases and NeoX RoPE. */
const ARCH_ROPE_STYLE = { llama: 'adjacent', qwen2: 'neox' } as const;

export function ggufToModelSpec(file: GGUFFile, src: ByteSource): ModelSpec {
  const meta = file.metadata;
  const arch = meta['general.architecture'];
  if (typeof arch !== 'string') throw new IfpruneError('corrupt', `${src.name}: GGUF key general.architecture is missing or not a string`);
  if (!(arch in ARCH_ROPE_STYLE)) {
    throw new IfpruneError('unsupported', `${src.name}: architecture "${arch}" is not supported; ifprune runs llama-architecture GGUFs (Llama, SmolLM, TinyLlama, Mistral-style) and qwen2`);
  }
  const num = (key: string, fallback?: number) => ggufNumber(file, src, `${arch}.${key}`, fallback);

  const tensors = new Map<string, TensorRef>();
  for (const t of file.tensors) tensors.set(t.name, { name: t.name, type: t.type, dims: t.dims, offset: t.offset, bytes: t.bytes });
  const embd = tensors.get('token_embd.weight');
  if (!embd) throw new IfpruneError('corrupt', `${src.name}: GGUF tensor token_embd.weight is missing`);
  for (const unsupported of ['rope_freqs.weight']) {
    if (tensors.has(unsupported)) throw new IfpruneError('unsupported', `${src.name}: tensor ${unsupported} (Llama 3 RoPE frequency scaling) is not supported yet`);
  }
  const scaling = meta[`${arch}.rope.scaling.type`];
  if (scaling !== undefined && scaling !== 'none') throw new IfpruneError('unsupported', `${src.name}: RoPE scaling "${String(scaling)}" is not supported yet`);

  const dim = num('embedding_length');
  const nHeads = num('attention.head_count');
  const headSize = dim / nHeads;
  const config: ModelConfig = {
    dim,
    hiddenDim: num('feed_forward_length'),
    nLayers: num('block_count'),
    nHeads,
    nKvHeads: num('attention.head_count_kv', nHeads),
    headSize,
    vocabSize: embd.dims[1] ?? 0,
    seqLen: num('context_length'),
    normEps: num('attention.layer_norm_rms_epsilon', 1e-5),
    ropeBase: num('rope.freq_base', 10000),
    ropeDim: num('rope.dimension_count', headSize),
    ropeStyle: ARCH_ROPE_STYLE[arch as keyof typeof ARCH_ROPE_STYLE],
    tiedEmbeddings: !tensors.has('output.weight'),
    qkvBias: tensors.has('blk.0.attn_q.bias'),
  };
  const spec: ModelSpec = { format: 'gguf', source: src, config, tensors, metadata: meta };
  checkModelSpec(spec);
  spec.tokenizer = ggufTokenizer(file, src, config.vocabSize);
  return spec;
}

/** A numeric metadata value as a number; missing → `fallback`, or 'corrupt' when there is none. */
export function ggufNumber(file: GGUFFile, src: ByteSource, key: string, fallback?: number): number {
  const v = file.metadata[key];
  if (v === undefined) {
    if (fallback === undefined) throw new IfpruneError('corrupt', `${src.name}: GGUF key ${key} is missing`);
    return fallback;
  }
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new IfpruneError('corrupt', `${src.name}: GGUF key ${key} should be a number; found ${ggufTypeName(file.kvTypes[key]!.type)}`);
}

/** tokenizer.ggml.* → TokenizerData, or undefined when the file carries no tokenizer. */
function ggufTokenizer(file: GGUFFile, src: ByteSource, vocabSize: number): TokenizerData | undefined {
  const meta = file.metadata;
  const model = meta['tokenizer.ggml.model'];
  if (model === undefined) return undefined;
  if (model !== 'llama' && model !== 'gpt2') {
    throw new IfpruneError('unsupported', `${src.name}: tokenizer "${String(model)}" is not supported; ifprune reads "llama" (SentencePiece) and "gpt2" (byte-level BPE) tokenizers`);
  }
  const bad = (key: string, want: string) => new IfpruneError('corrupt', `${src.name}: GGUF key ${key} should be ${want}`);
  const tokens = meta['tokenizer.ggml.tokens'];
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== 'string')) throw bad('tokenizer.ggml.tokens', 'an array of strings');
  if (tokens.length > vocabSize) throw bad('tokenizer.ggml.tokens', `at most ${vocabSize} entries (token_embd rows); found ${tokens.length}`);
  const perToken = (key: string): ArrayLike<number> | undefined => {
    const v = meta[key];
    if (v === undefined) return undefined;
    if (!ArrayBuffer.isView(v) || v instanceof BigInt64Array || v instanceof BigUint64Array || v.length !== tokens.length) {
      throw bad(key, `a numeric array of ${tokens.length} entries, one per token`);
    }
    return v as ArrayLike<number>;
  };
  const merges = meta['tokenizer.ggml.merges'];
  if (merges !== undefined && (!Array.isArray(merges) || merges.some((m) => typeof m !== 'string'))) throw bad('tokenizer.ggml.merges', 'an array of strings');
  const id = (key: string, fallback: number) => {
    const v = ggufNumber(file, src, key, fallback);
    if (!Number.isInteger(v) || v < -1 || v >= tokens.length) throw bad(key, `a token id below ${tokens.length}; found ${v}`);
    return v;
  };
  const flag = (key: string, fallback: boolean) => {
    const v = meta[key];
    if (v !== undefined && typeof v !== 'boolean') throw bad(key, 'a bool');
    return v ?? fallback;
  };
  const spm = model === 'llama';
  // Defaults as llama.cpp's llama-vocab.cpp: SentencePiece has bos 1, eos 2, unk 0, BOS and a space
  // prefix on; byte-level BPE has no defaults (-1 = none) and neither flag.
  const hasUnk = meta['tokenizer.ggml.unknown_token_id'] !== undefined;
  return {
    model,
    tokens: tokens as string[],
    scores: perToken('tokenizer.ggml.scores'),
    tokenTypes: perToken('tokenizer.ggml.token_type'),
    merges: merges as string[] | undefined,
    bosId: id('tokenizer.ggml.bos_token_id', spm ? 1 : -1),
    eosId: id('tokenizer.ggml.eos_token_id', spm ? 2 : -1),
    unkId: spm || hasUnk ? id('tokenizer.ggml.unknown_token_id', 0) : undefined,
    addBos: flag('tokenizer.ggml.add_bos_token', spm),
    addSpacePrefix: flag('tokenizer.ggml.add_space_prefix', spm),
  };
}
