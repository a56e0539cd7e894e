/**
 * Many requests on one model (issue 12): concurrent calls queue on the model and each gets exactly the
 * tokens it gets alone on a fresh model, whatever ran before it and whatever the neuron cache holds; the
 * memory budget holds throughout; and the limits a server needs (prompt tokens, new tokens, a deadline,
 * the queue's length, a client that goes away) each answer as documented.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { open } from '../src/platform/node.ts';
import type { GenerateOptions, Model, OpenOptions } from '../src/types.ts';
import { createHandler, RETRY_AFTER_S } from '../src/server/handler.ts';
import { choice, errorOf, parseSse, post } from './server-helpers.ts';
import { rng } from './helpers.ts';

const DEMO = 'models/ifp-demo/ifp-demo.q8_0.gguf';
const STORIES = 'models/stories260K/stories260K.gguf';

/** Prompts from every domain ifp-demo knows, so the predictor picks different neurons for each. */
const PROMPTS = [
  'def parse_args(argv):\n    """Parse the command line."""\n',
  'function debounce(fn, ms) {\n',
  'The history of the city begins in the',
  'Die Geschichte der Stadt beginnt im',
  'Q: 17+25 A:',
  'NAME\n       grep - print lines that match patterns\n',
  'import os\nimport sys\n\nclass Config:\n',
  'const express = require(\'express\');\n',
  'In the summer of that year, the',
  'Am nächsten Morgen ging er',
];

interface Req { prompt: string; density: number; temperature: number; seed: number; maxTokens: number; stream: boolean }

/** 50 requests: every prompt at densities 0.25 / 0.5 / 1 (learned policy), greedy and seeded sampling. */
function requests(n: number): Req[] {
  const r = rng(12);
  const densities = [0.25, 0.5, 1];
  return Array.from({ length: n }, (_, i) => ({
    prompt: PROMPTS[i % PROMPTS.length]!,
    density: densities[Math.floor(r() * densities.length)]!,
    temperature: r() < 0.5 ? 0 : 0.8,
    seed: Math.floor(r() * 1e6),
    maxTokens: 6 + Math.floor(r() * 10),
    stream: r() < 0.5,
  }));
}

/** top_p 1: the handler's default (OpenAI's), so the library calls sample as the requests do. */
const genOpts = (q: Req): GenerateOptions => ({ density: q.density, temperature: q.temperature, topP: 1, seed: q.seed, maxTokens: q.maxTokens });

async function textOf(model: Model, prompt: string, opts: GenerateOptions): Promise<{ ids: number[]; text: string }> {
  const ids: number[] = [];
  let text = '';
  for await (const t of model.generate(prompt, opts)) (ids.push(t.id), (text += t.text));
  return { ids, text };
}

/**
 * A budget that holds the core and 400 of ifp-demo's 768 neurons per layer: a density-0.5 set fits,
 * two different ones do not, so requests evict each other's rows — and density 1 (768 rows) does not
 * fit at all, so those requests must fail with out_of_memory, the same way concurrently as alone.
 */
async function budgetFor(file: string): Promise<{ opts: OpenOptions; budget: number }> {
  const probe = await open(file, { ffn: 'selective' });
  const s = probe.stats();
  await probe.close();
  const { nLayers, hiddenDim } = probe.config;
  const rowBytes = s.ffnBytesTotal / (nLayers * hiddenDim);
  const budget = Math.ceil(s.memoryBytes + nLayers * 2 * rowBytes * 400);
  return { opts: { ffn: 'selective', memoryBudget: budget }, budget };
}

const { opts: OPEN, budget: BUDGET } = await budgetFor(DEMO);

/** What each request gives alone, each on a fresh model: ids and text, or the error code. */
type Outcome = { text: string; ids?: number[] } | { error: string };
async function alone(reqs: Req[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const q of reqs) {
    const m = await open(DEMO, OPEN);
    try {
      out.push(await textOf(m, q.prompt, genOpts(q)));
    } catch (e) {
      out.push({ error: (e as { code?: string }).code ?? String(e) });
    } finally {
      await m.close();
    }
  }
  return out;
}

const REQS = requests(50);
const ALONE = await alone(REQS);
const stories = await open(STORIES);

