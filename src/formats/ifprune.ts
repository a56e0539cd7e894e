/**
 * The ifprune model file: a GGUF v3 file (gguf.ts) whose `ifprune.*` metadata says how it was made and
 * lets any byte range of any tensor be verified. docs/format.md is the long form; this is the table.
 *
 *   key                                   type            meaning
 *   ifprune.version.major                 UINT32          format major: a reader refuses a newer one
 *   ifprune.version.minor                 UINT32          format minor: additions a reader may ignore
 *   ifprune.version.reader                STRING          oldest ifprune release that reads this major ("0.1.0")
 *   ifprune.converter                     STRING          the writer ("ifprune 0.1.0")
 *   ifprune.layout                        STRING          "bundled" (FFN as blk.N.ffn_bundle) | "standard"
 *   ifprune.type                          STRING          requested weight type: f32 | f16 | q8_0 | q4_0
 *   ifprune.fallback.type                 STRING          type of matrices whose rows are not whole blocks
 *   ifprune.fallback.tensors              ARRAY[STRING]   those matrices (absent when none)
 *   ifprune.source.name                   STRING          file name of the source model
 *   ifprune.source.format                 STRING          gguf | llama2c | safetensors
 *   ifprune.source.bytes                  UINT64          its size
 *   ifprune.source.sha256                 STRING          SHA-256 of its bytes, lowercase hex
 *   ifprune.hash.algorithm                STRING          "xxh64" (seed 0), see xxh64.ts
 *   ifprune.chunk_bytes.<tensor>          UINT64          chunk size of <tensor> (a whole number of its rows)
 *   ifprune.chunk_hashes.<tensor>         ARRAY[UINT64]   hash of chunk i = bytes [i·c, min((i+1)·c, size))
 *   ifprune.perm.<layer>                  ARRAY[UINT32]   bundled + reordered only: row r of blk.<layer>.ffn_bundle
 *                                                         holds source neuron perm[r]
 *   ifprune.reorder.*                     various         how the permutation was computed (reorder.ts)
 *
 * Bundled layout: per layer `blk.N.ffn_bundle`, GGUF dims [3·dim, n_ff] (n_ff rows of 3·dim weights),
 * row j = [gate_j (dim) | up_j (dim) | down[:, j] (dim)], each third whole blocks of the tensor type
 * (F32, F16, Q8_0 or Q4_0); no ffn_gate / ffn_up / ffn_down tensors. Chunks of a bundle tensor are
 * one row each, so any set of selected neurons is verifiable without reading a byte more.
 *
 * This file reads and checks that metadata (readIfpruneInfo) and verifies bytes (verifyTensorBytes);
 * it knows row and block sizes, nothing about the values.
 */
import { IfpruneError } from '../errors.ts';
import { QUANT, rowBytes, type QuantType } from './quant.ts';
import { xxh64Words } from './xxh64.ts';

/** This ifprune's release (package.json "version"; a test keeps them equal). */
export const IFPRUNE_VERSION = '0.1.0';
/** The format this ifprune writes, and the newest major it reads. */
export const IFPRUNE_FORMAT = { major: 1, minor: 0 } as const;
/** The first ifprune release that reads format major 1. */
export const IFPRUNE_FORMAT_READER = '0.1.0';

export const IFPRUNE_KEYS = {
  versionMajor: 'ifprune.version.major',
  versionMinor: 'ifprune.version.minor',
  versionReader: 'ifprune.version.reader',
  converter: 'ifprune.converter',
  layout: 'ifprune.layout',
  type: 'ifprune.type',
  fallbackType: 'ifprune.fallback.type',
  fallbackTensors: 'ifprune.fallback.tensors',
  sourceName: 'ifprune.source.name',
  sourceFormat: 'ifprune.source.format',
  sourceBytes: 'ifprune.source.bytes',
  sourceSha256: 'ifprune.source.sha256',
  hashAlgorithm: 'ifprune.hash.algorithm',
  chunkBytes: (tensor: string) => `ifprune.chunk_bytes.${tensor}`,
  chunkHashes: (tensor: string) => `ifprune.chunk_hashes.${tensor}`,
  perm: (layer: number) => `ifprune.perm.${layer}`,
  reorderMethod: 'ifprune.reorder.method',
  reorderDensity: 'ifprune.reorder.density',
  reorderExamples: 'ifprune.reorder.examples',
  reorderCalibrationSha256: 'ifprune.reorder.calibration_sha256',
} as const;

