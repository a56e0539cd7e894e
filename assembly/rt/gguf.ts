// GGUF reader, versions 2 and 3 (ggml docs/gguf.md, include/gguf.h; TS oracle src/formats/gguf.ts,
// whose checks, order and error codes this mirrors). All numbers little-endian.
//
//   field                 type                  bytes
//   magic                 "GGUF"                4
//   version               uint32                4        2 or 3 (1 had uint32 counts and lengths: refused)
//   n_tensors             uint64                8
//   n_kv                  uint64                8
//   kv[n_kv]
//     key                 string                8 + n    string = uint64 byte length + UTF-8 bytes, no NUL
//     value_type          uint32                4        GGUF_* below
//     value               by type               1..8     bool = 1 byte 0/1; string as above;
//                                                         array = uint32 item type + uint64 count + items
//   tensor_info[n_tensors]
//     name                string                8 + n
//     n_dims              uint32                4        1..4
//     dims                uint64[n_dims]        8·n      ne0 (the contiguous, innermost dim) first
//     type                uint32                4        GGML type id, see quant.ts
//     offset              uint64                8        from the start of tensor data, a multiple of alignment
//   padding                                     0..a-1   to a multiple of general.alignment (uint32, default 32)
//   tensor data                                          tensor i at data start + offset_i
//
// parseGGUF walks the header into a ModelSpec (metadata, tensor table); ggufToModelSpec maps a llama /
// qwen2 file's metadata to its config and tokenizer. Knows block sizes (quant.ts), nothing about values.
import { ModelSpec, TensorInfo, MetaValue, TokenizerData } from './spec';
import { fail } from './error';
import { Reader, alignUp, quoted, MAX_SAFE_INTEGER } from './reader';
import { isKnownType, typeName, blockElems, blockBytes } from './quant';
import { ConfigValues, checkModelSpec, dimsString, numString } from './spec-check';

/** "GGUF" as the uint32 at byte 0. */
export const GGUF_MAGIC: u32 = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT: u64 = 32;
/** GGML_MAX_DIMS */
export const GGUF_MAX_DIMS: u32 = 4;
/** Arrays of arrays deeper than this are refused (none exist in practice; it bounds recursion). */
export const GGUF_MAX_ARRAY_DEPTH: i32 = 4;
/** Most elements a numeric array may have here (kept as f64s: 1 GiB; half as many UINT64 / INT64,
 * which are kept as i64s too); a vocabulary's have ~10^5. */
const MAX_ARRAY_ITEMS: u64 = 1 << 27;

// Metadata value types, as written in the file (gguf.h enum gguf_type).
export const GGUF_UINT8: u32 = 0;
export const GGUF_INT8: u32 = 1;
export const GGUF_UINT16: u32 = 2;
export const GGUF_INT16: u32 = 3;
export const GGUF_UINT32: u32 = 4;
export const GGUF_INT32: u32 = 5;
export const GGUF_FLOAT32: u32 = 6;
export const GGUF_BOOL: u32 = 7;
export const GGUF_STRING: u32 = 8;
export const GGUF_ARRAY: u32 = 9;
export const GGUF_UINT64: u32 = 10;
export const GGUF_INT64: u32 = 11;
export const GGUF_FLOAT64: u32 = 12;

/** Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and unknown ids. */
export function ggufFixedBytes(t: u32): u32 {
  if (t == GGUF_UINT8 || t == GGUF_INT8 || t == GGUF_BOOL) return 1;
  if (t == GGUF_UINT16 || t == GGUF_INT16) return 2;
  if (t == GGUF_UINT32 || t == GGUF_INT32 || t == GGUF_FLOAT32) return 4;
  if (t == GGUF_UINT64 || t == GGUF_INT64 || t == GGUF_FLOAT64) return 8;
  return 0;
}

export function ggufTypeName(t: u32): string {
  const names = ['UINT8', 'INT8', 'UINT16', 'INT16', 'UINT32', 'INT32', 'FLOAT32', 'BOOL', 'STRING', 'ARRAY', 'UINT64', 'INT64', 'FLOAT64'];
  return t < <u32>names.length ? names[t] : 'unknown type ' + t.toString();
}

/** Fewest bytes one value of type t occupies: bounds counts before anything is allocated by them. */
function minValueBytes(t: u32): u32 {
  if (t == GGUF_STRING) return 8; // uint64 length
  if (t == GGUF_ARRAY) return 4 + 8; // item type + count
  return ggufFixedBytes(t);
}

