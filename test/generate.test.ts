/** The public API: open / generate / stats on the bundled stories260K model, options and errors. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, generate } from '../src/platform/node.ts';
import { open as openCore } from '../src/index.ts';
import type { Model, GenerateOptions } from '../src/types.ts';
import { assertThrowsCode } from './helpers.ts';

const DIR = fileURLToPath(new URL('../models/stories260K/', import.meta.url));
const BIN = DIR + 'stories260K.bin';
/** run.c's greedy story from BOS (expected-greedy.json, first case). */
const STORY = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

async function collect(model: Model, prompt: string, opts: GenerateOptions) {
  const ids: number[] = [];
  let text = '';
  for await (const t of model.generate(prompt, opts)) {
    ids.push(t.id);
    text += t.text;
  }
  return { ids, text };
}

let model: Model;
test.before(async () => {
  model = await open(BIN);
});
test.after(async () => model.close());

test('greedy text from BOS is run.c story, streamed with its spaces', async () => {
  const { text } = await collect(model, '', { temperature: 0, maxTokens: 25 });
  assert.ok(STORY.startsWith(text) && text.length > 60, text);
  const s = model.stats();
  assert.is(s.generatedTokens, 25);
  assert.is(s.promptTokens, 1);
  assert.is(s.finishReason, 'length');
  assert.is(s.kernels, 'simd');
  assert.ok(s.ttftMs > 0 && s.prefillMs > 0 && s.decodeMs > 0 && s.decodeTokPerS > 0 && s.loadMs > 0);
  assert.ok(s.bytesRead >= 1_000_000, `bytesRead ${s.bytesRead}`);
});

test('a continuation keeps the space before its first word', async () => {
  const { text } = await collect(model, 'Once upon a time', { temperature: 0, maxTokens: 3 });
  assert.ok(text.startsWith(','), JSON.stringify(text));
  const more = await collect(model, 'Once upon a time,', { temperature: 0, maxTokens: 2 });
  assert.ok(more.text.startsWith(' '), JSON.stringify(more.text));
});

test('stop strings end the text before the stop, even across tokens', async () => {
  const { text } = await collect(model, '', { temperature: 0, maxTokens: 60, stop: ['Lily'] });
  assert.is(text, 'Once upon a time, there was a little girl named ');
  assert.is(model.stats().finishReason, 'stop');
  const two = await collect(model, '', { temperature: 0, maxTokens: 60, stop: ['ball', 'girl named'] });
  assert.is(two.text, 'Once upon a time, there was a little ');
});

test('sampling is reproducible by seed and differs across seeds', async () => {
  const a = await collect(model, 'Lily', { temperature: 1, topP: 0.95, seed: 7, maxTokens: 30 });
  const b = await collect(model, 'Lily', { temperature: 1, topP: 0.95, seed: 7, maxTokens: 30 });
  const c = await collect(model, 'Lily', { temperature: 1, topP: 0.95, seed: 8, maxTokens: 30 });
  assert.equal(a.ids, b.ids);
  assert.not.equal(a.ids, c.ids);
  const greedy = await collect(model, 'Lily', { temperature: 0, maxTokens: 30 });
  const topK1 = await collect(model, 'Lily', { temperature: 1, topK: 1, seed: 3, maxTokens: 30 });
  assert.equal(topK1.ids, greedy.ids, 'top-k 1 is greedy');
});

test('maxTokens 0 yields nothing; invalid options are bad_option before anything runs', async () => {
  assert.equal((await collect(model, 'Tom', { maxTokens: 0 })).ids, []);
  for (const opts of [{ maxTokens: -1 }, { maxTokens: 1.5 }, { temperature: -1 }, { topP: 0 }, { topP: 1.5 }, { topK: -2 }, { stop: [''] }] as GenerateOptions[]) {
    await assertThrowsCode(() => model.generate('x', opts), 'bad_option');
  }
});

test('a prompt longer than the context is context_overflow naming both lengths', async () => {
  const small = await open(BIN, { contextLength: 8 });
  try {
    const prompt = 'Lily and Tom went to the park to play with a big red ball';
    const n = small.tokenizer.encode(prompt).length;
    const err = await assertThrowsCode(async () => {
      for await (const _ of small.generate(prompt)) void _;
    }, 'context_overflow');
    assert.ok(err.message.includes(`${n} tokens`) && err.message.includes('8'), err.message);
    // Generation that reaches the end of the context stops there.
    const { ids } = await collect(small, '', { temperature: 0, maxTokens: 100 });
    assert.is(ids.length, 8);
    assert.is(small.stats().finishReason, 'context');
  } finally {
    await small.close();
  }
});

test('an AbortSignal stops generation with code aborted', async () => {
  const ac = new AbortController();
  let n = 0;
  await assertThrowsCode(async () => {
    for await (const _ of model.generate('', { temperature: 0, maxTokens: 50, signal: ac.signal })) if (++n === 3) ac.abort();
  }, 'aborted');
  assert.is(n, 3);
  assert.is(model.stats().finishReason, 'aborted');
});

