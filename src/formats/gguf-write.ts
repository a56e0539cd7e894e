/**
 * GGUF version 3 writer: the layout documented in gguf.ts, produced from metadata entries and tensors.
 * As llama.cpp's gguf_write_to_buf does, tensors are stored in the order given, each starting at a
 * multiple of the alignment and followed by zero padding to the next multiple.
 *
 * For files too large to build in memory, encodeGGUFHeader plans the layout from tensor descriptions
 * alone: write its `header`, then each tensor's data at `tensorOffsets[i]` (zero-filled gaps), up to
 * `totalBytes`. writeGGUF does exactly that into one buffer.
 */
import { IfpruneError } from '../errors.ts';
import { HOST_LITTLE_ENDIAN, alignUp } from '../sources/read.ts';
import { QUANT, type QuantType } from './quant.ts';
import {
  GGUFValueType, GGUF_DEFAULT_ALIGNMENT, GGUF_FIXED_TYPES, GGUF_MAGIC, GGUF_MAX_DIMS, ggufTypeName,
  type GGUFArray, type GGUFFile, type GGUFType, type GGUFValue,
} from './gguf.ts';

/** A metadata entry to write; `type` may be a bare GGUFValueType for scalars and strings. */
export interface GGUFKVInput {
  key: string;
  type: GGUFType | GGUFValueType;
  value: GGUFValue;
}

export interface GGUFTensorDesc {
  name: string;
  type: QuantType;
  /** GGUF order, ne0 first. */
  dims: number[];
}

export interface GGUFTensorInput extends GGUFTensorDesc {
  data: Uint8Array;
}

/** Entries in order, or a parsed file's metadata + kvTypes (written in object key order). */
export type GGUFMetadataInput = Iterable<GGUFKVInput> | Pick<GGUFFile, 'metadata' | 'kvTypes'>;

export interface GGUFLayout {
  /** Everything before the tensor data, padded to the alignment. */
  header: Uint8Array;
  /** Absolute byte offset of each tensor's data. */
  tensorOffsets: number[];
  /** Bytes of each tensor's data. */
  tensorBytes: number[];
  /** File size. */
  totalBytes: number;
}

/** Integer ranges of the integer value types. */
const INT_RANGE: Record<number, [bigint, bigint]> = {
  [GGUFValueType.UINT8]: [0n, 0xffn],
  [GGUFValueType.INT8]: [-0x80n, 0x7fn],
  [GGUFValueType.UINT16]: [0n, 0xffffn],
  [GGUFValueType.INT16]: [-0x8000n, 0x7fffn],
  [GGUFValueType.UINT32]: [0n, 0xffffffffn],
  [GGUFValueType.INT32]: [-0x80000000n, 0x7fffffffn],
  [GGUFValueType.UINT64]: [0n, 0xffffffffffffffffn],
  [GGUFValueType.INT64]: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

const utf8 = new TextEncoder();

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // reserve() may replace buf and view, so it is always called before they are read.
  u32(x: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, x, true);
  }
  u64(x: number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(x), true);
  }
  fixed(t: number, x: number | bigint | boolean): void {
    const f = GGUF_FIXED_TYPES[t]!;
    const at = this.reserve(f.bytes);
    f.set(this.view, at, x);
  }
  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  padTo(alignment: number): void {
    this.reserve(alignUp(this.length, alignment) - this.length); // new bytes are zero
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Lays out a GGUF v3 file: the encoded header and where each tensor's data goes. */
export function encodeGGUFHeader(metadata: GGUFMetadataInput, tensors: GGUFTensorDesc[], alignment?: number): GGUFLayout {
  const kv = kvEntries(metadata);
  alignment = resolveAlignment(kv, alignment);

  const w = new ByteWriter();
  w.bytes(utf8.encode(GGUF_MAGIC));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kv.length);
  const keys = new Set<string>();
  for (const { key, type, value } of kv) {
    if (keys.has(key)) throw new IfpruneError('bad_option', `GGUF metadata key ${JSON.stringify(key)} is given twice`);
    keys.add(key);
    const t = typeof type === 'number' ? { type } : type;
    w.string(key);
    w.u32(t.type);
    writeValue(w, t, value, `GGUF metadata ${JSON.stringify(key)}`);
  }

  const names = new Set<string>();
  const tensorBytes: number[] = [];
  const relOffsets: number[] = [];
  let rel = 0;
  for (const t of tensors) {
    const bytes = tensorByteSize(t);
    if (names.has(t.name)) throw new IfpruneError('bad_option', `GGUF tensor name ${JSON.stringify(t.name)} is given twice`);
    names.add(t.name);
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type.id);
    w.u64(rel);
    relOffsets.push(rel);
    tensorBytes.push(bytes);
    rel = alignUp(rel + bytes, alignment);
  }
  w.padTo(alignment);
  const dataStart = w.length;
  return { header: w.result(), tensorOffsets: relOffsets.map((o) => dataStart + o), tensorBytes, totalBytes: dataStart + rel };
}