/** Whether a scalar type is a JS number in the TS parser (8..32-bit ints and floats; not bool, not 64-bit ints). */
export function isNumberType(t: u32): bool {
  return t <= GGUF_FLOAT32 || t == GGUF_FLOAT64;
}

// ---------------------------------------------------------------------------------------------------
// parseGGUF

/**
 * Walks the GGUF header from r.pos = 0 into spec (format, version, metadata in file order, alignment,
 * tensors with absolute offsets, dataOffset, headerBytes). false when the reader stopped: r.short (more
 * bytes needed, no error) or an error ('bad_version', 'unsupported', 'truncated', 'corrupt').
 */
export function parseGGUF(r: Reader, spec: ModelSpec): bool {
  spec.format = 'gguf';
  r.context = 'GGUF header';
  const magic = r.u32('magic');
  const version = r.u32('version');
  if (r.stopped) return false;
  if (magic != GGUF_MAGIC) return r.error('bad_magic', r.fileName + ' is not a GGUF file', 0);
  if (version == 1) {
    return fail('bad_version', r.fileName + " is GGUF version 1 (2023's first draft, 32-bit counts), which ifprune does not read; " +
      're-convert the model with a current llama.cpp (convert_hf_to_gguf.py) to get version 3');
  }
  if (version != 2 && version != 3) {
    const bigEndian = bswap<u32>(version);
    if (bigEndian >= 1 && bigEndian <= 3) {
      return fail('unsupported', r.fileName + ' is a big-endian GGUF (version ' + bigEndian.toString() + '); ifprune reads little-endian GGUF, as llama.cpp writes by default');
    }
    return fail('bad_version', r.fileName + ' is GGUF version ' + version.toString() + '; ifprune reads versions 2 and 3. Is ifprune out of date?');
  }
  spec.version = <i32>version;
  const nTensors = r.u64('tensor count');
  const nKv = r.u64('metadata key/value count');
  if (r.stopped) return false;
  // Bound the counts by what the rest of the file could hold before looping or allocating by them.
  const KV_MIN_BYTES = 8 + 4 + 1; // empty key, value type, 1-byte value
  const TENSOR_INFO_MIN_BYTES = 8 + 4 + 8 + 4 + 8; // empty name, n_dims, one dim, type, offset
  if (!r.ensureRemaining(<f64>nKv * KV_MIN_BYTES + <f64>nTensors * TENSOR_INFO_MIN_BYTES,
    nKv.toString() + ' metadata entries (at least ' + KV_MIN_BYTES.toString() + ' bytes each) and ' + nTensors.toString() +
    ' tensor infos (at least ' + TENSOR_INFO_MIN_BYTES.toString() + ' bytes each)')) return false;

  // --- metadata
  for (let i: u64 = 0; i < nKv; i++) {
    r.context = 'GGUF metadata key ' + i.toString();
    const keyAt = r.pos;
    const key = r.string('key');
    if (r.stopped) return false;
    r.context = 'GGUF metadata key ' + i.toString() + ' ' + quoted(key);
    if (spec.meta.has(key)) return r.error('corrupt', 'duplicate key', keyAt);
    const type = r.u32('value type');
    if (r.stopped) return false;
    const value = readValue(r, type, 0);
    if (value == null) return false;
    spec.metaKeys.push(key);
    spec.meta.set(key, value);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (spec.meta.has('general.alignment')) {
    const a = spec.meta.get('general.alignment');
    const n = <u64>a.int;
    if (a.type != GGUF_UINT32 || n == 0 || (n & (n - 1)) != 0) {
      return fail('corrupt', r.fileName + ': general.alignment must be a UINT32 power of two; found ' + ggufTypeName(a.type) + ' ' + scalarString(a));
    }
    alignment = n;
  }
  spec.alignment = <i32>alignment;

  // --- tensor infos
  for (let i: u64 = 0; i < nTensors; i++) {
    r.context = 'GGUF tensor info ' + i.toString();
    const at = r.pos;
    const name = r.string('name');
    if (r.stopped) return false;
    r.context = 'GGUF tensor info ' + i.toString() + ' ' + quoted(name);
    if (spec.tensors.has(name)) return r.error('corrupt', 'duplicate tensor name', at);
    const nDims = r.u32('n_dims');
    if (r.stopped) return false;
    if (nDims < 1 || nDims > GGUF_MAX_DIMS) return r.error('corrupt', 'n_dims is ' + nDims.toString() + '; GGML tensors have 1 to ' + GGUF_MAX_DIMS.toString());
    const t = new TensorInfo();
    t.name = name;
    let elements: f64 = 1;
    for (let d: u32 = 0; d < nDims; d++) {
      const ne = r.u64('dim ' + d.toString());
      if (r.stopped) return false;
      if (ne != 0 && elements > MAX_SAFE_INTEGER / <f64>ne) {
        const shape = dimsString(t.dims);
        return r.error('corrupt', 'shape [' + shape.substring(1, shape.length - 1) + ',' + ne.toString() + '...] has more elements than any file can hold');
      }
      elements *= <f64>ne;
      t.dims.push(<i64>ne);
    }
    const type = r.u32('type');
    if (r.stopped) return false;
    if (!isKnownType(<i32>type)) {
      return fail('unsupported', 'tensor ' + quoted(name) + ' has GGML type ' + (type > 0x7fffffff ? 'unknown type id ' + type.toString() : typeName(<i32>type)) +
        '; ifprune reads F32, F16, BF16, Q8_0 and Q4_0. Re-quantize the model to one of these (e.g. llama.cpp\'s llama-quantize ... Q8_0) or convert it from the F16 original.');
    }
    t.type = <i32>type;
    const be = <i64>blockElems(t.type);
    if (t.dims[0] % be != 0) {
      return r.error('corrupt', 'ne0 = ' + t.dims[0].toString() + ' is not a multiple of the ' + typeName(t.type) + ' block size ' + be.toString());
    }
    const relOffset = r.u64('offset');
    if (r.stopped) return false;
    if (relOffset % alignment != 0) return r.error('corrupt', 'data offset ' + relOffset.toString() + ' is not a multiple of the alignment ' + alignment.toString());
    t.offset = relOffset; // made absolute below
    t.bytes = <u64>((elements / <f64>be) * <f64>blockBytes(t.type));
    spec.tensorList.push(t);
    spec.tensors.set(name, t);
  }

  // --- tensor data: bounds and overlaps
  spec.headerBytes = r.pos;
  spec.dataOffset = alignUp(r.pos, alignment);
  const list = spec.tensorList;
  for (let i = 0; i < list.length; i++) list[i].offset += spec.dataOffset;
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    if (<f64>t.offset + <f64>t.bytes > <f64>r.fileSize) {
      return fail('truncated', 'GGUF tensor ' + quoted(t.name) + ' (' + typeName(t.type) + ' ' + dimsString(t.dims) + ', ' + t.bytes.toString() + ' bytes at byte ' +
        t.offset.toString() + ') runs past the end of ' + r.describe() + '; the download is probably incomplete');
    }
  }
  sortList = list;
  const byOffset = new Array<i32>(list.length);
  for (let i = 0; i < list.length; i++) byOffset[i] = i;
  byOffset.sort(byOffsetThenIndex);
  for (let i = 1; i < byOffset.length; i++) {
    const p = list[byOffset[i - 1]];
    const t = list[byOffset[i]];
    if (p.offset + p.bytes > t.offset) {
      return fail('corrupt', r.fileName + ': GGUF tensors ' + quoted(p.name) + ' and ' + quoted(t.name) + ' overlap (bytes ' + t.offset.toString() + '..' + (p.offset + p.bytes).toString() + ')');
    }
  }
  return true;
}

