import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memorySource } from '../src/sources/memory.ts';
import { ggufToModelSpec, parseGGUF, type GGUFFile } from '../src/formats/gguf.ts';
import type { ModelConfig, ModelSpec } from '../src/formats/model-spec.ts';
import { QUANT, type QuantType } from '../src/formats/quant.ts';
import { expectedTensorShapes } from '../src/formats/spec-check.ts';
import { dequantizeRowQ8_0, quantizeRowQ8_0 } from '../src/formats/quant-values.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';
import {
  EMBD_STD, MIN_VOCAB, NORM_MEAN, NORM_STD, SHAPES, makeRandomModel, planRandomModel, randomVocab, writeRandomModel,
  type RandomModelOptions,
} from '../tools/random-model.ts';
import { assertBytes, assertThrowsCode } from './helpers.ts';

/** Sample standard deviation of a q8_0 matrix vs the plan's: Q8_0 rounding adds ~1% to a uniform's. */
const MAX_STD_REL_ERR = 0.2;

const TINY = SHAPES.tiny; // dim 64, 2 layers, 4 heads / 2 kv heads, hidden 96, vocab 512

async function open(bytes: Uint8Array): Promise<{ file: GGUFFile; spec: ModelSpec }> {
  const src = memorySource(bytes, 'random.gguf');
  const file = await parseGGUF(src);
  return { file, spec: ggufToModelSpec(file, src) };
}

function expectedConfig(o: RandomModelOptions): ModelConfig {
  const headSize = o.dim / o.nHeads;
  return {
    dim: o.dim,
    hiddenDim: o.hiddenDim,
    nLayers: o.nLayers,
    nHeads: o.nHeads,
    nKvHeads: o.nKvHeads,
    headSize,
    vocabSize: o.vocabSize,
    seqLen: o.seqLen ?? 256,
    normEps: Math.fround(o.normEps ?? 1e-5), // stored as FLOAT32, as llama.cpp does
    ropeBase: Math.fround(o.ropeBase ?? 10000),
    ropeDim: headSize,
    ropeStyle: o.qkvBias ? 'neox' : 'adjacent',
    tiedEmbeddings: o.tied ?? true,
    qkvBias: o.qkvBias ?? false,
  };
}

function values(bytes: Uint8Array, t: { type: QuantType; offset: number; bytes: number; dims: number[] }): Float32Array {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const raw = bytes.subarray(t.offset, t.offset + t.bytes);
  if (t.type.id === QUANT.F32.id) return new Float32Array(raw.slice().buffer);
  assert.is(t.type.name, 'Q8_0');
  const out = new Float32Array(n);
  dequantizeRowQ8_0(out, raw, n);
  return out;
}

function meanStd(x: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  return { mean, std: Math.sqrt(ss / x.length) };
}

// --- makeRandomModel

const make = suite('makeRandomModel');

const CASES: { label: string; opts: RandomModelOptions }[] = [
  { label: 'f32, GQA 4/2, tied', opts: { ...TINY, type: 'f32' } },
  { label: 'f16, MHA, untied', opts: { ...TINY, nKvHeads: 4, type: 'f16', tied: false } },
  { label: 'q8_0, qkvBias (qwen2)', opts: { ...TINY, type: 'q8_0', qkvBias: true } },
  { label: 'q4_0, GQA 4/1, untied, seqLen/ropeBase/normEps given', opts: { ...TINY, nKvHeads: 1, type: 'q4_0', tied: false, seqLen: 77, ropeBase: 500000, normEps: 1e-6 } },
];

make('parses into the expected ModelConfig, with every tensor of the right type and size', async () => {
  const WEIGHT = { f32: QUANT.F32, f16: QUANT.F16, q8_0: QUANT.Q8_0, q4_0: QUANT.Q4_0 };
  for (const { label, opts } of CASES) {
    const bytes = await makeRandomModel(opts);
    const { file, spec } = await open(bytes);
    assert.equal(spec.config, expectedConfig(opts), label);
    assert.is(file.version, 3, label);
    assert.is(file.metadata['general.architecture'], opts.qkvBias ? 'qwen2' : 'llama', label);

    const expected = expectedTensorShapes(spec.config);
    assert.equal([...spec.tensors.keys()].sort(), [...expected.keys()].sort(), `${label}: tensor names`);
    for (const [name, t] of spec.tensors) {
      assert.equal(t.dims, expected.get(name), `${label}: ${name} dims`);
      const f32 = t.dims.length === 1; // norms and biases
      assert.is(t.type.name, (f32 ? QUANT.F32 : WEIGHT[opts.type]).name, `${label}: ${name} type`);
      const elems = t.dims.reduce((a, b) => a * b, 1);
      assert.is(t.bytes, (elems / t.type.blockElems) * t.type.blockBytes, `${label}: ${name} bytes`);
    }
    const last = Math.max(...file.tensors.map((t) => t.offset + t.bytes));
    assert.ok(bytes.length >= last && bytes.length - last < file.alignment, `${label}: file ends after the last tensor, padded`);
    assert.is(bytes.length, planRandomModel(opts).layout.totalBytes, `${label}: size as planned`);
  }
});

