import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf as hfGGUF } from '@huggingface/gguf';
import { memorySource } from '../src/sources/memory.ts';
import type { ByteSource } from '../src/sources/types.ts';
import { GGUFValueType as T, MAX_QUOTED_CHARS, ggufToModelSpec, parseGGUF, quoted, type GGUFArray, type GGUFFile, type GGUFValue } from '../src/formats/gguf.ts';
import { writeGGUF, type GGUFKVInput, type GGUFTensorInput } from '../src/formats/gguf-write.ts';
import { llama2cToModelSpec, parseLlama2c } from '../src/formats/llama2c.ts';
import { QUANT, rowBytes } from '../src/formats/quant.ts';
import { assertBytes, assertThrowsCode, rng } from './helpers.ts';
import { STORIES_BIN, STORIES_GGUF, TINY, bytesOf, readStories, tinySafetensors, tinyTensors, type TinyConfig } from './format-fixtures.ts';

const stories = readStories(STORIES_GGUF);
const storiesSrc = memorySource(stories, 'stories260K.gguf');

async function slice(src: ByteSource, offset: number, bytes: number): Promise<Uint8Array> {
  const out = new Uint8Array(bytes);
  await src.readInto(offset, out);
  return out;
}

/** Byte offset of the `type` field of tensor info `name` (name string, n_dims, dims, then type). */
function tensorTypeField(file: Uint8Array, name: string, nDims: number): number {
  const key = new TextEncoder().encode(name);
  for (let i = 0; i + key.length <= file.length; i++) {
    if (key.every((b, j) => file[i + j] === b) && new DataView(file.buffer, file.byteOffset).getBigUint64(i - 8, true) === BigInt(key.length)) {
      return i + key.length + 4 + 8 * nDims;
    }
  }
  throw new Error(`${name} not found`);
}

function patched(file: Uint8Array, at: number, set: (v: DataView) => void): Uint8Array {
  const copy = file.slice();
  set(new DataView(copy.buffer, at));
  return copy;
}

/** The metadata of a tiny llama / qwen2 GGUF. */
function tinyKV(c: TinyConfig, arch = 'llama', extra: GGUFKVInput[] = []): GGUFKVInput[] {
  return [
    { key: 'general.architecture', type: T.STRING, value: arch },
    { key: `${arch}.embedding_length`, type: T.UINT32, value: c.dim },
    { key: `${arch}.feed_forward_length`, type: T.UINT32, value: c.hiddenDim },
    { key: `${arch}.block_count`, type: T.UINT32, value: c.nLayers },
    { key: `${arch}.attention.head_count`, type: T.UINT32, value: c.nHeads },
    { key: `${arch}.attention.head_count_kv`, type: T.UINT32, value: c.nKvHeads },
    { key: `${arch}.context_length`, type: T.UINT64, value: BigInt(c.seqLen) },
    ...extra,
  ];
}

function tinyGGUF(c: TinyConfig, opts: { arch?: string; tied?: boolean; bias?: boolean; extra?: GGUFKVInput[]; drop?: string } = {}): Uint8Array {
  const tensors = tinyTensors(c, opts)
    .filter((t) => t.name !== opts.drop)
    .map((t) => ({ name: t.name, type: QUANT.F32, dims: t.dims, data: bytesOf(t.data) }));
  return writeGGUF(tinyKV(c, opts.arch, opts.extra), tensors);
}

// ---
const parse = suite('parseGGUF');

parse('reads the real stories260K.gguf header', async () => {
  const f = await parseGGUF(storiesSrc);
  assert.is(f.version, 3);
  assert.is(Object.keys(f.metadata).length, 19);
  assert.is(f.tensors.length, 48);
  assert.is(f.alignment, 32);
  assert.is(f.tensorDataOffset, 14176);
  assert.is(f.metadata['general.architecture'], 'llama');
  assert.is(f.metadata['llama.embedding_length'], 64);
  assert.is(f.metadata['llama.block_count'], 5);
  assert.is(f.metadata['llama.attention.head_count'], 8);
  assert.is(f.metadata['llama.attention.head_count_kv'], 4);
  assert.equal(f.kvTypes['llama.block_count'], { type: T.UINT32 });
  assert.equal(f.kvTypes['tokenizer.ggml.tokens'], { type: T.ARRAY, itemType: T.STRING });
  const tokens = f.metadata['tokenizer.ggml.tokens'] as string[];
  assert.is(tokens.length, 512);
  assert.is(tokens[1], '<s>');
  assert.instance(f.metadata['tokenizer.ggml.scores'], Float32Array);
  assert.instance(f.metadata['tokenizer.ggml.token_type'], Int32Array);
  const embd = f.tensors[0]!;
  assert.equal({ name: embd.name, dims: embd.dims, type: embd.type.name, offset: embd.offset }, { name: 'token_embd.weight', dims: [64, 512], type: 'F32', offset: 14176 });
  for (const t of f.tensors) {
    assert.is(t.relOffset % 32, 0, t.name);
    assert.is(t.bytes, rowBytes(t.type, t.dims[0]!) * t.dims.slice(1).reduce((a, b) => a * b, 1), t.name);
  }
});

