import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memorySource } from '../src/sources/memory.ts';
import { parseSafetensors, safetensorsToModelSpec } from '../src/formats/safetensors.ts';
import { assertBytes, assertThrowsCode } from './helpers.ts';
import { TINY, concat, hfName, safetensorsBytes, tinySafetensors } from './format-fixtures.ts';

const f32 = (n: number) => new Uint8Array(4 * n);

/** A file whose header is the given JSON text (no data unless `data` is given). */
function withHeader(json: string, data = new Uint8Array(0)): Uint8Array {
  const text = new TextEncoder().encode(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(text.length), true);
  return concat([len, text, data]);
}

// ---
const parse = suite('parseSafetensors');

parse('reads names, dtypes, shapes and absolute offsets', async () => {
  const { bytes, entries } = tinySafetensors(TINY);
  const src = memorySource(bytes);
  const f = await parseSafetensors(src);
  assert.equal(f.metadata, { format: 'pt' });
  assert.is(f.tensors.size, entries.length);
  assert.equal([...f.tensors.keys()], entries.map((e) => e.name));
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.is(f.dataOffset, 8 + headerLen);
  for (const e of entries) {
    const t = f.tensors.get(e.name)!;
    assert.is(t.dtype, e.dtype);
    assert.is(t.type.name, e.dtype);
    assert.equal(t.shape, e.shape);
    const got = new Uint8Array(t.bytes);
    await src.readInto(t.offset, got);
    assertBytes(got, e.data, e.name);
  }
});

