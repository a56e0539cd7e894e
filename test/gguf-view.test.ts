/**
 * src/formats/gguf-view.ts: a safetensors checkpoint (+ its config.json) presented to the wasm runtime as
 * a GGUF file. The view's tensor table equals the TS safetensors spec and every tensor's bytes are the
 * checkpoint's; open() on the checkpoint (with a llama2.c tokenizer as { tokenizer }) runs on the runtime
 * through the view and gives the greedy ids of the TS Engine (src/engine/engine.ts) loaded from the TS
 * safetensors spec of the same bytes; reads past the view's end are 'truncated'; no config is 'bad_option'.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { memorySource } from '../src/sources/memory.ts';
import type { ByteSource } from '../src/sources/types.ts';
import { ggufView } from '../src/formats/gguf-view.ts';
import { parseGGUF } from '../src/formats/gguf.ts';
import { parseSafetensors, safetensorsToModelSpec } from '../src/formats/safetensors.ts';
import { parseTokenizerBin } from '../src/formats/tokenizer-bin.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { Engine } from '../src/engine/engine.ts';
import { open } from '../src/index.ts';
import { loadKernels, loadRuntime } from '../src/platform/node.ts';
import { assertBytes, assertThrowsCode } from './helpers.ts';
import { TINY, type TinyConfig, tinySafetensors } from './format-fixtures.ts';
import { tokenizerBin } from './tokenizer-fixtures.ts';

/** TINY with room for a prompt and a continuation, and a vocabulary the tokenizer below fills. */
const CONFIG: TinyConfig = { ...TINY, vocabSize: 48, seqLen: 64 };
/** New tokens generated per case (unless EOS comes first). */
const STEPS = 24;

/** A llama2.c tokenizer.bin of CONFIG.vocabSize pieces: <unk> <s> </s>, single characters, then a few
 * merges (scores rise with length so merges win), as llama2.c writes them (a space is ' '). */
const PIECES = ['<unk>', '<s>', '</s>', ...' abcdefghijklmnopqrstuvwxyz.,', ' a', ' b', ' c', ' t', 'ab', 'ca', 'the', ' the', 'at', ' cat', 'ba', 'cab', 'ta', 'tab', 'e.', 'he'];
const SCORES = PIECES.map((p, i) => (i < 3 ? 0 : p.length * 10 - i / 100));
const TOKENIZER = tokenizerBin(PIECES, SCORES);
const PROMPTS = ['the cat', 'a b c. the tab', ''];

// ---------------------------------------------------------------------------------------------------

/** The checkpoints: llama-style (untied), tied, and qwen2 with q/k/v biases. */
const CASES = [
  { label: 'llama, untied', ...tinySafetensors(CONFIG) },
  { label: 'llama, tied embeddings', ...tinySafetensors(CONFIG, { tied: true }) },
  { label: 'qwen2 with q/k/v biases', ...tinySafetensors(CONFIG, { bias: true, modelType: 'qwen2' }) },
];

/** Greedy ids from the TS Engine on the TS safetensors spec: prompt (with BOS) through forward, then argmax
 * until EOS / BOS (which the runtime does not emit) or STEPS tokens. */
async function engineGreedy(bytes: Uint8Array, config: object, prompt: string): Promise<number[]> {
  const src = memorySource(bytes, 'model.safetensors');
  const spec = safetensorsToModelSpec(await parseSafetensors(src), src, config);
  const engine = await Engine.load(await Kernels.create(await loadKernels('simd')), spec, { contextLength: CONFIG.seqLen });
  const tok = createTokenizer(parseTokenizerBin(TOKENIZER, CONFIG.vocabSize));
  let ids = tok.encode(prompt);
  if (ids.length === 0) ids = [tok.bosId];
  const out: number[] = [];
  let logits = engine.forward(ids);
  while (out.length < STEPS) {
    let next = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[next]!) next = i;
    if (next === tok.eosId || next === tok.bosId) break;
    out.push(next);
    logits = engine.forward([next]);
  }
  return out;
}

async function runtimeGreedy(bytes: Uint8Array, config: object | undefined, prompt: string): Promise<number[]> {
  const model = await open(memorySource(bytes, 'model.safetensors'), { module: await loadRuntime('simd'), tokenizer: TOKENIZER, config });
  try {
    const ids: number[] = [];
    for await (const t of model.generate(prompt, { temperature: 0, maxTokens: STEPS })) ids.push(t.id);
    return ids;
  } finally {
    await model.close();
  }
}