// ---

const library = suite('50 concurrent generate() calls on one model');

library('each gives the tokens it gives alone on a fresh model; the budget holds at every token', async () => {
  const model = await open(DEMO, OPEN);
  let peak = 0;
  const outcomes = await Promise.all(
    REQS.map(async (q): Promise<Outcome> => {
      const ids: number[] = [];
      let text = '';
      try {
        for await (const t of model.generate(q.prompt, genOpts(q))) {
          ids.push(t.id);
          text += t.text;
          peak = Math.max(peak, model.stats().memoryBytes);
        }
        return { ids, text };
      } catch (e) {
        return { error: (e as { code?: string }).code ?? String(e) };
      }
    }),
  );
  assert.equal(outcomes, ALONE);
  assert.ok(ALONE.some((o) => 'error' in o && o.error === 'out_of_memory'), 'density 1 exceeds the budget');
  assert.ok(ALONE.filter((o) => 'text' in o).length >= 25, 'most requests fit the budget');
  assert.ok(peak > 0 && peak <= BUDGET, `peak memoryBytes ${peak} within the budget ${BUDGET}`);
  assert.ok(model.stats().neuronCacheHits >= 0);
  await model.close();
});

library('the same seed gives the same tokens after any mix of other instructions (cache state does not matter)', async () => {
  const model = await open(DEMO, OPEN);
  const probe: Req = { prompt: PROMPTS[0]!, density: 0.25, temperature: 0.8, seed: 4242, maxTokens: 12, stream: false };
  const first = await textOf(model, probe.prompt, genOpts(probe));
  for (const q of REQS.slice(0, 12)) await textOf(model, q.prompt, genOpts(q)).catch(() => undefined);
  const again = await textOf(model, probe.prompt, genOpts(probe));
  assert.equal(again, first);
  await model.close();
});

library.run();

// ---

const handler = suite('50 concurrent requests through the request handler');

handler('streamed and not, each answer equals the request alone; 503 for none, and the budget holds', async () => {
  const model = await open(DEMO, OPEN);
  const h = createHandler(model);
  let peak = 0;
  const watch = setInterval(() => (peak = Math.max(peak, model.stats().memoryBytes)), 1);
  const answers = await Promise.all(
    REQS.map(async (q): Promise<Outcome> => {
      const r = await post(h, '/v1/completions', { prompt: q.prompt, density: q.density, temperature: q.temperature, seed: q.seed, max_tokens: q.maxTokens, stream: q.stream });
      if (r.status !== 200) return { error: ((await r.json()) as { error: { code: string } }).error.code };
      if (!q.stream) return { text: choice((await r.json()) as Record<string, unknown>).text! };
      return { text: parseSse(await r.text()).events.map((e) => choice(e).text ?? '').join('') };
    }),
  );
  clearInterval(watch);
  assert.equal(answers, ALONE.map((o) => ('error' in o ? o : { text: o.text })));
  assert.ok(peak > 0 && peak <= BUDGET, `peak memoryBytes ${peak} within the budget ${BUDGET}`);
  await model.close();
});

handler.run();

// ---

const limits = suite('limits a server needs');

limits('maxPromptTokens: a longer prompt is a 400 prompt_too_long before it queues; a prompt at the limit runs', async () => {
  const prompt = 'Once upon a time there was a little girl named Lily who loved to play';
  const n = stories.tokenizer.encode(prompt).length;
  const h = createHandler(stories, { maxPromptTokens: n - 1 });
  const e = await errorOf(await post(h, '/v1/completions', { prompt, max_tokens: 2 }), 400, 'prompt_too_long');
  assert.ok(e.message.includes(String(n)) && e.message.includes(String(n - 1)), e.message);
  assert.is(e.param, 'prompt');
  const ok = createHandler(stories, { maxPromptTokens: n });
  assert.is((await post(ok, '/v1/completions', { prompt, max_tokens: 2 })).status, 200);
});