make('the same seed gives identical bytes, another seed different weights', async () => {
  const a = await makeRandomModel({ ...TINY, type: 'q8_0', seed: 42 });
  assertBytes(await makeRandomModel({ ...TINY, type: 'q8_0', seed: 42 }), a, 'seed 42 twice');
  const b = await makeRandomModel({ ...TINY, type: 'q8_0', seed: 43 });
  const { spec } = await open(a);
  for (const name of ['token_embd.weight', 'blk.1.ffn_down.weight', 'output_norm.weight']) {
    const t = spec.tensors.get(name)!;
    const x = values(a, t);
    const y = values(b, t);
    const same = x.reduce((n, v, i) => n + (v === y[i] ? 1 : 0), 0);
    assert.ok(same < x.length / 10, `${name}: ${same} of ${x.length} values equal across seeds`);
  }
});

make('q8_0 weights have the planned scale; norms are f32 around 1', async () => {
  const opts: RandomModelOptions = { ...TINY, type: 'q8_0', tied: false, seed: 9 };
  const bytes = await makeRandomModel(opts);
  const { spec } = await open(bytes);
  const plan = new Map(planRandomModel(opts).tensors.map((t) => [t.name, t]));
  for (const name of ['token_embd.weight', 'output.weight', 'blk.0.attn_q.weight', 'blk.0.attn_v.weight', 'blk.1.attn_k.weight', 'blk.1.ffn_down.weight', 'blk.1.ffn_gate.weight']) {
    const { mean, std } = meanStd(values(bytes, spec.tensors.get(name)!));
    const want = plan.get(name)!.std;
    assert.ok(Math.abs(std / want - 1) < MAX_STD_REL_ERR, `${name}: std ${std.toFixed(4)}, planned ${want.toFixed(4)}`);
    assert.ok(Math.abs(mean) < want / 5, `${name}: mean ${mean.toFixed(4)}`);
  }
  assert.is(plan.get('token_embd.weight')!.std, EMBD_STD);
  assert.is(plan.get('blk.1.ffn_down.weight')!.std, 1 / Math.sqrt(TINY.hiddenDim)); // (dim, hidden): 1/√cols
  for (const name of ['blk.0.attn_norm.weight', 'blk.1.ffn_norm.weight', 'output_norm.weight']) {
    const x = values(bytes, spec.tensors.get(name)!);
    const { mean, std } = meanStd(x);
    assert.ok(Math.abs(mean - NORM_MEAN) < NORM_STD && std > NORM_STD / 2 && std < NORM_STD * 2, `${name}: mean ${mean}, std ${std}`);
  }
});

make('a tensor spanning several chunks equals the reference Q8_0 of the same values in f32', async () => {
  // token_embd of 64 x 32800 = 2 099 200 values, just over one 2^21-value chunk. A tensor's values depend
  // on (seed, name) only, so the f32 file holds exactly what the q8_0 file quantized.
  const opts = { ...TINY, nLayers: 1, vocabSize: 32800, seed: 3 };
  const f32 = await makeRandomModel({ ...opts, type: 'f32' });
  const q8 = await makeRandomModel({ ...opts, type: 'q8_0' });
  const te = (await open(f32)).spec.tensors.get('token_embd.weight')!;
  const tq = (await open(q8)).spec.tensors.get('token_embd.weight')!;
  const x = values(f32, te);
  const want = new Uint8Array(tq.bytes);
  quantizeRowQ8_0(want, x, x.length);
  assertBytes(q8.subarray(tq.offset, tq.offset + tq.bytes), want, 'token_embd.weight Q8_0');
});