parse('its tensors are bit-identical to the blocks of stories260K.bin', async () => {
  const g = ggufToModelSpec(await parseGGUF(storiesSrc), storiesSrc);
  const binSrc = memorySource(readStories(STORIES_BIN), 'stories260K.bin');
  const b = llama2cToModelSpec(await parseLlama2c(binSrc), binSrc);
  for (const name of ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.2.attn_k.weight', 'blk.4.ffn_down.weight', 'output_norm.weight']) {
    const gt = g.tensors.get(name)!;
    const bt = b.tensors.get(name)!;
    assert.equal(gt.dims, bt.dims, `${name} dims`);
    assertBytes(await slice(storiesSrc, gt.offset, gt.bytes), await slice(binSrc, bt.offset, bt.bytes), name);
  }
  // The GGUF stores the shared classifier as a separate copy of the embedding.
  const out = g.tensors.get('output.weight')!;
  const embd = b.tensors.get('token_embd.weight')!;
  assertBytes(await slice(storiesSrc, out.offset, out.bytes), await slice(binSrc, embd.offset, embd.bytes), 'output = embedding');
});

parse('a file cut anywhere is truncated, never a RangeError', async () => {
  const cuts = new Set<number>();
  for (let i = 4; i < 300; i++) cuts.add(i); // every byte through the first keys
  for (let k = 1; k < 37; k++) cuts.add(Math.floor((k * 14176) / 37)); // every 1/37 of the header
  for (const c of [14175, 14176, 14177, 14176 + 4 * 64 * 512 - 1, 600000, stories.length - 1]) cuts.add(c); // in the tensor data
  for (const cut of cuts) {
    const e = await assertThrowsCode(() => parseGGUF(memorySource(stories.subarray(0, cut), 'cut.gguf')), 'truncated', `cut at ${cut}`);
    assert.ok(e.message.includes('cut.gguf'), e.message);
  }
});

parse('a tensor running past the end names the tensor', async () => {
  const last = (await parseGGUF(storiesSrc)).tensors.reduce((a, b) => (b.offset > a.offset ? b : a));
  assert.is(last.offset + last.bytes, stories.length);
  const e = await assertThrowsCode(() => parseGGUF(memorySource(stories.subarray(0, stories.length - 1))), 'truncated');
  assert.ok(e.message.includes(`GGUF tensor "${last.name}" (F32 [${last.dims}], ${last.bytes} bytes at byte ${last.offset})`), e.message);
});

parse('counts that cannot fit are refused before anything is allocated by them', async () => {
  const huge = [2n ** 40n, 2n ** 53n - 1n];
  for (const n of huge) {
    const tensors = patched(stories, 8, (v) => v.setBigUint64(0, n, true));
    const e = await assertThrowsCode(() => parseGGUF(memorySource(tensors)), 'truncated', `n_tensors ${n}`);
    assert.ok(e.message.includes(`${n} tensor infos`), e.message);
    await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 16, (v) => v.setBigUint64(0, n, true)))), 'truncated', `n_kv ${n}`);
  }
  await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 8, (v) => v.setBigUint64(0, 2n ** 64n - 1n, true)))), 'corrupt', 'n_tensors 2^64-1');
  // The first key is tokenizer.ggml.tokens (21 bytes): its length field is at 24, its array count at 24 + 8 + 21 + 4 + 4.
  const keyLen = await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 24, (v) => v.setBigUint64(0, 4_000_000_000n, true)), 'x.gguf')), 'truncated');
  assert.is(keyLen.message, 'GGUF metadata key 0: key: string length 4000000000 at byte 24 runs past the end of the 1185376-byte file x.gguf');
  const count = await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 61, (v) => v.setBigUint64(0, 2n ** 50n, true)))), 'truncated', 'array count');
  assert.ok(count.message.includes('"tokenizer.ggml.tokens"') && count.message.includes('array of 1125899906842624 STRING'), count.message);
  // A string inside the array with a huge length.
  await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 69, (v) => v.setBigUint64(0, 2n ** 33n, true)))), 'truncated', 'token length');
});