test('a timer can abort a running generation (the loop lets the event loop run)', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 5);
  let n = 0;
  await assertThrowsCode(async () => {
    for await (const _ of model.generate('', { temperature: 0, maxTokens: 500, signal: ac.signal })) n++;
  }, 'aborted');
  assert.ok(n < 500, `${n} tokens`);
});

test('concurrent calls on one model queue: each gets the tokens it gets alone, in arrival order', async () => {
  const alone = [];
  for (const [p, n] of [['', 6], ['Once', 4], ['Sam', 5]] as const) alone.push((await collect(model, p, { temperature: 0, maxTokens: n })).ids);
  const first = model.generate('', { temperature: 0, maxTokens: 6 });
  const it = first[Symbol.asyncIterator]();
  const ids0 = [(await it.next()).value!.id];
  // Two more start while the first is mid-generation: they wait (stats undefined) instead of failing.
  const order: number[] = [];
  const second = model.generate('Once', { temperature: 0, maxTokens: 4 });
  const third = model.generate('Sam', { temperature: 0, maxTokens: 5 });
  const drain = async (g: AsyncIterable<{ id: number }>, tag: number) => {
    const ids: number[] = [];
    for await (const t of g) ids.push(t.id);
    order.push(tag);
    return ids;
  };
  const p2 = drain(second, 2);
  const p3 = drain(third, 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.is(second.stats(), undefined, 'a queued generation has no stats yet');
  for (let r = await it.next(); !r.done; r = await it.next()) ids0.push(r.value.id);
  order.push(1);
  const [ids2, ids3] = await Promise.all([p2, p3]);
  assert.equal([ids0, ids2, ids3], alone);
  assert.equal(order, [1, 2, 3]);
  // Each generation keeps its own stats; model.stats() is the last one's.
  assert.equal([first.stats()!.generatedTokens, second.stats()!.generatedTokens, third.stats()!.generatedTokens], [6, 4, 5]);
  assert.is(model.stats().generatedTokens, 5);
});

test('timeoutMs: passed while queued is a timeout error; passed mid-generation ends it (finishReason timeout) keeping the tokens', async () => {
  const long = model.generate('', { temperature: 0, maxTokens: 400 });
  const it = long[Symbol.asyncIterator]();
  await it.next();
  const e = await assertThrowsCode(async () => {
    for await (const _ of model.generate('Once', { maxTokens: 2, timeoutMs: 10 })) void _;
  }, 'timeout');
  assert.match(e.message, /waiting for its turn/);
  await it.return?.(undefined);
  // Mid-generation: a consumer that takes 10 ms per token makes 400 tokens far outlast a 150 ms deadline.
  const g = model.generate('', { temperature: 0, maxTokens: 400, timeoutMs: 150 });
  const ids: number[] = [];
  for await (const t of g) {
    ids.push(t.id);
    await new Promise((r) => setTimeout(r, 10));
  }
  const s = g.stats()!;
  assert.is(s.finishReason, 'timeout');
  assert.ok(ids.length > 0 && ids.length === s.generatedTokens, `${ids.length} tokens, stats ${s.generatedTokens}`);
  const ref = (await collect(model, '', { temperature: 0, maxTokens: ids.length })).ids;
  assert.equal(ids, ref, 'the tokens before the deadline are the greedy ones');
  for (const bad of [0, -5, NaN, '10']) await assertThrowsCode(async () => model.generate('', { timeoutMs: bad as number }), 'bad_option');
});

test('one-call generate() opens, streams and closes', async () => {
  let text = '';
  for await (const t of generate(BIN, '', { temperature: 0, maxTokens: 8 })) text += t.text;
  assert.ok(STORY.startsWith(text) && text.length > 10, text);
});

test('a llama2.c checkpoint without a tokenizer is a clear error', async () => {
  const bytes = new Uint8Array(readFileSync(BIN));
  const { loadRuntime } = await import('../src/platform/node.ts');
  const module = await loadRuntime();
  const e1 = await assertThrowsCode(() => openCore(bytes, { module }), 'bad_option');
  assert.match(e1.message, /tokenizer/);
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-'));
  copyFileSync(BIN, join(dir, 'm.bin'));
  const e2 = await assertThrowsCode(() => open(join(dir, 'm.bin')), 'not_found');
  assert.match(e2.message, /tokenizer\.bin/);
  // With the tokenizer passed explicitly it works.
  const m = await open(join(dir, 'm.bin'), { tokenizer: DIR + 'tok512.bin' });
  assert.ok((await collect(m, '', { temperature: 0, maxTokens: 5 })).text.startsWith('Once'));
  await m.close();
});

test('open() without a kernel module says how to get one', async () => {
  const e = await assertThrowsCode(() => openCore(new Uint8Array(16)), 'no_wasm');
  assert.match(e.message, /module/);
});

test.run();