export const IFPRUNE_LAYOUTS = ['bundled', 'standard'] as const;
export type IfpruneLayout = (typeof IFPRUNE_LAYOUTS)[number];

/** Weight types a file can be converted to, by their CLI name. */
export const IFPRUNE_TYPES = { f32: QUANT.F32, f16: QUANT.F16, q8_0: QUANT.Q8_0, q4_0: QUANT.Q4_0 } as const;
export type IfpruneType = keyof typeof IFPRUNE_TYPES;

export const HASH_ALGORITHM = 'xxh64';

/** Target chunk size of tensors other than bundles: a whole number of rows, at most this (unless one row is larger). */
export const CHUNK_TARGET_BYTES = 64 * 1024;

/** GGUF name of layer `layer`'s bundle tensor. */
export function bundleTensorName(layer: number): string {
  return `blk.${layer}.ffn_bundle`;
}

/** Whether `name` is a bundle tensor's (blk.N.ffn_bundle). */
export function isBundleName(name: string): boolean {
  return /^blk\.\d+\.ffn_bundle$/.test(name);
}

/** The FFN tensors the bundled layout replaces. */
const FFN_TENSORS = ['ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight'];

/** A tensor as the GGUF reader (GGUFTensorInfo) and ModelSpec (TensorRef) both describe it. */
export interface TensorLike {
  name: string;
  type: QuantType;
  /** GGUF order: dims[0] (ne0) is a row's length. */
  dims: number[];
  /** Absolute offset in the file (used in messages only). */
  offset: number;
  bytes: number;
}

/** Bytes of one row (dims[0] elements) of a tensor. */
export function tensorRowBytes(t: Pick<TensorLike, 'type' | 'dims'>): number {
  return rowBytes(t.type, t.dims[0]!);
}

/**
 * The chunk size the converter gives a tensor: one row for bundles (neurons are loaded row by row);
 * otherwise as many whole rows as fit in CHUNK_TARGET_BYTES (at least one). A 1-D tensor is one row.
 * Readers use the recorded ifprune.chunk_bytes.<tensor>, never this.
 */
export function chooseChunkBytes(t: Pick<TensorLike, 'name' | 'type' | 'dims'>): number {
  const row = tensorRowBytes(t);
  if (isBundleName(t.name)) return row;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return row * Math.max(1, Math.min(rows, Math.floor(CHUNK_TARGET_BYTES / row)));
}

// ---------------------------------------------------------------------------------------------------
// readIfpruneInfo

export interface TensorChunks {
  tensor: string;
  /** Absolute offset of the tensor in the file. */
  offset: number;
  bytes: number;
  chunkBytes: number;
  /** One XXH64 per chunk. */
  hashes: BigUint64Array;
  /** The same memory as (lo, hi) uint32 pairs, compared without bigints. */
  words: Uint32Array;
}

export interface BundleInfo {
  layer: number;
  name: string;
  type: QuantType;
  dim: number;
  /** Rows = neurons. */
  nFF: number;
  /** Bytes of one neuron's bundle: 3 × partBytes. */
  rowBytes: number;
  /** Bytes of one third (gate, up or down) of a row. */
  partBytes: number;
  /** Absolute offset of row 0 in the file. */
  offset: number;
  bytes: number;
}