limits('maxTokens: a larger max_tokens is a 400 naming the limit; without one, the answer stops at the limit', async () => {
  const h = createHandler(stories, { maxTokens: 5 });
  const e = await errorOf(await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 6 }), 400, 'out_of_range');
  assert.ok(e.message.includes('5'), e.message);
  const chat = await post(h, '/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], temperature: 0 });
  const body = (await chat.json()) as { usage: { completion_tokens: number } } & Record<string, unknown>;
  assert.is(chat.status, 200);
  assert.ok(body.usage.completion_tokens <= 5, `${body.usage.completion_tokens} tokens`);
  assert.is((await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 5 })).status, 200);
});

limits('timeoutMs: queued past the deadline is a 503 timeout with Retry-After; mid-answer it ends with finish_reason length', async () => {
  const h = createHandler(stories, { timeoutMs: 200 });
  // A streamed answer of a handler without a deadline, left unread, holds the model past the deadline of the request behind it.
  const holder = await post(createHandler(stories), '/v1/completions', { prompt: 'Once', max_tokens: 400, temperature: 0, stream: true });
  const held = holder.body!.getReader();
  await held.read();
  const r = await post(h, '/v1/completions', { prompt: 'Sam', max_tokens: 3 });
  assert.is(r.headers.get('retry-after'), String(RETRY_AFTER_S));
  const e = await errorOf(r, 503, 'timeout');
  assert.match(e.message, /timeoutMs/);
  await held.cancel();
  // Alone, an answer read slowly (10 ms a token: 400 tokens take 4 s) ends at its deadline, cleanly.
  const slow = await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 400, temperature: 0, stream: true });
  const reader = slow.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += dec.decode(value);
    await new Promise((r) => setTimeout(r, 10));
  }
  const events = parseSse(text).events;
  assert.is(choice(events.at(-1)!).finish_reason, 'length', 'the slow answer ended at its deadline');
  const usage = events.at(-1)!.usage as { completion_tokens: number };
  assert.ok(usage.completion_tokens > 0 && usage.completion_tokens < 400, `${usage.completion_tokens} tokens before the deadline`);
  assert.is(stories.stats().finishReason, 'timeout');
});

limits('maxQueue: with the model busy and maxQueue waiting, one more is a 503 overloaded; the queued ones complete', async () => {
  const h = createHandler(stories, { maxQueue: 2 });
  const expected = await textOf(stories, 'Sam', { maxTokens: 4, temperature: 0 });
  const slow = await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 300, temperature: 0, stream: true });
  const reader = slow.body!.getReader();
  await reader.read(); // running: holds the model while the body is unread
  const waiting = [post(h, '/v1/completions', { prompt: 'Sam', max_tokens: 4, temperature: 0 }), post(h, '/v1/completions', { prompt: 'Sam', max_tokens: 4, temperature: 0 })];
  const over = await post(h, '/v1/completions', { prompt: 'Sam', max_tokens: 4 });
  assert.is(over.headers.get('retry-after'), String(RETRY_AFTER_S));
  const e = await errorOf(over, 503, 'overloaded');
  assert.match(e.message, /at most 2/);
  await reader.cancel();
  for (const w of waiting) assert.is(choice((await (await w).json()) as Record<string, unknown>).text, expected.text);
  assert.is((await post(h, '/v1/completions', { prompt: 'Sam', max_tokens: 4, temperature: 0 })).status, 200, 'the queue drained');
});

limits('a client that disconnects while queued leaves the queue, and while generating stops its generation', async () => {
  const h = createHandler(stories);
  const slow = await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 300, temperature: 0, stream: true });
  const reader = slow.body!.getReader();
  await reader.read();
  const ac = new AbortController();
  const queued = post(h, '/v1/completions', { prompt: 'Sam', max_tokens: 4 }, { signal: ac.signal });
  ac.abort();
  await errorOf(await queued, 499, 'aborted');
  await reader.cancel();
  assert.is(stories.stats().finishReason, 'aborted');
  assert.ok(stories.stats().generatedTokens < 300);
});

limits('bad limits are bad_option at createHandler', () => {
  for (const bad of [{ maxPromptTokens: 0 }, { maxTokens: -1 }, { timeoutMs: 0 }, { maxQueue: 1.5 }, { timeoutMs: Number.NaN }]) {
    try {
      createHandler(stories, bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (e) {
      assert.is((e as { code?: string }).code, 'bad_option', JSON.stringify(bad));
    }
  }
});

limits.run();