parse('an unsupported tensor type is refused by name', async () => {
  const file = patched(stories, tensorTypeField(stories, 'blk.0.attn_q.weight', 2), (v) => v.setUint32(0, 12, true));
  const e = await assertThrowsCode(() => parseGGUF(memorySource(file)), 'unsupported');
  assert.ok(e.message.includes('Q4_K') && e.message.includes('blk.0.attn_q.weight'), e.message);
  const unknown = patched(stories, tensorTypeField(stories, 'blk.0.attn_q.weight', 2), (v) => v.setUint32(0, 999, true));
  assert.ok((await assertThrowsCode(() => parseGGUF(memorySource(unknown)), 'unsupported')).message.includes('999'));
});

parse('bad magic says what it found and suggests the right reader', async () => {
  const e = await assertThrowsCode(() => parseGGUF(memorySource(new TextEncoder().encode('<!DOCTYPE html><html>'), 'page.html')), 'bad_magic');
  assert.ok(e.message.includes('not a GGUF file: it starts with 0x3c 0x21 0x44 0x4f ("<!DO")'), e.message);
  const bin = await assertThrowsCode(() => parseGGUF(memorySource(readStories(STORIES_BIN))), 'bad_magic');
  assert.ok(bin.message.includes('llama2.c checkpoint'), bin.message);
  const st = await assertThrowsCode(() => parseGGUF(memorySource(tinySafetensors(TINY).bytes)), 'bad_magic');
  assert.ok(st.message.includes('safetensors'), st.message);
  await assertThrowsCode(() => parseGGUF(memorySource(new Uint8Array(0))), 'bad_magic', 'empty');
});

parse('version 1 and unknown versions are refused, big-endian files named', async () => {
  const v1 = await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 4, (v) => v.setUint32(0, 1, true)))), 'bad_version');
  assert.ok(v1.message.includes('version 1'), v1.message);
  await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 4, (v) => v.setUint32(0, 4, true)))), 'bad_version', 'v4');
  await assertThrowsCode(() => parseGGUF(memorySource(patched(stories, 4, (v) => v.setUint32(0, 3, false)))), 'unsupported', 'big-endian');
  const v2 = await parseGGUF(memorySource(patched(stories, 4, (v) => v.setUint32(0, 2, true))));
  assert.is(v2.version, 2);
});

parse('inconsistent tables are corrupt: duplicates, misaligned or overlapping data, bad alignment', async () => {
  const one = (name: string) => ({ name, type: QUANT.F32, dims: [8], data: new Uint8Array(32) });
  const dupKey = writeGGUF([{ key: 'a', type: T.UINT8, value: 1 }, { key: 'b', type: T.UINT8, value: 2 }], []);
  dupKey[dupKey.indexOf(0x62, 24)] = 0x61; // rename key "b" to "a"
  assert.ok((await assertThrowsCode(() => parseGGUF(memorySource(dupKey)), 'corrupt')).message.includes('duplicate key'));

  const two = writeGGUF([], [one('x'), one('y')]);
  const dupName = two.slice();
  dupName[dupName.lastIndexOf(0x79, 200)] = 0x78; // rename tensor "y" to "x"
  assert.ok((await assertThrowsCode(() => parseGGUF(memorySource(dupName)), 'corrupt')).message.includes('duplicate tensor name'));

  const yOffset = tensorTypeField(two, 'y', 1) + 4;
  await assertThrowsCode(() => parseGGUF(memorySource(patched(two, yOffset, (v) => v.setBigUint64(0, 8n, true)))), 'corrupt', 'misaligned');
  const overlap = await assertThrowsCode(() => parseGGUF(memorySource(patched(two, yOffset, (v) => v.setBigUint64(0, 0n, true)))), 'corrupt', 'overlap');
  assert.ok(overlap.message.includes('overlap'), overlap.message);

  const align = (value: GGUFValue, type: number) => parseGGUF(memorySource(writeGGUF([{ key: 'general.alignment', type: type as T, value }], [], 32)));
  await assertThrowsCode(() => align(32n, T.UINT64), 'corrupt', 'alignment as UINT64');
  const patchedAlign = writeGGUF([{ key: 'general.alignment', type: T.UINT32, value: 32 }], []);
  patchedAlign.set([48, 0, 0, 0], 24 + 8 + 17 + 4); // header, key length, "general.alignment", value type
  const a48 = await assertThrowsCode(() => parseGGUF(memorySource(patchedAlign)), 'corrupt', 'alignment 48');
  assert.ok(a48.message.includes('power of two; found UINT32 48'), a48.message);
});