/** The tensor list byOffsetThenIndex sorts indices of (a comparator cannot capture it). */
let sortList: Array<TensorInfo> = [];

/** Tensor indices by offset, file order among equal offsets (the TS sorts stably). */
function byOffsetThenIndex(a: i32, b: i32): i32 {
  const oa = sortList[a].offset;
  const ob = sortList[b].offset;
  if (oa != ob) return oa < ob ? -1 : 1;
  return a - b;
}

/** Reads one value of type `type` (the type id already read); null when the reader stopped. */
function readValue(r: Reader, type: u32, depth: i32): MetaValue | null {
  if (type == GGUF_STRING) {
    const v = new MetaValue();
    v.type = GGUF_STRING;
    v.str = r.string('string value');
    return r.stopped ? null : v;
  }
  if (type == GGUF_ARRAY) return readArray(r, depth);
  const size = ggufFixedBytes(type);
  if (size == 0) {
    r.error('corrupt', 'unknown value type ' + type.toString() + ' (GGUF defines 0..12)', r.pos - 4);
    return null;
  }
  const p = r.take(size, ggufTypeName(type) + ' value');
  if (p == 0) return null;
  const v = new MetaValue();
  v.type = <i32>type;
  readScalar(v, type, p);
  return v;
}

/** Sets v.num (and v.int for integers and bools, exact for 64-bit ones) from the value at p. */
function readScalar(v: MetaValue, type: u32, p: usize): void {
  if (type == GGUF_FLOAT32) v.num = <f64>load<f32>(p);
  else if (type == GGUF_FLOAT64) v.num = load<f64>(p);
  else {
    v.int = readInt(type, p);
    v.num = type == GGUF_UINT64 ? <f64><u64>v.int : <f64>v.int;
  }
}