async function readAll(src: ByteSource): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  await src.readInto(0, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------

const view = suite('ggufView');

view('the view is a GGUF whose tensors are the safetensors spec (names, types, dims) over the same bytes', async () => {
  for (const c of CASES) {
    const src = memorySource(c.bytes, 'model.safetensors');
    const spec = safetensorsToModelSpec(await parseSafetensors(src), src, c.config);
    const v = await ggufView(src, c.config);
    const bytes = await readAll(v);
    const gguf = await parseGGUF(memorySource(bytes, 'view.gguf'));
    assert.equal(gguf.tensors.map((t) => t.name), [...spec.tensors.keys()], `${c.label}: tensor names`);
    for (const t of gguf.tensors) {
      const want = spec.tensors.get(t.name)!;
      assert.is(t.type.name, want.type.name, `${c.label}: ${t.name} type`);
      assert.equal(t.dims, want.dims, `${c.label}: ${t.name} dims`);
      assertBytes(bytes.subarray(t.offset, t.offset + t.bytes), c.bytes.subarray(want.offset, want.offset + want.bytes), `${c.label}: ${t.name} bytes`);
    }
    assert.is(gguf.metadata['general.architecture'], 'qwen2', `${c.label}: HF rotates halves (NeoX RoPE), GGUF's qwen2`);
  }
});

view('a read inside the view returns the same bytes as the whole view, padding as zeros', async () => {
  const c = CASES[0]!;
  const v = await ggufView(memorySource(c.bytes, 'model.safetensors'), c.config);
  const whole = await readAll(v);
  for (const [at, n] of [[0, 1], [7, 100], [whole.length - 33, 33], [Math.floor(whole.length / 3), 5000]] as const) {
    const part = new Uint8Array(n);
    part.fill(0xee);
    await v.readInto(at, part);
    assertBytes(part, whole.subarray(at, at + n), `[${at}, ${at + n})`);
  }
});

view('reads past the end of the view (or before its start) are truncated', async () => {
  const c = CASES[0]!;
  const v = await ggufView(memorySource(c.bytes, 'model.safetensors'), c.config);
  for (const [at, n] of [[v.size - 4, 8], [v.size, 1], [-1, 4], [0, v.size + 1]] as const) {
    const e = await assertThrowsCode(() => v.readInto(at, new Uint8Array(n)), 'truncated', `[${at}, ${at + n})`);
    assert.ok(e.message.includes('model.safetensors'), e.message);
  }
  await v.readInto(v.size - 4, new Uint8Array(4)); // the last bytes themselves are fine
});

view('no config.json is bad_option, naming the option', async () => {
  const c = CASES[0]!;
  const e = await assertThrowsCode(() => ggufView(memorySource(c.bytes, 'model.safetensors'), undefined), 'bad_option');
  assert.ok(e.message.includes('{ config }'), e.message);
});

view.run();

// ---

const opened = suite('open (safetensors through the GGUF view)');

for (const c of CASES) {
  opened(`${c.label}: greedy ids equal the TS Engine on the TS safetensors spec`, async () => {
    let generated = 0;
    for (const prompt of PROMPTS) {
      const want = await engineGreedy(c.bytes, c.config, prompt);
      const got = await runtimeGreedy(c.bytes, c.config, prompt);
      assert.equal(got, want, `${c.label}, prompt ${JSON.stringify(prompt)}`);
      generated += got.length;
    }
    assert.ok(generated > 0, 'some tokens were generated');
  });
}

opened('the runtime encodes prompts as the TS tokenizer does', async () => {
  const c = CASES[0]!;
  const model = await open(memorySource(c.bytes, 'model.safetensors'), { module: await loadRuntime('simd'), tokenizer: TOKENIZER, config: c.config });
  try {
    const oracle = createTokenizer(parseTokenizerBin(TOKENIZER, CONFIG.vocabSize));
    for (const p of PROMPTS) assert.equal(model.tokenizer.encode(p), oracle.encode(p), JSON.stringify(p));
  } finally {
    await model.close();
  }
});

opened('a safetensors checkpoint without its config is bad_option', async () => {
  const c = CASES[0]!;
  const module = await loadRuntime('simd');
  const e = await assertThrowsCode(() => open(memorySource(c.bytes, 'model.safetensors'), { module, tokenizer: TOKENIZER }), 'bad_option');
  assert.ok(e.message.includes('config'), e.message);
});

opened('a cut checkpoint is truncated, not a trap', async () => {
  const c = CASES[0]!;
  for (const cut of [c.bytes.length - 1, Math.floor(c.bytes.length / 2)]) {
    await assertThrowsCode(() => runtimeGreedy(c.bytes.subarray(0, cut), c.config, 'the cat'), 'truncated', `cut at ${cut}`);
  }
});

opened.run();
