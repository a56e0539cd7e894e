/**
 * convert: any ModelSpec (GGUF, llama2.c, safetensors) → an ifprune GGUF v3 file (docs/format.md).
 *
 *   header     general.*, <arch>.*, tokenizer.ggml.*, ifprune.* (version, layout, source sha256,
 *              permutations, a chunk-hash array per tensor)
 *   core       token_embd, output_norm, output (untied only), then per layer attn_norm, attn_q(+bias),
 *              attn_k(+bias), attn_v(+bias), attn_output, ffn_norm: contiguous, so a loader fetches the
 *              whole core in one range
 *   FFN        bundled: blk.N.ffn_bundle for N = 0..L-1, row j = [gate_j | up_j | down[:, j]]
 *              standard: blk.N.ffn_gate, ffn_up, ffn_down for N = 0..L-1
 *
 * Streaming: tensors are produced one group of rows at a time (at most STAGE_ELEMS values) and
 * written before the next group is read; the only tensor held whole is a layer's ffn_down in its
 * source encoding (its columns are scattered over all its rows), plus attn_q / attn_k when their rows
 * are reordered (NeoX → adjacent RoPE). Peak memory ≈ the largest such tensor + a few staging buffers
 * + the header (vocabulary and chunk hashes).
 *
 * The header precedes the data but holds the data's hashes, so it is written last: its size does not
 * depend on the hash values (fixed-size UINT64 arrays), only on the tensor shapes.
 */
import { IfpruneError } from '../errors.ts';
import { GGUFValueType as T } from '../formats/gguf.ts';
import { encodeGGUFHeader, type GGUFKVInput, type GGUFTensorDesc } from '../formats/gguf-write.ts';
import {
  HASH_ALGORITHM, IFPRUNE_FORMAT, IFPRUNE_FORMAT_READER, IFPRUNE_KEYS, IFPRUNE_TYPES, IFPRUNE_VERSION,
  bundleTensorName, chooseChunkBytes, isPermutation, type IfpruneLayout, type IfpruneType,
} from '../formats/ifprune.ts';
import type { ModelSpec, TensorRef } from '../formats/model-spec.ts';
import { QUANT, rowBytes, type QuantType } from '../formats/quant.ts';
import { xxh64Words } from '../formats/xxh64.ts';
import { readAt } from '../sources/read.ts';
import type { TokenizerData } from '../tokenizer/types.ts';
import { RowCodec, readColumn } from './codec.ts';
import { CHAT_TEMPLATE_KEY, FILE_TYPE, extraGeneralKeys, extraTokenizerKeys, hyperparameterKeys, tokenizerKeys } from './metadata.ts';
import { sha256Source } from './sha256.ts';
import type { ConvertSink } from './sink.ts';

/** Values staged per step (4 MiB of f32). */
export const STAGE_ELEMS = 1 << 20;

export interface ConvertReorder {
  /** Per layer: row r of the bundle takes source neuron perms[l][r]; null keeps the source order. */
  perms: (Uint32Array | null)[];
  /** Recorded as ifprune.reorder.* (method, density, examples, calibration_sha256). */
  method: string;
  density?: number;
  examples?: number;
  calibrationSha256?: string;
}

export interface ConvertOptions {
  type: IfpruneType;
  layout: IfpruneLayout;
  /** Required when the source carries none (llama2.c); overrides the source's otherwise. */
  tokenizer?: TokenizerData;
  /** Kernel module for quantization (fast); without it the bit-identical TS references run. */
  module?: WebAssembly.Module;
  /** Type of matrices whose rows are not whole blocks of the requested type (default f16, as llama.cpp). */
  fallback?: 'f16' | 'f32';
  /** Neuron order of each layer's bundles (bundled layout only), see reorder.ts. */
  reorder?: ConvertReorder;
  /** SHA-256 of the source file, when already known (skips reading it once more). */
  sourceSha256?: string;
  /**
   * Written as tokenizer.chat_template (a Jinja template; Hugging Face's tokenizer_config.json
   * chat_template, see parseHfChatTemplate). Default: a GGUF source's own tokenizer.chat_template.
   */
  chatTemplate?: string;
  /** Recorded as ifprune.source.name (default: the source's name without its directory). */
  sourceName?: string;
  onProgress?: (e: ConvertProgress) => void;
  signal?: AbortSignal;
}