/** An integer or bool value's bits (UINT64 as its bits in an i64; BOOL as 0/1). */
function readInt(type: u32, p: usize): i64 {
  switch (type) {
    case GGUF_UINT8: return <i64>load<u8>(p);
    case GGUF_INT8: return <i64>load<i8>(p);
    case GGUF_UINT16: return <i64>load<u16>(p);
    case GGUF_INT16: return <i64>load<i16>(p);
    case GGUF_UINT32: return <i64>load<u32>(p);
    case GGUF_INT32: return <i64>load<i32>(p);
    case GGUF_BOOL: return load<u8>(p) != 0 ? 1 : 0;
    default: return load<i64>(p); // UINT64, INT64
  }
}

function readArray(r: Reader, depth: i32): MetaValue | null {
  if (depth >= GGUF_MAX_ARRAY_DEPTH) {
    r.error('corrupt', 'arrays nested deeper than ' + GGUF_MAX_ARRAY_DEPTH.toString());
    return null;
  }
  const itemType = r.u32('array item type');
  if (r.stopped) return null;
  if (itemType != GGUF_STRING && itemType != GGUF_ARRAY && ggufFixedBytes(itemType) == 0) {
    r.error('corrupt', 'unknown array item type ' + itemType.toString() + ' (GGUF defines 0..12)', r.pos - 4);
    return null;
  }
  const count = r.u64('array count');
  if (r.stopped) return null;
  const minBytes = minValueBytes(itemType);
  if (!r.ensureRemaining(<f64>count * <f64>minBytes,
    'array of ' + count.toString() + ' ' + ggufTypeName(itemType) + ' (at least ' + numString(<f64>count * <f64>minBytes) + ' bytes)')) return null;

  const size = ggufFixedBytes(itemType);
  const is64 = itemType == GGUF_UINT64 || itemType == GGUF_INT64;
  const v = new MetaValue();
  v.type = GGUF_ARRAY;
  v.arrayType = <i32>itemType;
  v.count = <i64>count;
  if (itemType == GGUF_STRING) {
    // Grown by push: each element needs at least 8 bytes of the buffer, so the count allocates nothing.
    for (let i: u64 = 0; i < count; i++) {
      const s = r.string('item ' + i.toString());
      if (r.stopped) return null;
      v.strs.push(s);
    }
  } else if (itemType == GGUF_ARRAY) {
    // Arrays of arrays are walked and checked, not kept (no reader needs them).
    for (let i: u64 = 0; i < count; i++) {
      if (readArray(r, depth + 1) == null) return null;
    }
  } else {
    const p = r.take(count * size, 'array of ' + count.toString() + ' ' + ggufTypeName(itemType));
    if (p == 0) return null;
    // The elements become f64s (8 bytes each; 64-bit integers also i64s): refuse what would not fit in
    // wasm memory, not trap.
    const maxItems = is64 ? MAX_ARRAY_ITEMS / 2 : MAX_ARRAY_ITEMS;
    if (count > maxItems) {
      r.error('unsupported', 'array of ' + count.toString() + ' ' + ggufTypeName(itemType) + ' is larger than this runtime keeps (' + maxItems.toString() + ' items)');
      return null;
    }
    v.nums = new Array<f64>(<i32>count);
    if (is64) v.ints = new Array<i64>(<i32>count);
    for (let i: i32 = 0; i < <i32>count; i++) {
      const e = p + <usize>i * size;
      if (itemType == GGUF_FLOAT32) v.nums[i] = <f64>load<f32>(e);
      else if (itemType == GGUF_FLOAT64) v.nums[i] = load<f64>(e);
      else {
        const x = readInt(itemType, e);
        v.nums[i] = itemType == GGUF_UINT64 ? <f64><u64>x : <f64>x;
        if (is64) v.ints[i] = x;
      }
    }
  }
  return v;
}