parse('a name from the file is quoted in messages, escaped and cut to MAX_QUOTED_CHARS', async () => {
  const key = '\u001b[31m' + 'k'.repeat(100_000); // a terminal escape, then a damaged-length-sized name
  const file = writeGGUF([{ key, type: T.UINT32, value: 1 }], []);
  new DataView(file.buffer).setUint32(24 + 8 + new TextEncoder().encode(key).length, 99, true); // the value's type: unknown
  const e = await assertThrowsCode(() => parseGGUF(memorySource(file)), 'corrupt');
  assert.ok(e.message.length < 400, `${e.message.length} characters`);
  assert.ok(e.message.includes(`${quoted(key).slice(0, 40)}`) && e.message.includes(`(${key.length} characters)`), e.message);
  assert.not.ok(e.message.includes('\u001b'), 'control characters are escaped');
  assert.is(quoted('abc'), '"abc"');
  assert.is(quoted('x'.repeat(MAX_QUOTED_CHARS)), JSON.stringify('x'.repeat(MAX_QUOTED_CHARS)));
});

parse('arrays nested too deep are corrupt, not a stack overflow', async () => {
  let value: GGUFArray = new Uint8Array([1]);
  for (let i = 0; i < 6; i++) value = [value];
  const file = writeGGUF([{ key: 'deep', type: T.ARRAY, value }], []);
  assert.ok((await assertThrowsCode(() => parseGGUF(memorySource(file)), 'corrupt')).message.includes('nested'));
});

parse.run();

// ---
const write = suite('writeGGUF');

/** One entry of every value type, including nested and empty arrays. */
const EVERY_TYPE: GGUFKVInput[] = [
  { key: 'u8', type: T.UINT8, value: 255 },
  { key: 'i8', type: T.INT8, value: -128 },
  { key: 'u16', type: T.UINT16, value: 65535 },
  { key: 'i16', type: T.INT16, value: -32768 },
  { key: 'u32', type: T.UINT32, value: 4294967295 },
  { key: 'i32', type: T.INT32, value: -2147483648 },
  { key: 'f32', type: T.FLOAT32, value: 1.5 },
  { key: 'bool.true', type: T.BOOL, value: true },
  { key: 'bool.false', type: T.BOOL, value: false },
  { key: 'str', type: T.STRING, value: 'héllo ▁wörld 🦙' },
  { key: 'str.empty', type: T.STRING, value: '' },
  { key: 'u64', type: T.UINT64, value: 2n ** 64n - 1n },
  { key: 'i64', type: T.INT64, value: -(2n ** 63n) },
  { key: 'f64', type: T.FLOAT64, value: Math.PI },
  { key: 'a.u8', type: { type: T.ARRAY, itemType: T.UINT8 }, value: new Uint8Array([0, 1, 255]) },
  { key: 'a.i8', type: { type: T.ARRAY, itemType: T.INT8 }, value: new Int8Array([-128, 127]) },
  { key: 'a.u16', type: { type: T.ARRAY, itemType: T.UINT16 }, value: new Uint16Array([1, 65535]) },
  { key: 'a.i16', type: { type: T.ARRAY, itemType: T.INT16 }, value: new Int16Array([-1, 2]) },
  { key: 'a.u32', type: { type: T.ARRAY, itemType: T.UINT32 }, value: new Uint32Array([7, 4294967295]) },
  { key: 'a.i32', type: { type: T.ARRAY, itemType: T.INT32 }, value: new Int32Array([-7, 3, 5]) },
  { key: 'a.f32', type: { type: T.ARRAY, itemType: T.FLOAT32 }, value: new Float32Array([0.25, -1e-8, Infinity]) },
  { key: 'a.bool', type: { type: T.ARRAY, itemType: T.BOOL }, value: [true, false, true] },
  { key: 'a.str', type: { type: T.ARRAY, itemType: T.STRING }, value: ['a', '', '▁b', '<0x0A>'] },
  { key: 'a.u64', type: { type: T.ARRAY, itemType: T.UINT64 }, value: new BigUint64Array([0n, 2n ** 64n - 1n]) },
  { key: 'a.i64', type: { type: T.ARRAY, itemType: T.INT64 }, value: new BigInt64Array([-1n, 2n ** 62n]) },
  { key: 'a.f64', type: { type: T.ARRAY, itemType: T.FLOAT64 }, value: new Float64Array([Math.E, -0]) },
  { key: 'a.empty', type: { type: T.ARRAY, itemType: T.INT32 }, value: new Int32Array(0) },
  { key: 'a.empty.str', type: { type: T.ARRAY, itemType: T.STRING }, value: [] },
  {
    key: 'a.nested',
    type: {
      type: T.ARRAY,
      itemType: T.ARRAY,
      items: [
        { type: T.ARRAY, itemType: T.INT32 },
        { type: T.ARRAY, itemType: T.STRING },
        { type: T.ARRAY, itemType: T.ARRAY, items: [{ type: T.ARRAY, itemType: T.FLOAT32 }] },
        { type: T.ARRAY, itemType: T.STRING },
      ],
    },
    value: [new Int32Array([1, 2]), ['x', 'y'], [new Float32Array([0.5])], []],
  },
];