/** Progress events, in order: sha256 (source hashing), tensor (after each group of rows), done. */
export type ConvertProgress =
  | { type: 'sha256'; bytesDone: number; bytesTotal: number }
  | { type: 'tensor'; name: string; index: number; count: number; pass: 1 | 2; bytesDone: number; bytesTotal: number }
  | { type: 'done'; bytes: number; seconds: number };

export interface ConvertResult {
  /** Size of the output file. */
  bytes: number;
  arch: string;
  layout: IfpruneLayout;
  type: IfpruneType;
  tensors: { name: string; type: string; dims: number[]; bytes: number }[];
  sourceSha256: string;
  /** Matrices stored in the fallback type, and other things the user should know. */
  fallbackTensors: string[];
  warnings: string[];
  seconds: number;
}

// ---------------------------------------------------------------------------------------------------
// plan

/** One output tensor: its description, chunking and hashes, and how to produce its bytes. */
interface OutTensor extends GGUFTensorDesc {
  bytes: number;
  chunkBytes: number;
  hashes: BigUint64Array;
  /** Produces the tensor's bytes in order, one or more whole chunks per `emit` call. */
  produce(ctx: Ctx, emit: (bytes: Uint8Array) => Promise<void>): Promise<void>;
}

interface Ctx {
  spec: ModelSpec;
  codec: RowCodec;
  signal?: AbortSignal;
}

const elems = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** The architecture written, and whether attn_q / attn_k rows must go from NeoX to adjacent RoPE order. */
function outputArch(spec: ModelSpec): { arch: 'llama' | 'qwen2'; permuteQK: boolean } {
  const c = spec.config;
  if (c.ropeStyle === 'adjacent') return { arch: 'llama', permuteQK: false };
  if (c.qkvBias) return { arch: 'qwen2', permuteQK: false }; // qwen2 GGUFs keep NeoX order
  if (c.ropeDim !== c.headSize) {
    throw new IfpruneError('unsupported', `${spec.source.name}: partial NeoX RoPE (rope dimension ${c.ropeDim} of head size ${c.headSize}) cannot be written as a llama GGUF`);
  }
  return { arch: 'llama', permuteQK: true }; // Hugging Face Llama: undo the q/k "permute" (convert_hf_to_gguf.py)
}

/** Source row of output row r for a NeoX → adjacent head permutation: out h·hs + 2i + j ← in h·hs + j·hs/2 + i. */
function neoxToAdjacent(headSize: number): (r: number) => number {
  const half = headSize / 2;
  return (r) => {
    const h = Math.floor(r / headSize);
    const k = r % headSize;
    return h * headSize + (k & 1) * half + (k >> 1);
  };
}

/** A standard tensor: rows of the source (optionally reordered), re-encoded as `type`. */
function matrixTensor(name: string, src: TensorRef, type: QuantType, rowOf?: (r: number) => number): OutTensor {
  const dims = src.dims;
  const cols = dims[0]!;
  const rows = elems(dims) / cols;
  const inRow = rowBytes(src.type, cols);
  const outRow = rowBytes(type, cols);
  const desc = { name, type, dims };
  const chunkBytes = chooseChunkBytes(desc);
  const chunkRows = chunkBytes / outRow;
  const groupRows = chunkRows * Math.max(1, Math.floor(STAGE_ELEMS / (chunkRows * cols)));
  const same = src.type.id === type.id;
  return {
    ...desc,
    bytes: rows * outRow,
    chunkBytes,
    hashes: new BigUint64Array(Math.ceil((rows * outRow) / chunkBytes)),
    async produce(ctx, emit) {
      if (groupRows * cols > ctx.codec.stageElems) throw new IfpruneError('unsupported', `${name}: a chunk of ${chunkRows} rows of ${cols} exceeds the staging buffer`);
      const whole = rowOf ? await readAt(ctx.spec.source, src.offset, src.bytes, `tensor ${src.name}`, ctx.signal) : null;
      for (let r0 = 0; r0 < rows; r0 += groupRows) {
        ctx.signal?.throwIfAborted();
        const n = Math.min(groupRows, rows - r0);
        let raw: Uint8Array;
        if (whole) {
          raw = new Uint8Array(n * inRow);
          for (let k = 0; k < n; k++) {
            const s = rowOf!(r0 + k);
            raw.set(whole.subarray(s * inRow, (s + 1) * inRow), k * inRow);
          }
        } else {
          raw = await readAt(ctx.spec.source, src.offset + r0 * inRow, n * inRow, `tensor ${src.name}`, ctx.signal);
        }
        if (same) {
          await emit(raw);
        } else {
          ctx.codec.decode(src.type, raw, n * cols, 0); // rows are whole blocks: n rows decode as one run
          await emit(ctx.codec.encode(type, n * cols));
        }
      }
    },
  };
}

