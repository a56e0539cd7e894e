import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memorySource } from '../src/sources/memory.ts';
import { fileSource } from '../src/sources/file.ts';
import { detectFormat, openModel } from '../src/formats/model.ts';
import { assertThrowsCode } from './helpers.ts';
import { STORIES_BIN, STORIES_DIR, STORIES_GGUF, TINY, bytesOf, llama2cBytes, readStories, tinySafetensors } from './format-fixtures.ts';

// ---
const detect = suite('detectFormat');

detect('recognises each format by its first bytes', async () => {
  assert.is(await detectFormat(memorySource(readStories(STORIES_GGUF))), 'gguf');
  assert.is(await detectFormat(memorySource(readStories(STORIES_BIN))), 'llama2c');
  assert.is(await detectFormat(memorySource(llama2cBytes(TINY, false))), 'llama2c');
  assert.is(await detectFormat(memorySource(tinySafetensors(TINY).bytes)), 'safetensors');
});

detect('anything else is bad_magic, saying what it tried', async () => {
  const tok = readStories(STORIES_DIR + 'tok512.bin'); // a tokenizer, not a model
  const e = await assertThrowsCode(() => detectFormat(memorySource(tok, 'tok512.bin')), 'bad_magic');
  for (const s of ['tok512.bin', 'GGUF', 'safetensors', 'llama2.c']) assert.ok(e.message.includes(s), `${s} in: ${e.message}`);
  const lfs = new TextEncoder().encode('version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1185376\n');
  assert.ok((await assertThrowsCode(() => detectFormat(memorySource(lfs)), 'bad_magic')).message.includes('starts with 0x76 0x65'));
  await assertThrowsCode(() => detectFormat(memorySource(new Uint8Array(0))), 'bad_magic', 'empty');
});

detect.run();

// ---
const open = suite('openModel');

open('opens the GGUF and the llama2.c stories260K to the same config', async () => {
  const gguf = await fileSource(STORIES_GGUF);
  const bin = await fileSource(STORIES_BIN);
  try {
    const g = await openModel(gguf);
    const b = await openModel(bin);
    assert.is(g.format, 'gguf');
    assert.is(b.format, 'llama2c');
    const same = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headSize', 'vocabSize', 'ropeBase', 'ropeDim', 'ropeStyle'] as const;
    for (const k of same) assert.is(g.config[k], b.config[k], k);
    assert.ok(g.tokenizer);
  } finally {
    await gguf.close!();
    await bin.close!();
  }
});

open('safetensors needs its config.json', async () => {
  const { bytes, config } = tinySafetensors(TINY);
  const spec = await openModel(memorySource(bytes), { config });
  assert.is(spec.format, 'safetensors');
  assert.is(spec.config.ropeStyle, 'neox');
  const e = await assertThrowsCode(() => openModel(memorySource(bytes, 'model.safetensors')), 'bad_option');
  assert.ok(e.message.includes('config'), e.message);
});

open('a cut llama2.c checkpoint is truncated, not bad_magic; "ak42" exports are unsupported', async () => {
  const bin = readStories(STORIES_BIN);
  await assertThrowsCode(() => openModel(memorySource(bin.subarray(0, 500000))), 'truncated');
  const ak42 = new Uint8Array(256);
  ak42.set(bytesOf(new Int32Array([0x616b3432, 2, 64, 172, 5, 8, 4, 512, 512])));
  await assertThrowsCode(() => openModel(memorySource(ak42)), 'unsupported');
});

open('a cut GGUF is truncated', async () => {
  const gguf = readStories(STORIES_GGUF);
  await assertThrowsCode(() => openModel(memorySource(gguf.subarray(0, 5000))), 'truncated');
});

open.run();