parse('F16 and zero-size tensors are fine', async () => {
  const f = await parseSafetensors(memorySource(safetensorsBytes([
    { name: 'h', dtype: 'F16', shape: [3], data: new Uint8Array(6) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
  ])));
  assert.equal(f.tensors.get('h')!.type.name, 'F16');
  assert.is(f.tensors.get('empty')!.bytes, 0);
});

parse('other dtypes are unsupported, by name', async () => {
  for (const dtype of ['I64', 'F64', 'F8_E4M3', 'BOOL']) {
    const file = safetensorsBytes([{ name: 'model.layers.0.position_ids', dtype, shape: [2], data: new Uint8Array(16) }]);
    const e = await assertThrowsCode(() => parseSafetensors(memorySource(file)), 'unsupported', dtype);
    assert.ok(e.message.includes(`dtype ${dtype}`) && e.message.includes('model.layers.0.position_ids'), e.message);
  }
});

parse('data past the end of the file is truncated; a cut file too', async () => {
  const e = await assertThrowsCode(() => parseSafetensors(memorySource(withHeader('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', f32(3)))), 'truncated');
  assert.ok(e.message.includes('"w"'), e.message);
  const { bytes } = tinySafetensors(TINY);
  for (const cut of [0, 7, 8, 100, 2000, bytes.length - 1]) {
    await assertThrowsCode(() => parseSafetensors(memorySource(bytes.subarray(0, cut))), 'truncated', `cut ${cut}`);
  }
});

parse('inconsistent headers are corrupt', async () => {
  const bad: [string, string][] = [
    ['span / shape mismatch', '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}'],
    ['reversed offsets', '{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}'],
    ['negative dim', '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'],
    ['overlap', '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'],
    ['not JSON', '{"w":'],
    ['not an object', '[1,2]'],
    ['no dtype', '{"w":{"shape":[1],"data_offsets":[0,4]}}'],
    ['bad metadata', '{"__metadata__":{"a":1}}'],
  ];
  for (const [why, json] of bad) await assertThrowsCode(() => parseSafetensors(memorySource(withHeader(json, f32(4)))), 'corrupt', why);
});

parse('a header length above the limit is refused before reading it', async () => {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
  const e = await assertThrowsCode(() => parseSafetensors(memorySource(b)), 'corrupt');
  assert.ok(e.message.includes('exceeds 100000000'), e.message);
  new DataView(b.buffer).setBigUint64(0, 1000n, true);
  await assertThrowsCode(() => parseSafetensors(memorySource(b)), 'truncated', 'header past the end');
});

parse.run();

// ---
const toSpec = suite('safetensorsToModelSpec');

toSpec('maps Hugging Face Llama names and config.json to a ModelSpec', async () => {
  const { bytes, config, tensors } = tinySafetensors(TINY);
  const src = memorySource(bytes);
  const file = await parseSafetensors(src);
  const spec = safetensorsToModelSpec(file, src, config);
  assert.is(spec.format, 'safetensors');
  assert.equal(spec.config, {
    dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headSize: 8, vocabSize: 40, seqLen: 16,
    normEps: 1e-6, ropeBase: 500000, ropeDim: 8, ropeStyle: 'neox', tiedEmbeddings: false, qkvBias: false,
  });
  assert.is(spec.tensors.size, tensors.length);
  for (const t of tensors) {
    const ref = spec.tensors.get(t.name)!;
    const st = file.tensors.get(hfName(t.name))!;
    assert.equal(ref.dims, t.dims, t.name); // reversed safetensors shape = GGUF dims
    assert.is(ref.offset, st.offset, t.name);
    assert.is(ref.type.name, t.name.endsWith('norm.weight') ? 'BF16' : 'F32', t.name);
  }
  assert.is(spec.metadata.model_type, 'llama');
});

toSpec('tied embeddings: lm_head absent, or tie_word_embeddings with a copy present', async () => {
  const absent = tinySafetensors(TINY, { tied: true });
  const src = memorySource(absent.bytes);
  const spec = safetensorsToModelSpec(await parseSafetensors(src), src, { ...absent.config, tie_word_embeddings: false });
  assert.is(spec.config.tiedEmbeddings, true);
  const present = tinySafetensors(TINY);
  const src2 = memorySource(present.bytes);
  const spec2 = safetensorsToModelSpec(await parseSafetensors(src2), src2, { ...present.config, tie_word_embeddings: true });
  assert.is(spec2.config.tiedEmbeddings, true);
  assert.not.ok(spec2.tensors.has('output.weight'));
});

toSpec('qwen2 q/k/v biases set qkvBias', async () => {
  const { bytes, config } = tinySafetensors(TINY, { bias: true, modelType: 'qwen2' });
  const src = memorySource(bytes);
  const spec = safetensorsToModelSpec(await parseSafetensors(src), src, config);
  assert.is(spec.config.qkvBias, true);
  assert.equal(spec.tensors.get('blk.1.attn_v.bias')!.dims, [16]);
});

toSpec('defaults: kv heads = heads, eps 1e-6, theta 10000', async () => {
  const c = { ...TINY, nKvHeads: TINY.nHeads };
  const { bytes, config } = tinySafetensors(c);
  const { num_key_value_heads: _a, rms_norm_eps: _b, rope_theta: _c, ...rest } = config;
  const src = memorySource(bytes);
  const spec = safetensorsToModelSpec(await parseSafetensors(src), src, rest);
  assert.equal([spec.config.nKvHeads, spec.config.normEps, spec.config.ropeBase], [4, 1e-6, 10000]);
});

toSpec('a missing tensor is corrupt, by its Hugging Face name', async () => {
  const { entries, config } = tinySafetensors(TINY);
  const src = memorySource(safetensorsBytes(entries.filter((e) => e.name !== 'model.layers.1.mlp.up_proj.weight')));
  const e = await assertThrowsCode(async () => safetensorsToModelSpec(await parseSafetensors(src), src, config), 'corrupt');
  assert.ok(e.message.includes('model.layers.1.mlp.up_proj.weight is missing'), e.message);
});

toSpec('config problems: missing keys corrupt; other model types, rope_scaling, odd head_dim unsupported', async () => {
  const { bytes, config } = tinySafetensors(TINY);
  const src = memorySource(bytes);
  const file = await parseSafetensors(src);
  const { hidden_size: _, ...noHidden } = config;
  const e = await assertThrowsCode(() => safetensorsToModelSpec(file, src, noHidden), 'corrupt');
  assert.ok(e.message.includes('hidden_size'), e.message);
  await assertThrowsCode(() => safetensorsToModelSpec(file, src, { ...config, hidden_size: '32' }), 'corrupt', 'string');
  await assertThrowsCode(() => safetensorsToModelSpec(file, src, { ...config, vocab_size: 41 }), 'corrupt', 'vocab');
  await assertThrowsCode(() => safetensorsToModelSpec(file, src, { ...config, num_key_value_heads: 4 }), 'corrupt', 'kv shape');
  const m = await assertThrowsCode(() => safetensorsToModelSpec(file, src, { ...config, model_type: 'gemma' }), 'unsupported');
  assert.ok(m.message.includes('gemma'), m.message);
  await assertThrowsCode(() => safetensorsToModelSpec(file, src, { ...config, rope_scaling: { rope_type: 'llama3', factor: 8 } }), 'unsupported', 'rope_scaling');
  await assertThrowsCode(() => safetensorsToModelSpec(file, src, { ...config, head_dim: 16 }), 'unsupported', 'head_dim');
});

toSpec.run();