/** A complete GGUF v3 file in memory. `alignment` defaults to the metadata's general.alignment, else 32. */
export function writeGGUF(metadata: GGUFMetadataInput, tensors: GGUFTensorInput[], alignment?: number): Uint8Array {
  const layout = encodeGGUFHeader(metadata, tensors, alignment);
  const out = new Uint8Array(layout.totalBytes);
  out.set(layout.header, 0);
  tensors.forEach((t, i) => {
    if (t.data.length !== layout.tensorBytes[i]) {
      throw new IfpruneError('bad_option', `GGUF tensor ${JSON.stringify(t.name)}: ${t.type.name} [${t.dims}] needs ${layout.tensorBytes[i]} bytes of data, got ${t.data.length}`);
    }
    out.set(t.data, layout.tensorOffsets[i]);
  });
  return out;
}

/** Bytes of a tensor's data, checking its description. */
function tensorByteSize(t: GGUFTensorDesc): number {
  const what = `GGUF tensor ${JSON.stringify(t.name)}`;
  if (!Object.values(QUANT).some((q) => q.id === t.type.id)) throw new IfpruneError('bad_option', `${what}: unknown tensor type ${t.type.name}`);
  if (t.dims.length < 1 || t.dims.length > GGUF_MAX_DIMS || !t.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new IfpruneError('bad_option', `${what}: dims [${t.dims}] must be 1 to ${GGUF_MAX_DIMS} non-negative integers`);
  }
  if (t.dims[0]! % t.type.blockElems !== 0) {
    throw new IfpruneError('bad_option', `${what}: ne0 = ${t.dims[0]} is not a multiple of the ${t.type.name} block size ${t.type.blockElems}`);
  }
  return (t.dims.reduce((a, b) => a * b, 1) / t.type.blockElems) * t.type.blockBytes;
}

function kvEntries(metadata: GGUFMetadataInput): GGUFKVInput[] {
  if (Symbol.iterator in metadata) return [...(metadata as Iterable<GGUFKVInput>)];
  const { metadata: values, kvTypes } = metadata as Pick<GGUFFile, 'metadata' | 'kvTypes'>;
  return Object.keys(values).map((key) => {
    const type = kvTypes[key];
    if (!type) throw new IfpruneError('bad_option', `GGUF metadata ${JSON.stringify(key)} has no entry in kvTypes`);
    return { key, type, value: values[key]! };
  });
}

/** The alignment to use; adds general.alignment to `kv` when it differs from the default. */
function resolveAlignment(kv: GGUFKVInput[], requested: number | undefined): number {
  const entry = kv.find((e) => e.key === 'general.alignment');
  const declared = entry === undefined ? undefined : Number(entry.value);
  if (requested !== undefined && declared !== undefined && requested !== declared) {
    throw new IfpruneError('bad_option', `alignment ${requested} contradicts the metadata's general.alignment ${declared}`);
  }
  const alignment = requested ?? declared ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || alignment > 0xffffffff || (alignment & (alignment - 1)) !== 0) {
    throw new IfpruneError('bad_option', `GGUF alignment must be a power of two; got ${alignment}`);
  }
  if (entry === undefined && alignment !== GGUF_DEFAULT_ALIGNMENT) {
    kv.push({ key: 'general.alignment', type: GGUFValueType.UINT32, value: alignment });
  }
  return alignment;
}