/** One tensor of every type, with random bytes of the right size. */
function everyTensor(seed = 3): GGUFTensorInput[] {
  const r = rng(seed);
  const t = (name: string, type: (typeof QUANT)[keyof typeof QUANT], dims: number[]) => {
    const bytes = rowBytes(type, dims[0]!) * dims.slice(1).reduce((a, b) => a * b, 1);
    return { name, type, dims, data: Uint8Array.from({ length: bytes }, () => Math.floor(r() * 256)) };
  };
  return [t('f32', QUANT.F32, [5, 3]), t('f16', QUANT.F16, [7]), t('bf16', QUANT.BF16, [2, 2, 3]), t('q8', QUANT.Q8_0, [64, 3]), t('q4', QUANT.Q4_0, [32, 2, 1, 2])];
}

async function tensorData(f: GGUFFile, src: ByteSource) {
  return Promise.all(f.tensors.map(async (t) => ({ name: t.name, type: t.type, dims: t.dims, data: await slice(src, t.offset, t.bytes) })));
}

write('round-trips every value type and all five tensor types', async () => {
  for (const alignment of [32, 64, 1]) {
    const tensors = everyTensor();
    const file = writeGGUF(EVERY_TYPE, tensors, alignment);
    const src = memorySource(file);
    const f = await parseGGUF(src);
    assert.is(f.alignment, alignment);
    for (const { key, type, value } of EVERY_TYPE) {
      assert.equal(f.metadata[key], value, key);
      assert.equal(f.kvTypes[key], typeof type === 'number' ? { type } : type, `${key} type`);
    }
    assert.is(f.tensors.length, 5);
    for (const [i, t] of (await tensorData(f, src)).entries()) {
      assert.is(t.name, tensors[i]!.name);
      assert.is(t.type, tensors[i]!.type);
      assert.equal(t.dims, tensors[i]!.dims);
      assertBytes(t.data, tensors[i]!.data, t.name);
      assert.is(f.tensors[i]!.offset % alignment, 0);
    }
    // Writing the parsed file back gives the same bytes.
    assertBytes(writeGGUF(f, await tensorData(f, src)), file, `rewrite, alignment ${alignment}`);
  }
});

write('rewriting stories260K.gguf reproduces llama.cpp\'s file byte for byte', async () => {
  const f = await parseGGUF(storiesSrc);
  assertBytes(writeGGUF(f, await tensorData(f, storiesSrc)), stories);
});