export interface IfpruneInfo {
  version: { major: number; minor: number };
  /** Oldest ifprune that reads this file. */
  reader: string;
  converter: string;
  layout: IfpruneLayout;
  type: IfpruneType;
  fallback: { type: string; tensors: string[] } | null;
  source: { name: string; format: string; bytes: number; sha256: string } | null;
  hashAlgorithm: typeof HASH_ALGORITHM;
  /** Per tensor, by GGUF name. */
  chunks: Map<string, TensorChunks>;
  /** Bundled layout: one per layer, in layer order; standard: empty. */
  bundles: BundleInfo[];
  /** Per layer: row r of the bundle holds source neuron perm[r]; null when not reordered. */
  perms: (Uint32Array | null)[];
  /** ifprune.reorder.* values, when reordered. */
  reorder: Record<string, unknown> | null;
}

export interface IfpruneSource {
  metadata: Record<string, unknown>;
  tensors: Iterable<TensorLike> | Map<string, TensorLike>;
}

/** The IfpruneError for a file whose ifprune metadata is inconsistent. */
function corrupt(name: string, msg: string): IfpruneError {
  return new IfpruneError('corrupt', `${name}: ifprune metadata: ${msg}; the file is damaged or was not written by ifprune convert`);
}

/** Whether the metadata has ifprune keys at all (a plain GGUF has none). */
export function isIfpruneFile(metadata: Record<string, unknown>): boolean {
  return metadata[IFPRUNE_KEYS.versionMajor] !== undefined;
}

/**
 * Refuses a file whose format major is newer than this ifprune reads, saying which ifprune to use.
 * Called first by readIfpruneInfo, before any other key is interpreted.
 */
export function checkIfpruneVersion(metadata: Record<string, unknown>, name: string): { major: number; minor: number } {
  const major = metadata[IFPRUNE_KEYS.versionMajor];
  const minor = metadata[IFPRUNE_KEYS.versionMinor] ?? 0;
  if (typeof major !== 'number' || !Number.isInteger(major) || typeof minor !== 'number' || !Number.isInteger(minor)) {
    throw corrupt(name, `${IFPRUNE_KEYS.versionMajor} / ${IFPRUNE_KEYS.versionMinor} must be UINT32; found ${String(major)} / ${String(minor)}`);
  }
  if (major > IFPRUNE_FORMAT.major) {
    const reader = metadata[IFPRUNE_KEYS.versionReader];
    const need = typeof reader === 'string' && /^[0-9A-Za-z.+-]{1,32}$/.test(reader) ? `ifprune ${reader} or newer` : 'a newer ifprune';
    throw new IfpruneError(
      'bad_version',
      `${name} is an ifprune model file of format ${major}.${minor}; this ifprune (${IFPRUNE_VERSION}) reads format ${IFPRUNE_FORMAT.major}.x. ` +
        `Upgrade to ${need} (npm install ifprune@latest), or re-convert the model with this version (ifprune convert).`,
    );
  }
  if (major < 1) throw corrupt(name, `format major ${major} does not exist (the first is 1)`);
  return { major, minor };
}

/**
 * Reads and checks the ifprune metadata of a parsed GGUF file (GGUFFile, or a ModelSpec's metadata
 * and tensors): version first, then layout, types, bundle shapes, permutations and chunk hashes of
 * every tensor. Returns null for a plain GGUF without ifprune keys.
 */