/**
 * blk.N.ffn_bundle: row r = [gate_p | up_p | down[:, p]] with p = perm[r], each third `type` blocks.
 * gate / up rows already in `type` are copied byte for byte; down columns are always re-encoded.
 */
function bundleTensor(layer: number, gate: TensorRef, up: TensorRef, down: TensorRef, dim: number, nFF: number, type: QuantType, perm: Uint32Array | null): OutTensor {
  const name = bundleTensorName(layer);
  const part = rowBytes(type, dim);
  const desc = { name, type, dims: [3 * dim, nFF] };
  const chunkBytes = chooseChunkBytes(desc); // one row
  const groupRows = Math.max(1, Math.floor(STAGE_ELEMS / (3 * dim)));
  const gateRow = rowBytes(gate.type, dim);
  const upRow = rowBytes(up.type, dim);
  const downRow = rowBytes(down.type, nFF); // down is (dim rows, nFF cols)
  return {
    ...desc,
    bytes: nFF * 3 * part,
    chunkBytes,
    hashes: new BigUint64Array(nFF),
    async produce(ctx, emit) {
      const { codec, spec, signal } = ctx;
      const downRaw = await readAt(spec.source, down.offset, down.bytes, `tensor ${down.name}`, signal);
      const ids = new Uint32Array(groupRows);
      for (let r0 = 0; r0 < nFF; r0 += groupRows) {
        signal?.throwIfAborted();
        const n = Math.min(groupRows, nFF - r0);
        for (let k = 0; k < n; k++) ids[k] = perm ? perm[r0 + k]! : r0 + k;
        const g = await readRows(ctx, gate, gateRow, ids.subarray(0, n));
        const u = await readRows(ctx, up, upRow, ids.subarray(0, n));
        for (let k = 0; k < n; k++) {
          const at = k * 3 * dim;
          codec.decode(gate.type, g.subarray(k * gateRow, (k + 1) * gateRow), dim, at);
          codec.decode(up.type, u.subarray(k * upRow, (k + 1) * upRow), dim, at + dim);
        }
        const stage = codec.stage();
        for (let k = 0; k < n; k++) readColumn(down.type, downRaw, downRow, dim, ids[k]!, stage, k * 3 * dim + 2 * dim);
        const out = codec.encode(type, n * 3 * dim); // each third is whole blocks: = encoding each alone
        if (gate.type.id === type.id) for (let k = 0; k < n; k++) out.set(g.subarray(k * gateRow, (k + 1) * gateRow), k * 3 * part);
        if (up.type.id === type.id) for (let k = 0; k < n; k++) out.set(u.subarray(k * upRow, (k + 1) * upRow), k * 3 * part + part);
        await emit(out);
      }
    },
  };
}

/** Rows `ids` (in that order) of a tensor, reading each run of consecutive ids in one request. */
async function readRows(ctx: Ctx, t: TensorRef, rowB: number, ids: Uint32Array): Promise<Uint8Array> {
  const out = new Uint8Array(ids.length * rowB);
  for (let k = 0; k < ids.length; ) {
    let e = k + 1;
    while (e < ids.length && ids[e] === ids[e - 1]! + 1) e++;
    await ctx.spec.source.readInto(t.offset + ids[k]! * rowB, out.subarray(k * rowB, e * rowB), ctx.signal);
    k = e;
  }
  return out;
}

interface Plan {
  arch: string;
  tensors: OutTensor[];
  metadata: GGUFKVInput[];
  fallbackTensors: string[];
  warnings: string[];
}

