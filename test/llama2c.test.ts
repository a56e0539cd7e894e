import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memorySource } from '../src/sources/memory.ts';
import type { ByteSource } from '../src/sources/types.ts';
import { llama2cToModelSpec, parseLlama2c } from '../src/formats/llama2c.ts';
import { assertThrowsCode } from './helpers.ts';
import { STORIES_BIN, TINY, bytesOf, llama2cBytes, llama2cFloatCount, readStories } from './format-fixtures.ts';

const stories = readStories(STORIES_BIN);

async function floatAt(src: ByteSource, offset: number): Promise<number> {
  const b = new Uint8Array(4);
  await src.readInto(offset, b);
  return new DataView(b.buffer).getFloat32(0, true);
}

function withHeader(fields: number[], size = 4096): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytesOf(new Int32Array(fields)));
  return out;
}

// ---
const parse = suite('parseLlama2c');

parse('reads the stories260K.bin header and lays out its weights', async () => {
  const f = await parseLlama2c(memorySource(stories));
  assert.equal(f.header, { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
  assert.is(f.expectedBytes, 1056540);
  assert.equal([...f.weights.keys()], ['token_embedding', 'rms_att', 'wq', 'wk', 'wv', 'wo', 'rms_ffn', 'w1', 'w2', 'w3', 'rms_final', 'freq_cis_real', 'freq_cis_imag']);
  const wk = f.weights.get('wk')!;
  assert.equal(wk.shape, [5, 32, 64]);
  assert.is(wk.offset, 28 + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64));
  const imag = f.weights.get('freq_cis_imag')!;
  assert.is(imag.offset + imag.bytes, stories.length);
});

parse('an unshared classifier (negative vocab_size) adds wcls at the end', async () => {
  const file = llama2cBytes(TINY, false);
  const f = await parseLlama2c(memorySource(file));
  assert.is(f.header.sharedClassifier, false);
  assert.is(f.header.vocabSize, TINY.vocabSize);
  assert.is(f.expectedBytes, file.length);
  const wcls = f.weights.get('wcls')!;
  assert.equal(wcls.shape, [TINY.vocabSize, TINY.dim]);
  assert.is(wcls.offset + wcls.bytes, file.length);
});

parse('a short file is truncated, stating expected and actual bytes', async () => {
  for (const cut of [28, 1000, 1056540 / 2, 1056539]) {
    const e = await assertThrowsCode(() => parseLlama2c(memorySource(stories.subarray(0, cut))), 'truncated', `cut ${cut}`);
    assert.ok(e.message.includes(`has ${cut} bytes`) && e.message.includes('needs 1056540 bytes'), e.message);
  }
  await assertThrowsCode(() => parseLlama2c(memorySource(stories.subarray(0, 27))), 'truncated', 'partial header');
  const unshared = llama2cBytes(TINY, false);
  await assertThrowsCode(() => parseLlama2c(memorySource(unshared.subarray(0, unshared.length - 4))), 'truncated', 'missing wcls');
});

parse('absurd headers are corrupt', async () => {
  const cases: [string, number[]][] = [
    ['dim is 0', [0, 172, 5, 8, 4, 512, 512]],
    ['n_layers is -5', [64, 172, -5, 8, 4, 512, 512]],
    ['vocab_size is 0', [64, 172, 5, 8, 4, 0, 512]],
    ['n_heads 7 does not divide dim 64', [64, 172, 5, 7, 7, 512, 512]],
    ['n_kv_heads 3 does not divide n_heads 8', [64, 172, 5, 8, 3, 512, 512]],
    ['head size 3 is odd', [24, 172, 5, 8, 4, 512, 512]],
  ];
  for (const [why, fields] of cases) {
    const e = await assertThrowsCode(() => parseLlama2c(memorySource(withHeader(fields))), 'corrupt', why);
    assert.ok(e.message.includes(why), `${why} in: ${e.message}`);
  }
});

parse('llama2.c version 1 and 2 exports ("ak42") are unsupported', async () => {
  for (const version of [1, 2]) {
    const e = await assertThrowsCode(() => parseLlama2c(memorySource(withHeader([0x616b3432, version, 64, 172, 5, 8, 4]))), 'unsupported');
    assert.ok(e.message.includes(`version ${version}`) && e.message.includes('--version 0'), e.message);
  }
});

parse.run();

// ---
const toSpec = suite('llama2cToModelSpec');

toSpec('maps stories260K.bin to GGUF names in place, classifier shared', async () => {
  const src = memorySource(stories);
  const spec = llama2cToModelSpec(await parseLlama2c(src), src);
  assert.is(spec.format, 'llama2c');
  assert.equal(spec.config, {
    dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headSize: 8, vocabSize: 512, seqLen: 512,
    normEps: 1e-5, ropeBase: 10000, ropeDim: 8, ropeStyle: 'adjacent', tiedEmbeddings: true, qkvBias: false,
  });
  assert.is(spec.tensors.size, 2 + 5 * 9);
  assert.not.ok(spec.tensors.has('output.weight'));
  assert.is(spec.tokenizer, undefined);
  const embd = spec.tensors.get('token_embd.weight')!;
  assert.equal([embd.dims, embd.offset, embd.bytes, embd.type.name], [[64, 512], 28, 512 * 64 * 4, 'F32']);
  const down = spec.tensors.get('blk.4.ffn_down.weight')!;
  assert.equal(down.dims, [172, 64]);
  assert.is(spec.metadata.seqLen, 512);
});

toSpec('per-layer slices and the classifier point at the right floats', async () => {
  const c = TINY;
  const src = memorySource(llama2cBytes(c, false)); // float i holds the value i
  const spec = llama2cToModelSpec(await parseLlama2c(src), src);
  assert.is(spec.config.tiedEmbeddings, false);
  const kvDim = (c.dim / c.nHeads) * c.nKvHeads;
  const L = c.nLayers;
  const wkStart = c.vocabSize * c.dim + L * c.dim + L * c.dim * c.dim; // after token_embedding, rms_att, wq
  const expectFirst: [string, number][] = [
    ['token_embd.weight', 0],
    ['blk.0.attn_norm.weight', c.vocabSize * c.dim],
    ['blk.1.attn_norm.weight', c.vocabSize * c.dim + c.dim],
    ['blk.1.attn_k.weight', wkStart + kvDim * c.dim],
    ['blk.1.attn_v.weight', wkStart + L * kvDim * c.dim + kvDim * c.dim],
    ['output.weight', llama2cFloatCount(c, false) - c.vocabSize * c.dim],
  ];
  for (const [name, first] of expectFirst) {
    const t = spec.tensors.get(name)!;
    assert.is(await floatAt(src, t.offset), first, name);
  }
  const up = spec.tensors.get('blk.1.ffn_up.weight')!; // w3 is the last per-layer block
  assert.equal(up.dims, [c.dim, c.hiddenDim]);
  const rmsFinal = spec.tensors.get('output_norm.weight')!;
  assert.is(up.offset + up.bytes, rmsFinal.offset);
});

toSpec.run();