// ---------------------------------------------------------------------------------------------------
// values

function writeValue(w: ByteWriter, t: GGUFType, value: GGUFValue, what: string): void {
  if (t.type === GGUFValueType.STRING) {
    if (typeof value !== 'string') throw badValue(what, 'STRING', value);
    w.string(value);
  } else if (t.type === GGUFValueType.ARRAY) {
    writeArray(w, t, value, what);
  } else {
    w.fixed(t.type, checkScalar(t.type, value, what));
  }
}

function writeArray(w: ByteWriter, t: GGUFType, value: GGUFValue, what: string): void {
  if (!Array.isArray(value) && !ArrayBuffer.isView(value)) throw badValue(what, 'ARRAY', value);
  const items = value as ArrayLike<unknown>;
  const itemType = t.itemType ?? inferArrayType(value as GGUFArray, what).itemType!;
  w.u32(itemType);
  w.u64(items.length);
  if (itemType === GGUFValueType.STRING || itemType === GGUFValueType.ARRAY) {
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as GGUFValue;
      const itemT = itemType === GGUFValueType.ARRAY ? (t.items?.[i] ?? inferArrayType(item as GGUFArray, `${what}[${i}]`)) : { type: itemType };
      writeValue(w, itemT, item, `${what}[${i}]`);
    }
    return;
  }
  const fixed = GGUF_FIXED_TYPES[itemType];
  if (!fixed) throw new IfpruneError('bad_option', `${what}: unknown array item type ${itemType}`);
  if (fixed.array && value instanceof fixed.array && HOST_LITTLE_ENDIAN) {
    w.bytes(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)); // already the file's bytes
    return;
  }
  for (let i = 0; i < items.length; i++) w.fixed(itemType, checkScalar(itemType, items[i], `${what}[${i}]`));
}

/** The declared type of an array value, from its JS type (typed array kind, string[], boolean[], nested). */
export function inferArrayType(value: GGUFArray, what = 'value'): GGUFType {
  for (const [id, f] of Object.entries(GGUF_FIXED_TYPES)) {
    if (f.array && value instanceof f.array) return { type: GGUFValueType.ARRAY, itemType: Number(id) as GGUFValueType };
  }
  if (Array.isArray(value) && value.length > 0) {
    if (value.every((v) => typeof v === 'string')) return { type: GGUFValueType.ARRAY, itemType: GGUFValueType.STRING };
    if (value.every((v) => typeof v === 'boolean')) return { type: GGUFValueType.ARRAY, itemType: GGUFValueType.BOOL };
    if (value.every((v) => Array.isArray(v) || ArrayBuffer.isView(v))) {
      return { type: GGUFValueType.ARRAY, itemType: GGUFValueType.ARRAY, items: value.map((v, i) => inferArrayType(v as GGUFArray, `${what}[${i}]`)) };
    }
  }
  throw new IfpruneError('bad_option', `${what}: cannot tell the GGUF item type of this array; give { type: ARRAY, itemType }`);
}

function checkScalar(type: number, value: unknown, what: string): number | bigint | boolean {
  const name = ggufTypeName(type);
  if (type === GGUFValueType.BOOL) {
    if (typeof value !== 'boolean') throw badValue(what, name, value);
    return value;
  }
  const range = INT_RANGE[type];
  if (!range) {
    if (typeof value !== 'number') throw badValue(what, name, value);
    return value;
  }
  const big = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : undefined;
  if (big === undefined || big < range[0] || big > range[1]) throw badValue(what, name, value);
  const is64 = type === GGUFValueType.UINT64 || type === GGUFValueType.INT64;
  return is64 ? big : Number(big);
}

function badValue(what: string, typeName: string, value: unknown): IfpruneError {
  const shown = typeof value === 'bigint' ? `${value}n` : ArrayBuffer.isView(value) ? value.constructor.name : JSON.stringify(value);
  return new IfpruneError('bad_option', `${what}: ${String(shown).slice(0, 60)} is not a valid ${typeName}`);
}