write('@huggingface/gguf reads our output identically', async () => {
  const tensors = everyTensor();
  const file = writeGGUF(EVERY_TYPE, tensors, 64);
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-gguf-'));
  try {
    writeFileSync(join(dir, 'every.gguf'), file);
    const hf = await hfGGUF(join(dir, 'every.gguf'), { allowLocalFile: true, typedMetadata: true });
    const ours = await parseGGUF(memorySource(file));
    assert.is(hf.metadata.version, 3);
    assert.is(hf.tensorDataOffset, BigInt(ours.tensorDataOffset));
    const plain = (v: unknown): unknown => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<unknown>) : Array.isArray(v) ? v.map(plain) : v);
    for (const { key } of EVERY_TYPE) {
      assert.equal((hf.metadata as Record<string, unknown>)[key], plain(ours.metadata[key]), key);
      assert.is(hf.typedMetadata[key]!.type, ours.kvTypes[key]!.type, `${key} type`);
      if (ours.kvTypes[key]!.itemType !== undefined) assert.is(hf.typedMetadata[key]!.subType, ours.kvTypes[key]!.itemType, `${key} item type`);
    }
    assert.is(hf.tensorInfos.length, tensors.length);
    hf.tensorInfos.forEach((t, i) => {
      const o = ours.tensors[i]!;
      assert.equal({ name: t.name, shape: t.shape.map(Number), dtype: t.dtype as number, offset: Number(t.offset) }, { name: o.name, shape: o.dims, dtype: o.type.id, offset: o.relOffset });
    });
  } finally {
    rmSync(dir, { recursive: true });
  }
});

write('refuses values that do not fit their type, duplicates and wrong data sizes', async () => {
  const bad = (kv: GGUFKVInput) => assertThrowsCode(() => writeGGUF([kv], []), 'bad_option', kv.key);
  await bad({ key: 'u8', type: T.UINT8, value: 256 });
  await bad({ key: 'i32', type: T.INT32, value: 1.5 });
  await bad({ key: 'u64', type: T.UINT64, value: -1n });
  await bad({ key: 'str', type: T.STRING, value: 3 });
  await bad({ key: 'bool', type: T.BOOL, value: 1 });
  await bad({ key: 'arr', type: { type: T.ARRAY, itemType: T.UINT8 }, value: [300] as unknown as GGUFArray });
  await bad({ key: 'untyped', type: { type: T.ARRAY }, value: [] });
  await assertThrowsCode(() => writeGGUF([{ key: 'k', type: T.UINT8, value: 1 }, { key: 'k', type: T.UINT8, value: 2 }], []), 'bad_option', 'dup key');
  const t = everyTensor()[0]!;
  await assertThrowsCode(() => writeGGUF([], [t, t]), 'bad_option', 'dup tensor');
  await assertThrowsCode(() => writeGGUF([], [{ ...t, data: t.data.subarray(1) }]), 'bad_option', 'short data');
  await assertThrowsCode(() => writeGGUF([], [{ ...t, type: QUANT.Q8_0, dims: [5, 3] }]), 'bad_option', 'partial block');
  await assertThrowsCode(() => writeGGUF([], [], 48), 'bad_option', 'alignment 48');
});

write('infers array item types from typed arrays, string[] and boolean[]', async () => {
  const value = [new Float32Array([1]), ['a'], [true]];
  const f = await parseGGUF(memorySource(writeGGUF([{ key: 'x', type: { type: T.ARRAY }, value }], [])));
  assert.equal(f.metadata.x, value);
  assert.equal(f.kvTypes.x!.items!.map((t) => t.itemType), [T.FLOAT32, T.STRING, T.BOOL]);
});

write.run();

// ---
const toSpec = suite('ggufToModelSpec');

toSpec('maps stories260K.gguf to config, tensors and tokenizer', async () => {
  const spec = ggufToModelSpec(await parseGGUF(storiesSrc), storiesSrc);
  assert.is(spec.format, 'gguf');
  assert.equal(
    { ...spec.config, normEps: Math.fround(spec.config.normEps) },
    {
      dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headSize: 8, vocabSize: 512, seqLen: 2048,
      normEps: Math.fround(1e-5), ropeBase: 10000, ropeDim: 8, ropeStyle: 'adjacent', tiedEmbeddings: false, qkvBias: false,
    },
  );
  assert.is(spec.tensors.size, 48);
  assert.equal(spec.tensors.get('blk.3.ffn_down.weight')!.dims, [172, 64]);
  const tok = spec.tokenizer!;
  assert.is(tok.model, 'llama');
  assert.is(tok.tokens.length, 512);
  assert.equal([tok.bosId, tok.eosId, tok.unkId, tok.addBos, tok.addSpacePrefix], [1, 2, 0, true, true]);
  assert.is(tok.scores!.length, 512);
  assert.is(tok.tokenTypes![3], 6); // <0x00> is a byte token
  assert.is(spec.metadata['general.name'], 'llama');
});