/** A scalar value as the TS's String(value) prints it. */
export function scalarString(v: MetaValue): string {
  if (v.type == GGUF_STRING) return v.str;
  if (v.type == GGUF_BOOL) return v.int != 0 ? 'true' : 'false';
  if (v.type == GGUF_UINT64) return (<u64>v.int).toString();
  if (v.type == GGUF_INT64) return v.int.toString();
  if (v.type == GGUF_ARRAY) return 'an array of ' + v.count.toString();
  return numString(v.num);
}

// ---------------------------------------------------------------------------------------------------
// ggufToModelSpec

/** Maps a parsed GGUF's metadata to spec.config and spec.tokenizer; runs checkModelSpec. */
export function ggufToModelSpec(spec: ModelSpec, fileName: string): bool {
  const m = new MetaReader(spec, fileName);
  if (!spec.meta.has('general.architecture') || spec.meta.get('general.architecture').type != GGUF_STRING) {
    return fail('corrupt', fileName + ': GGUF key general.architecture is missing or not a string');
  }
  const arch = spec.meta.get('general.architecture').str;
  if (arch != 'llama' && arch != 'qwen2') {
    return fail('unsupported', fileName + ': architecture "' + arch + '" is not supported; ifprune runs llama-architecture GGUFs (Llama, SmolLM, TinyLlama, Mistral-style) and qwen2');
  }
  if (!spec.tensors.has('token_embd.weight')) return fail('corrupt', fileName + ': GGUF tensor token_embd.weight is missing');
  const embd = spec.tensors.get('token_embd.weight');
  if (spec.tensors.has('rope_freqs.weight')) return fail('unsupported', fileName + ': tensor rope_freqs.weight (Llama 3 RoPE frequency scaling) is not supported yet');
  const scalingKey = arch + '.rope.scaling.type';
  if (spec.meta.has(scalingKey)) {
    const s = spec.meta.get(scalingKey);
    if (!(s.type == GGUF_STRING && s.str == 'none')) return fail('unsupported', fileName + ': RoPE scaling "' + scalarString(s) + '" is not supported yet');
  }

  const v = new ConfigValues();
  const a = arch + '.';
  v.dim = m.number(a + 'embedding_length', NaN, false);
  v.nHeads = m.number(a + 'attention.head_count', NaN, false);
  v.headSize = v.dim / v.nHeads;
  v.hiddenDim = m.number(a + 'feed_forward_length', NaN, false);
  v.nLayers = m.number(a + 'block_count', NaN, false);
  v.nKvHeads = m.number(a + 'attention.head_count_kv', v.nHeads, true);
  v.vocabSize = embd.dims.length > 1 ? <f64>embd.dims[1] : 0;
  v.seqLen = m.number(a + 'context_length', NaN, false);
  v.normEps = m.number(a + 'attention.layer_norm_rms_epsilon', 1e-5, true);
  v.ropeBase = m.number(a + 'rope.freq_base', 10000, true);
  v.ropeDim = m.number(a + 'rope.dimension_count', v.headSize, true);
  if (m.failed) return false;
  v.ropeNeox = arch == 'qwen2';
  v.tiedEmbeddings = !spec.tensors.has('output.weight');
  v.qkvBias = spec.tensors.has('blk.0.attn_q.bias');
  if (!checkModelSpec(spec, v, 'gguf model ' + fileName)) return false;
  return ggufTokenizer(spec, m);
}

/** Typed access to metadata values with the TS's checks; the first problem fails and sets `failed`. */
export class MetaReader {
  failed: bool = false;
  constructor(public spec: ModelSpec, public fileName: string) {}

  /** ggufNumber: a numeric value as f64; missing → fallback (or 'corrupt' without one). */
  number(key: string, fallback: f64, hasFallback: bool): f64 {
    if (this.failed) return NaN;
    if (!this.spec.meta.has(key)) {
      if (hasFallback) return fallback;
      return this.bad('GGUF key ' + key + ' is missing');
    }
    const v = this.spec.meta.get(key);
    if (isNumberType(v.type)) return v.num;
    if (v.type == GGUF_UINT64 && <u64>v.int <= <u64>MAX_SAFE_INTEGER) return v.num;
    if (v.type == GGUF_INT64 && v.int <= <i64>MAX_SAFE_INTEGER && v.int >= -<i64>MAX_SAFE_INTEGER) return v.num;
    return this.bad('GGUF key ' + key + ' should be a number; found ' + ggufTypeName(v.type));
  }