function planConvert(spec: ModelSpec, opts: ConvertOptions, sourceSha256: string): Plan {
  const c = spec.config;
  const type = IFPRUNE_TYPES[opts.type];
  if (!type) throw new IfpruneError('bad_option', `type "${opts.type}" is not one of ${Object.keys(IFPRUNE_TYPES).join(', ')}`);
  if (opts.layout !== 'bundled' && opts.layout !== 'standard') throw new IfpruneError('bad_option', `layout "${opts.layout}" is not bundled or standard`);
  const fallbackName = opts.fallback ?? 'f16';
  const fallback = IFPRUNE_TYPES[fallbackName];
  if (fallback !== QUANT.F16 && fallback !== QUANT.F32) throw new IfpruneError('bad_option', `fallback "${fallbackName}" must be f16 or f32`);
  const { arch, permuteQK } = outputArch(spec);
  const tokenizer = opts.tokenizer ?? spec.tokenizer;
  if (!tokenizer) {
    throw new IfpruneError('bad_option', `${spec.source.name} carries no tokenizer (a ${spec.format} checkpoint); pass its tokenizer (llama2.c: tokenizer.bin, --tokenizer FILE)`);
  }
  if (opts.layout === 'bundled' && c.dim % type.blockElems !== 0) {
    throw new IfpruneError(
      'bad_option',
      `cannot store ${opts.type} neuron bundles for dim ${c.dim}: a bundle row quantizes gate, up and down (dim values each) in blocks of ${type.blockElems}, ` +
        `and ${c.dim} is not a multiple of ${type.blockElems}. Convert with --type f16 or --type f32 instead (or --layout standard).`,
    );
  }
  const reorder = opts.reorder;
  if (reorder) {
    if (opts.layout !== 'bundled') throw new IfpruneError('bad_option', 'neuron reordering needs the bundled layout');
    if (reorder.perms.length !== c.nLayers) throw new IfpruneError('bad_option', `reorder.perms has ${reorder.perms.length} entries; the model has ${c.nLayers} layers`);
    reorder.perms.forEach((p, l) => {
      if (p && (p.length !== c.hiddenDim || !isPermutation(p))) throw new IfpruneError('bad_option', `reorder.perms[${l}] is not a permutation of 0..${c.hiddenDim - 1}`);
    });
  }

  if (spec.tensors.has(bundleTensorName(0))) {
    throw new IfpruneError('unsupported', `${spec.source.name} is already an ifprune file with neuron bundles; convert its source model (ifprune.source.name) instead`);
  }
  const get = (name: string): TensorRef => {
    const t = spec.tensors.get(name);
    if (!t) throw new IfpruneError('corrupt', `${spec.source.name}: tensor ${name} is missing`);
    return t;
  };
  const fallbackTensors: string[] = [];
  const warnings: string[] = [];
  const matrixType = (t: TensorRef) => {
    if (t.dims.length === 1) return QUANT.F32; // norms and biases stay F32, as llama.cpp keeps them
    if (t.dims[0]! % type.blockElems === 0) return type;
    fallbackTensors.push(t.name);
    return fallback;
  };
  const tensors: OutTensor[] = [];
  const std = (name: string, rowOf?: (r: number) => number) => {
    const t = get(name);
    tensors.push(matrixTensor(name, t, matrixType(t), rowOf));
  };

  // --- core
  std('token_embd.weight');
  std('output_norm.weight');
  if (!c.tiedEmbeddings) std('output.weight');
  const qk = permuteQK ? neoxToAdjacent(c.headSize) : undefined;
  for (let l = 0; l < c.nLayers; l++) {
    const b = `blk.${l}.`;
    std(b + 'attn_norm.weight');
    std(b + 'attn_q.weight', qk);
    if (c.qkvBias) std(b + 'attn_q.bias');
    std(b + 'attn_k.weight', qk);
    if (c.qkvBias) std(b + 'attn_k.bias');
    std(b + 'attn_v.weight');
    if (c.qkvBias) std(b + 'attn_v.bias');
    std(b + 'attn_output.weight');
    std(b + 'ffn_norm.weight');
  }
  // --- FFN
  for (let l = 0; l < c.nLayers; l++) {
    const b = `blk.${l}.`;
    if (opts.layout === 'bundled') {
      tensors.push(bundleTensor(l, get(b + 'ffn_gate.weight'), get(b + 'ffn_up.weight'), get(b + 'ffn_down.weight'), c.dim, c.hiddenDim, type, reorder?.perms[l] ?? null));
    } else {
      std(b + 'ffn_gate.weight');
      std(b + 'ffn_up.weight');
      std(b + 'ffn_down.weight');
    }
  }
  if (fallbackTensors.length) {
    warnings.push(
      `${fallbackTensors.length} matri${fallbackTensors.length === 1 ? 'x has rows' : 'ces have rows'} that are not whole ${type.name} blocks of ${type.blockElems} ` +
        `(${fallbackTensors.slice(0, 3).join(', ')}${fallbackTensors.length > 3 ? ', ...' : ''}); stored as ${fallback.name}`,
    );
  }

  // --- metadata
  const name = opts.sourceName ?? spec.source.name.split(/[\\/]/).pop() ?? spec.source.name;
  const generalName = typeof spec.metadata['general.name'] === 'string' ? (spec.metadata['general.name'] as string) : name.replace(/\.[^.]*$/, '');
  const K = IFPRUNE_KEYS;
  const metadata: GGUFKVInput[] = [
    { key: 'general.architecture', type: T.STRING, value: arch },
    { key: 'general.name', type: T.STRING, value: generalName },
    { key: 'general.file_type', type: T.UINT32, value: FILE_TYPE[opts.type] },
    ...(type.blockElems > 1 ? [{ key: 'general.quantization_version', type: T.UINT32, value: 2 } as GGUFKVInput] : []), // GGML_QNT_VERSION
    ...(spec.format === 'gguf' ? extraGeneralKeys(spec.metadata) : []),
    ...hyperparameterKeys(arch, c),
    ...tokenizerKeys(tokenizer, c.vocabSize),
    ...(spec.format === 'gguf' && !opts.tokenizer ? extraTokenizerKeys(spec.metadata).filter((kv) => opts.chatTemplate === undefined || kv.key !== CHAT_TEMPLATE_KEY) : []),
    ...(opts.chatTemplate !== undefined ? [{ key: CHAT_TEMPLATE_KEY, type: T.STRING, value: opts.chatTemplate } as GGUFKVInput] : []),
    { key: K.versionMajor, type: T.UINT32, value: IFPRUNE_FORMAT.major },
    { key: K.versionMinor, type: T.UINT32, value: IFPRUNE_FORMAT.minor },
    { key: K.versionReader, type: T.STRING, value: IFPRUNE_FORMAT_READER },
    { key: K.converter, type: T.STRING, value: `ifprune ${IFPRUNE_VERSION}` },
    { key: K.layout, type: T.STRING, value: opts.layout },
    { key: K.type, type: T.STRING, value: opts.type },
    ...(fallbackTensors.length
      ? [
          { key: K.fallbackType, type: T.STRING, value: fallbackName } as GGUFKVInput,
          { key: K.fallbackTensors, type: { type: T.ARRAY, itemType: T.STRING }, value: fallbackTensors } as GGUFKVInput,
        ]
      : []),
    { key: K.sourceName, type: T.STRING, value: name },
    { key: K.sourceFormat, type: T.STRING, value: spec.format },
    { key: K.sourceBytes, type: T.UINT64, value: BigInt(spec.source.size) },
    { key: K.sourceSha256, type: T.STRING, value: sourceSha256 },
    { key: K.hashAlgorithm, type: T.STRING, value: HASH_ALGORITHM },
  ];
  if (reorder) {
    metadata.push({ key: K.reorderMethod, type: T.STRING, value: reorder.method });
    if (reorder.density !== undefined) metadata.push({ key: K.reorderDensity, type: T.FLOAT32, value: reorder.density });
    if (reorder.examples !== undefined) metadata.push({ key: K.reorderExamples, type: T.UINT32, value: reorder.examples });
    if (reorder.calibrationSha256 !== undefined) metadata.push({ key: K.reorderCalibrationSha256, type: T.STRING, value: reorder.calibrationSha256 });
    reorder.perms.forEach((p, l) => {
      if (p) metadata.push({ key: K.perm(l), type: { type: T.ARRAY, itemType: T.UINT32 }, value: p });
    });
  }
  for (const t of tensors) {
    metadata.push({ key: K.chunkBytes(t.name), type: T.UINT64, value: BigInt(t.chunkBytes) });
    metadata.push({ key: K.chunkHashes(t.name), type: { type: T.ARRAY, itemType: T.UINT64 }, value: t.hashes });
  }
  return { arch, tensors, metadata, fallbackTensors, warnings };
}