toSpec('qwen2: neox RoPE, q/k/v biases, tied output, gpt2 tokenizer, defaults', async () => {
  const tokens = Array.from({ length: TINY.vocabSize - 2 }, (_, i) => `t${i}`);
  const file = tinyGGUF(TINY, {
    arch: 'qwen2', bias: true, tied: true,
    extra: [
      { key: 'qwen2.rope.freq_base', type: T.FLOAT32, value: 1000000 },
      { key: 'tokenizer.ggml.model', type: T.STRING, value: 'gpt2' },
      { key: 'tokenizer.ggml.tokens', type: { type: T.ARRAY, itemType: T.STRING }, value: tokens },
      { key: 'tokenizer.ggml.merges', type: { type: T.ARRAY, itemType: T.STRING }, value: ['t 0', 't1 t2'] },
      { key: 'tokenizer.ggml.eos_token_id', type: T.UINT32, value: 5 },
    ],
  });
  const src = memorySource(file);
  const spec = ggufToModelSpec(await parseGGUF(src), src);
  assert.is(spec.config.ropeStyle, 'neox');
  assert.is(spec.config.qkvBias, true);
  assert.is(spec.config.tiedEmbeddings, true);
  assert.is(spec.config.ropeBase, 1000000);
  assert.is(spec.config.ropeDim, 8);
  assert.is(spec.config.normEps, 1e-5);
  assert.is(spec.config.seqLen, 16);
  assert.equal(spec.tensors.get('blk.1.attn_k.bias')!.dims, [16]);
  const tok = spec.tokenizer!;
  assert.equal([tok.model, tok.bosId, tok.eosId, tok.unkId, tok.addBos, tok.addSpacePrefix], ['gpt2', -1, 5, undefined, false, false]);
  assert.equal(tok.merges, ['t 0', 't1 t2']);
});

toSpec('head_count_kv defaults to head_count; no tokenizer keys, no tokenizer', async () => {
  const c = { ...TINY, nKvHeads: TINY.nHeads };
  const kv = tinyKV(c).filter((e) => !e.key.endsWith('head_count_kv'));
  const tensors = tinyTensors(c).map((t) => ({ name: t.name, type: QUANT.F32, dims: t.dims, data: bytesOf(t.data) }));
  const src = memorySource(writeGGUF(kv, tensors));
  const spec = ggufToModelSpec(await parseGGUF(src), src);
  assert.is(spec.config.nKvHeads, 4);
  assert.is(spec.tokenizer, undefined);
});

toSpec('a missing tensor is corrupt, naming it', async () => {
  const src = memorySource(tinyGGUF(TINY, { drop: 'blk.1.ffn_up.weight' }));
  const e = await assertThrowsCode(async () => ggufToModelSpec(await parseGGUF(src), src), 'corrupt');
  assert.ok(e.message.includes('blk.1.ffn_up.weight'), e.message);
});

toSpec('a tensor of the wrong shape is corrupt, naming it', async () => {
  const kv = tinyKV({ ...TINY, nKvHeads: 4 }); // tensors are built for 2 kv heads
  const tensors = tinyTensors(TINY).map((t) => ({ name: t.name, type: QUANT.F32, dims: t.dims, data: bytesOf(t.data) }));
  const src = memorySource(writeGGUF(kv, tensors));
  const e = await assertThrowsCode(async () => ggufToModelSpec(await parseGGUF(src), src), 'corrupt');
  assert.ok(e.message.includes('blk.0.attn_k.weight has shape [32,16], expected [32,32]'), e.message);
});

toSpec('other architectures are unsupported; missing keys corrupt', async () => {
  const gpt2 = memorySource(tinyGGUF(TINY, { arch: 'gpt2' }));
  const e = await assertThrowsCode(async () => ggufToModelSpec(await parseGGUF(gpt2), gpt2), 'unsupported');
  assert.ok(e.message.includes('"gpt2"'), e.message);
  const kv = tinyKV(TINY).filter((x) => x.key !== 'llama.block_count');
  const tensors = tinyTensors(TINY).map((t) => ({ name: t.name, type: QUANT.F32, dims: t.dims, data: bytesOf(t.data) }));
  const src = memorySource(writeGGUF(kv, tensors));
  const m = await assertThrowsCode(async () => ggufToModelSpec(await parseGGUF(src), src), 'corrupt');
  assert.ok(m.message.includes('llama.block_count'), m.message);
});

toSpec.run();