  bad(message: string): f64 {
    this.failed = true;
    fail('corrupt', this.fileName + ': ' + message);
    return NaN;
  }
}

/** tokenizer.ggml.* → spec.tokenizer (left null when the file has no tokenizer.ggml.model). */
function ggufTokenizer(spec: ModelSpec, m: MetaReader): bool {
  const meta = spec.meta;
  if (!meta.has('tokenizer.ggml.model')) return true;
  const modelValue = meta.get('tokenizer.ggml.model');
  const model = modelValue.type == GGUF_STRING ? modelValue.str : '';
  if (model != 'llama' && model != 'gpt2') {
    return fail('unsupported', m.fileName + ': tokenizer "' + scalarString(modelValue) + '" is not supported; ifprune reads "llama" (SentencePiece) and "gpt2" (byte-level BPE) tokenizers');
  }
  const bad = (key: string, want: string): bool => fail('corrupt', key + ' should be ' + want);
  const prefix = m.fileName + ': GGUF key ';
  const vocabSize = spec.config.vocabSize;

  const tok = new TokenizerData();
  tok.model = model;
  if (!meta.has('tokenizer.ggml.tokens') || !isStringArray(meta.get('tokenizer.ggml.tokens'))) return bad(prefix + 'tokenizer.ggml.tokens', 'an array of strings');
  tok.tokens = meta.get('tokenizer.ggml.tokens').strs;
  const n = tok.tokens.length;
  if (n > vocabSize) return bad(prefix + 'tokenizer.ggml.tokens', 'at most ' + vocabSize.toString() + ' entries (token_embd rows); found ' + n.toString());
  if (meta.has('tokenizer.ggml.merges')) {
    const merges = meta.get('tokenizer.ggml.merges');
    if (!isStringArray(merges)) return bad(prefix + 'tokenizer.ggml.merges', 'an array of strings');
    tok.merges = merges.strs;
  }
  // per-token arrays: numeric, not 64-bit, one entry per token
  const perToken = ['tokenizer.ggml.scores', 'tokenizer.ggml.token_type'];
  for (let k = 0; k < 2; k++) {
    const key = perToken[k];
    if (!meta.has(key)) continue;
    const a = meta.get(key);
    const at = <u32>a.arrayType;
    if (a.type != GGUF_ARRAY || !(isNumberType(at) && at != GGUF_BOOL) || a.count != <i64>n) {
      return bad(prefix + key, 'a numeric array of ' + n.toString() + ' entries, one per token');
    }
    for (let i = 0; i < n; i++) {
      if (k == 0) tok.scores.push(<f32>a.nums[i]);
      else tok.tokenTypes.push(<i32>a.nums[i]);
    }
  }
  // Defaults as llama.cpp's llama-vocab.cpp: SentencePiece has bos 1, eos 2, unk 0, BOS and a space
  // prefix on; byte-level BPE has no defaults (-1 = none) and neither flag.
  const spm = model == 'llama';
  const ids = ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.unknown_token_id'];
  const fallbacks: i32[] = spm ? [1, 2, 0] : [-1, -1, 0];
  const got: i32[] = [-1, -1, -1];
  for (let k = 0; k < 3; k++) {
    if (k == 2 && !spm && !meta.has(ids[2])) continue; // no unknown token
    const x = m.number(ids[k], <f64>fallbacks[k], true);
    if (m.failed) return false;
    if (!(Math.floor(x) == x && x >= -1 && x < <f64>n)) return bad(prefix + ids[k], 'a token id below ' + n.toString() + '; found ' + numString(x));
    got[k] = <i32>x;
  }
  tok.bosId = got[0];
  tok.eosId = got[1];
  tok.unkId = got[2];
  const flags = ['tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_space_prefix'];
  for (let k = 0; k < 2; k++) {
    let f = spm;
    if (meta.has(flags[k])) {
      const v = meta.get(flags[k]);
      if (v.type != GGUF_BOOL) return bad(prefix + flags[k], 'a bool');
      f = v.int != 0;
    }
    if (k == 0) tok.addBos = f;
    else tok.addSpacePrefix = f;
  }
  spec.tokenizer = tok;
  return true;
}

/** An array of strings. (The TS test, Array.isArray + every item a string, also passes an EMPTY array
 * of bools or of arrays; such a file has no tokens either way.) */
function isStringArray(v: MetaValue): bool {
  return v.type == GGUF_ARRAY && v.arrayType == GGUF_STRING;
}