/** Throws the IfpruneError convert() would for these options (type, layout, dim, tokenizer, reorder), without reading any tensor. */
export function checkConvert(spec: ModelSpec, opts: ConvertOptions): void {
  planConvert(spec, opts, '0'.repeat(64));
}

// ---------------------------------------------------------------------------------------------------
// convert

/**
 * Converts `spec` into an ifprune GGUF written to `sink`. Returns what was written. On error nothing
 * is cleaned up here: the caller owns the sink (fileSink's abort() removes a partial file).
 */
export async function convert(spec: ModelSpec, sink: ConvertSink, opts: ConvertOptions): Promise<ConvertResult> {
  const t0 = performance.now();
  const progress = opts.onProgress ?? (() => {});
  if (opts.sourceSha256 !== undefined && !/^[0-9a-f]{64}$/.test(opts.sourceSha256)) {
    throw new IfpruneError('bad_option', `sourceSha256 "${opts.sourceSha256}" is not 64 lowercase hex digits`);
  }
  // Plan first, so a conversion that cannot work fails before the source is read.
  const plan = planConvert(spec, opts, opts.sourceSha256 ?? '0'.repeat(64));
  const sourceSha256 = opts.sourceSha256 ?? (await sha256Source(spec.source, (bytesDone, bytesTotal) => progress({ type: 'sha256', bytesDone, bytesTotal }), opts.signal));
  plan.metadata.find((kv) => kv.key === IFPRUNE_KEYS.sourceSha256)!.value = sourceSha256;
  const layout = encodeGGUFHeader(plan.metadata, plan.tensors);
  const codec = await RowCodec.create(Math.max(STAGE_ELEMS, ...plan.tensors.map((t) => t.dims[0]! * 3)), opts.module);
  const ctx: Ctx = { spec, codec, signal: opts.signal };
  const total = plan.tensors.reduce((s, t) => s + t.bytes, 0);

  // Positioned sinks: tensors, then the header. Sequential: pass 1 hashes only; header; pass 2 writes.
  let pos = 0; // sequential: bytes written so far
  const writeSeq = async (offset: number, bytes: Uint8Array) => {
    if (offset < pos) throw new IfpruneError('bad_option', `internal: sequential write at ${offset} after ${pos}`);
    if (offset > pos) await sink.write(pos, new Uint8Array(offset - pos)); // alignment padding
    await sink.write(offset, bytes);
    pos = offset + bytes.length;
  };
  const runTensors = async (pass: 1 | 2, write: ((offset: number, bytes: Uint8Array) => Promise<void>) | null, check: boolean) => {
    let done = 0;
    for (const [i, t] of plan.tensors.entries()) {
      let at = 0; // bytes of this tensor so far
      const words = new Uint32Array(t.hashes.buffer);
      const want = check ? words.slice() : null;
      await t.produce(ctx, async (bytes) => {
        if (at % t.chunkBytes !== 0 || at + bytes.length > t.bytes) throw new IfpruneError('bad_option', `internal: ${t.name} produced a partial chunk at ${at}`);
        for (let o = 0; o < bytes.length; o += t.chunkBytes) {
          xxh64Words(bytes.subarray(o, Math.min(o + t.chunkBytes, bytes.length)), words, 2 * ((at + o) / t.chunkBytes));
        }
        if (write) await write(layout.tensorOffsets[i]! + at, bytes);
        at += bytes.length;
        done += bytes.length;
        progress({ type: 'tensor', name: t.name, index: i, count: plan.tensors.length, pass, bytesDone: done, bytesTotal: total });
      });
      if (at !== t.bytes) throw new IfpruneError('bad_option', `internal: ${t.name} produced ${at} of ${t.bytes} bytes`);
      if (want && words.some((w, k) => w !== want[k])) {
        throw new IfpruneError('corrupt', `${spec.source.name} changed while it was being converted (tensor ${t.name} hashed differently on the second pass)`);
      }
    }
  };

  let header: Uint8Array;
  if (sink.sequential) {
    await runTensors(1, null, false);
    header = encodeGGUFHeader(plan.metadata, plan.tensors).header;
    await writeSeq(0, header);
    await runTensors(2, writeSeq, true);
    if (pos < layout.totalBytes) await writeSeq(layout.totalBytes, new Uint8Array(0));
  } else {
    await runTensors(1, async (offset, bytes) => sink.write(offset, bytes), false);
    header = encodeGGUFHeader(plan.metadata, plan.tensors).header;
    await sink.write(0, header);
    const end = layout.tensorOffsets.at(-1)! + plan.tensors.at(-1)!.bytes;
    if (end < layout.totalBytes) await sink.write(end, new Uint8Array(layout.totalBytes - end)); // final padding
  }
  if (header.length !== layout.header.length) throw new IfpruneError('bad_option', 'internal: the header changed size after hashing');

  const seconds = (performance.now() - t0) / 1000;
  progress({ type: 'done', bytes: layout.totalBytes, seconds });
  return {
    bytes: layout.totalBytes,
    arch: plan.arch,
    layout: opts.layout,
    type: opts.type,
    tensors: plan.tensors.map((t) => ({ name: t.name, type: t.type.name, dims: t.dims, bytes: t.bytes })),
    sourceSha256,
    fallbackTensors: plan.fallbackTensors,
    warnings: plan.warnings,
    seconds,
  };
}