make('rejects shapes it cannot write with bad_option', async () => {
  const bad: [string, RandomModelOptions][] = [
    ['dim not a multiple of 32 with q8_0', { ...TINY, dim: 48, type: 'q8_0' }],
    ['hiddenDim not a multiple of 32 with q4_0', { ...TINY, hiddenDim: 80, type: 'q4_0' }],
    ['vocab below the minimum', { ...TINY, vocabSize: MIN_VOCAB - 1, type: 'f32' }],
    ['nHeads not a multiple of nKvHeads', { ...TINY, nKvHeads: 3, type: 'f32' }],
    ['dim not a multiple of nHeads', { ...TINY, nHeads: 5, nKvHeads: 1, type: 'f32' }],
    ['odd head size', { ...TINY, dim: 36, nHeads: 4, type: 'f32' }],
    ['zero layers', { ...TINY, nLayers: 0, type: 'f32' }],
    ['unknown type', { ...TINY, type: 'q5_0' as 'f32' }],
    ['negative seed', { ...TINY, type: 'f32', seed: -1 }],
  ];
  for (const [label, opts] of bad) {
    const e = await assertThrowsCode(() => makeRandomModel(opts), 'bad_option', label);
    assert.ok(e.message.startsWith('random model: '), e.message);
  }
  // f16 and f32 store any row width.
  const { spec } = await open(await makeRandomModel({ ...TINY, dim: 48, hiddenDim: 80, vocabSize: MIN_VOCAB, type: 'f16' }));
  assert.is(spec.config.dim, 48);
});

make.run();

// --- writeRandomModel

const write = suite('writeRandomModel');

write('streams the same bytes makeRandomModel returns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-random-'));
  try {
    const opts: RandomModelOptions = { ...TINY, type: 'q4_0', tied: false, seed: 5 };
    const path = join(dir, 'tiny.gguf');
    const { bytes } = await writeRandomModel(path, opts);
    const onDisk = new Uint8Array(readFileSync(path));
    assert.is(onDisk.length, bytes);
    assertBytes(onDisk, await makeRandomModel(opts), 'file vs memory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

write.run();

// --- randomVocab

const vocab = suite('randomVocab');

vocab('control, byte and distinct normal pieces with descending scores', () => {
  const v = randomVocab(SHAPES['smollm2-135m'].vocabSize);
  assert.is(v.tokens.length, 49152);
  assert.equal(v.tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
  assert.equal([...v.tokenTypes.subarray(0, 3)], [2, 3, 3]);
  assert.equal([v.tokens[3], v.tokens[3 + 0x41], v.tokens[258]], ['<0x00>', '<0x41>', '<0xFF>']);
  assert.ok(v.tokenTypes.subarray(3, 259).every((t) => t === 6), 'byte tokens are type 6');
  assert.ok(v.tokenTypes.subarray(259).every((t) => t === 1), 'the rest are normal');
  assert.is(new Set(v.tokens).size, v.tokens.length, 'pieces are distinct');
  for (let i = 260; i < v.tokens.length; i++) if (!(v.scores[i]! < v.scores[i - 1]!)) assert.unreachable(`score ${i} does not descend`);
  // Every multi-character piece splits into two pieces, so merges can reach it.
  const pieces = new Set(v.tokens.slice(259));
  for (const p of [...pieces].filter((p) => [...p].length > 1).slice(0, 2000)) {
    const chars = [...p];
    assert.ok(chars.some((_, k) => k > 0 && pieces.has(chars.slice(0, k).join('')) && pieces.has(chars.slice(k).join(''))), `${p} is reachable`);
  }
  assert.is(randomVocab(MIN_VOCAB).tokens.length, MIN_VOCAB);
});

vocab('the GGUF tokenizer section builds and round-trips text', async () => {
  for (const vocabSize of [MIN_VOCAB, TINY.vocabSize, 4096]) {
    const { spec } = await open(await makeRandomModel({ ...TINY, vocabSize, type: 'f32' }));
    const tok = createTokenizer(spec.tokenizer!);
    assert.equal([tok.vocabSize, tok.bosId, tok.eosId, spec.tokenizer!.unkId], [vocabSize, 1, 2, 0]);
    for (const text of ['Hello, world! The 3 cats sat on 42 mats.', 'bako tibe ~{[(x)]}~ "q" \\ `t`', 'naïve café ✓']) {
      const ids = tok.encode(text);
      assert.is(ids[0], 1, 'BOS first');
      assert.is(tok.decode(ids), text, `${vocabSize}: ${text}`);
    }
  }
  const { spec } = await open(await makeRandomModel({ ...TINY, vocabSize: 4096, type: 'f32' }));
  const tok = createTokenizer(spec.tokenizer!);
  const ids = tok.encode('bako', { bos: false });
  assert.equal(ids.map((id) => spec.tokenizer!.tokens[id]), ['\u2581bako'], 'syllables merge into one word piece');
});

vocab.run();