export function readIfpruneInfo(file: IfpruneSource, name = 'model'): IfpruneInfo | null {
  const meta = file.metadata;
  if (!isIfpruneFile(meta)) return null;
  const version = checkIfpruneVersion(meta, name);
  const str = (key: string, fallback?: string): string => {
    const v = meta[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string') throw corrupt(name, `${key} should be a string; found ${describe(v)}`);
    return v;
  };
  const int = (key: string): number => {
    const v = meta[key];
    const n = typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw corrupt(name, `${key} should be a non-negative integer; found ${describe(v)}`);
    return n;
  };

  const layout = str(IFPRUNE_KEYS.layout) as IfpruneLayout;
  if (!IFPRUNE_LAYOUTS.includes(layout)) throw corrupt(name, `${IFPRUNE_KEYS.layout} is "${layout}"; expected ${IFPRUNE_LAYOUTS.join(' or ')}`);
  const type = str(IFPRUNE_KEYS.type) as IfpruneType;
  if (!(type in IFPRUNE_TYPES)) throw corrupt(name, `${IFPRUNE_KEYS.type} is "${type}"; expected one of ${Object.keys(IFPRUNE_TYPES).join(', ')}`);
  const algorithm = str(IFPRUNE_KEYS.hashAlgorithm);
  if (algorithm !== HASH_ALGORITHM) {
    throw new IfpruneError('unsupported', `${name}: chunk hash algorithm "${algorithm}" is not one this ifprune (${IFPRUNE_VERSION}) knows (${HASH_ALGORITHM}); upgrade ifprune`);
  }
  const fallbackTensors = meta[IFPRUNE_KEYS.fallbackTensors];
  const fallback = fallbackTensors === undefined
    ? null
    : { type: str(IFPRUNE_KEYS.fallbackType), tensors: Array.isArray(fallbackTensors) ? fallbackTensors.map(String) : [] };
  const source = meta[IFPRUNE_KEYS.sourceSha256] === undefined
    ? null
    : { name: str(IFPRUNE_KEYS.sourceName, ''), format: str(IFPRUNE_KEYS.sourceFormat, ''), bytes: int(IFPRUNE_KEYS.sourceBytes), sha256: str(IFPRUNE_KEYS.sourceSha256) };

  const tensors = new Map<string, TensorLike>();
  for (const t of file.tensors instanceof Map ? file.tensors.values() : file.tensors) tensors.set(t.name, t);

  // --- chunk hashes: every tensor has them, and no key names a tensor that does not exist
  const chunks = new Map<string, TensorChunks>();
  for (const t of tensors.values()) {
    const cKey = IFPRUNE_KEYS.chunkBytes(t.name);
    const hKey = IFPRUNE_KEYS.chunkHashes(t.name);
    if (meta[cKey] === undefined || meta[hKey] === undefined) throw corrupt(name, `tensor ${t.name} has no chunk hashes (${cKey}, ${hKey})`);
    const chunkBytes = int(cKey);
    const row = tensorRowBytes(t);
    if (chunkBytes === 0 || chunkBytes % row !== 0) throw corrupt(name, `${cKey} = ${chunkBytes} is not a positive whole number of ${t.name}'s ${row}-byte rows`);
    if (isBundleName(t.name) && chunkBytes !== row) {
      // Larger chunks would make the loader read neurons it did not select (issue 5: loaded bytes
      // within 5% of density x FFN bytes).
      throw corrupt(name, `${cKey} = ${chunkBytes}; bundle chunks must be one ${row}-byte row`);
    }
    const hashes = meta[hKey];
    const count = Math.ceil(t.bytes / chunkBytes);
    if (!(hashes instanceof BigUint64Array) || hashes.length !== count) {
      throw corrupt(name, `${hKey} should be ${count} UINT64 (${t.bytes} bytes in ${chunkBytes}-byte chunks); found ${describe(hashes)}`);
    }
    chunks.set(t.name, { tensor: t.name, offset: t.offset, bytes: t.bytes, chunkBytes, hashes, words: new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length * 2) });
  }
  for (const key of Object.keys(meta)) {
    const m = /^ifprune\.chunk_(?:bytes|hashes)\.(.+)$/.exec(key);
    if (m && !tensors.has(m[1]!)) throw corrupt(name, `${key} names a tensor the file does not have`);
  }

  // --- the FFN: bundles (bundled) or the three standard matrices (standard)
  const arch = meta['general.architecture'];
  const hp = (key: string) => int(`${String(arch)}.${key}`);
  const nLayers = hp('block_count');
  const dim = hp('embedding_length');
  const nFF = hp('feed_forward_length');
  const bundles: BundleInfo[] = [];
  for (let l = 0; l < nLayers; l++) {
    const bName = bundleTensorName(l);
    const b = tensors.get(bName);
    const ffn = FFN_TENSORS.map((s) => `blk.${l}.${s}`).filter((n) => tensors.has(n));
    if (layout === 'standard') {
      if (b) throw corrupt(name, `layout is standard but the file has ${bName}`);
      continue;
    }
    if (!b) throw corrupt(name, `layout is bundled but tensor ${bName} is missing`);
    if (ffn.length) throw corrupt(name, `layout is bundled but the file also has ${ffn.join(', ')}`);
    if (!(Object.values(IFPRUNE_TYPES) as QuantType[]).some((q) => q.id === b.type.id)) {
      throw corrupt(name, `${bName} has type ${b.type.name}; bundles are F32, F16, Q8_0 or Q4_0`);
    }
    if (b.dims.length !== 2 || b.dims[0] !== 3 * dim || b.dims[1] !== nFF) {
      throw corrupt(name, `${bName} has dims [${b.dims}]; expected [${3 * dim}, ${nFF}] (n_ff rows of 3 × dim ${dim})`);
    }
    if (dim % b.type.blockElems !== 0) throw corrupt(name, `${bName}: dim ${dim} is not a whole number of ${b.type.name} blocks`);
    const partBytes = rowBytes(b.type, dim);
    bundles.push({ layer: l, name: bName, type: b.type, dim, nFF, rowBytes: 3 * partBytes, partBytes, offset: b.offset, bytes: b.bytes });
  }

  // --- permutations
  const perms: (Uint32Array | null)[] = [];
  for (let l = 0; l < nLayers; l++) {
    const p = meta[IFPRUNE_KEYS.perm(l)];
    if (p === undefined) {
      perms.push(null);
      continue;
    }
    if (layout !== 'bundled') throw corrupt(name, `${IFPRUNE_KEYS.perm(l)} is only meaningful in the bundled layout`);
    if (!(p instanceof Uint32Array) || p.length !== nFF || !isPermutation(p)) {
      throw corrupt(name, `${IFPRUNE_KEYS.perm(l)} should be a permutation of 0..${nFF - 1} (UINT32 array of ${nFF}); found ${describe(p)}`);
    }
    perms.push(p);
  }
  const reorderEntries = Object.entries(meta).filter(([k]) => k.startsWith('ifprune.reorder.'));
  const reorder = reorderEntries.length ? Object.fromEntries(reorderEntries.map(([k, v]) => [k.slice('ifprune.reorder.'.length), v])) : null;

  return {
    version,
    reader: str(IFPRUNE_KEYS.versionReader, IFPRUNE_FORMAT_READER),
    converter: str(IFPRUNE_KEYS.converter, ''),
    layout,
    type,
    fallback,
    source,
    hashAlgorithm: HASH_ALGORITHM,
    chunks,
    bundles,
    perms,
    reorder,
  };
}

/** Whether p holds each of 0..p.length-1 exactly once. */
export function isPermutation(p: ArrayLike<number>): boolean {
  const seen = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i]!;
    if (!(v >= 0 && v < p.length) || seen[v]) return false;
    seen[v] = 1;
  }
  return true;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<unknown>).length})`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)?.slice(0, 40) ?? String(v);
}

// ---------------------------------------------------------------------------------------------------
// verification

export interface ChunkSpan {
  /** Widened range inside the tensor: starts and ends on chunk boundaries (or the tensor's end). */
  offset: number;
  length: number;
  firstChunk: number;
  chunkCount: number;
}

function chunksOf(info: Pick<IfpruneInfo, 'chunks'>, tensor: string): TensorChunks {
  const c = info.chunks.get(tensor);
  if (!c) throw new IfpruneError('not_found', `tensor ${JSON.stringify(tensor)} has no chunk hashes in this ifprune file (is the name right?)`);
  return c;
}

/**
 * The smallest chunk-aligned range of `tensor` that covers [offset, offset + length): what a loader
 * must read to verify those bytes. For a bundle tensor, rows are chunks, so a row range maps to itself.
 */
export function chunkSpan(info: Pick<IfpruneInfo, 'chunks'>, tensor: string, offset: number, length: number): ChunkSpan {
  const c = chunksOf(info, tensor);
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= c.bytes)) {
    throw new IfpruneError('bad_option', `range [${offset}, ${offset + length}) is not inside tensor ${tensor} (${c.bytes} bytes)`);
  }
  if (length === 0) return { offset, length: 0, firstChunk: Math.floor(offset / c.chunkBytes), chunkCount: 0 };
  const firstChunk = Math.floor(offset / c.chunkBytes);
  const end = Math.min(c.bytes, Math.ceil((offset + length) / c.chunkBytes) * c.chunkBytes);
  const start = firstChunk * c.chunkBytes;
  return { offset: start, length: end - start, firstChunk, chunkCount: Math.ceil((end - start) / c.chunkBytes) };
}

/**
 * Checks `bytes`, the tensor's bytes [offset, offset + bytes.length), against the recorded chunk hashes.
 * The range must be whole chunks (widen reads with chunkSpan). A mismatch throws
 * IfpruneError('hash_mismatch') naming the tensor, the chunk's byte offset in the tensor and in the
 * file; the caller must not use the bytes.
 */
export function verifyTensorBytes(info: Pick<IfpruneInfo, 'chunks'>, tensor: string, offset: number, bytes: Uint8Array): void {
  const c = chunksOf(info, tensor);
  const span = chunkSpan(info, tensor, offset, bytes.length);
  if (span.offset !== offset || span.length !== bytes.length) {
    throw new IfpruneError(
      'bad_option',
      `cannot verify bytes [${offset}, ${offset + bytes.length}) of ${tensor}: only whole ${c.chunkBytes}-byte chunks can be verified; ` +
        `read [${span.offset}, ${span.offset + span.length}) instead (chunkSpan)`,
    );
  }
  const got = new Uint32Array(2);
  for (let k = 0; k < span.chunkCount; k++) {
    const i = span.firstChunk + k;
    const rel = k * c.chunkBytes;
    const chunk = bytes.subarray(rel, Math.min(rel + c.chunkBytes, bytes.length));
    xxh64Words(chunk, got);
    if (got[0] !== c.words[2 * i] || got[1] !== c.words[2 * i + 1]) {
      const at = offset + rel;
      throw new IfpruneError(
        'hash_mismatch',
        `tensor ${tensor}: bytes ${at}..${at + chunk.length} (chunk ${i}, file offset ${c.offset + at}) do not match their recorded ` +
          `${HASH_ALGORITHM} hash (${hex64(got)} ≠ ${c.hashes[i]!.toString(16).padStart(16, '0')}); they were damaged in transit (try again: ` +
          `the next load reads them anew) or the file is damaged or was changed after conversion (download or convert it again)`,
      );
    }
  }
}

function hex64(w: Uint32Array): string {
  return w[1]!.toString(16).padStart(8, '0') + w[0]!.toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------------------------------------------
// layout summary (for inspect and load planning)

export interface IfpruneLayoutSummary {
  fileBytes: number;
  /** Everything but the bundles: header, embeddings, attention, norms, classifier. */
  coreBytes: number;
  /** Per layer, bundled layout only. */
  bundleBytesPerLayer: number[];
  /** Bytes of one neuron's bundle per layer. */
  bytesPerNeuron: number[];
  /** Fraction of the file a load at `density` reads: (core + density × bundles) / file. */
  fractionAt(density: number): number;
}

export function summarizeLayout(info: IfpruneInfo, fileBytes: number): IfpruneLayoutSummary {
  const bundleBytesPerLayer = info.bundles.map((b) => b.bytes);
  const bundleBytes = bundleBytesPerLayer.reduce((a, b) => a + b, 0);
  const coreBytes = fileBytes - bundleBytes;
  return {
    fileBytes,
    coreBytes,
    bundleBytesPerLayer,
    bytesPerNeuron: info.bundles.map((b) => b.rowBytes),
    fractionAt: (density: number) => (coreBytes + density * bundleBytes) / fileBytes,
  };
}
