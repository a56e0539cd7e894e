import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Template } from '@huggingface/jinja';
import { open } from '../src/platform/node.ts';
import type { GenerateOptions, Model } from '../src/types.ts';
import { createHandler, DEFAULT_MAX_BODY_BYTES, type Handler } from '../src/server/handler.ts';
import { Mutex } from '../src/queue.ts';
import { choice, errorOf, parseSse, post } from './server-helpers.ts';
import { CHAT_TEMPLATE_KEY, FALLBACK_STOP, chatFormatter } from '../src/server/chat.ts';
import { assertThrowsCode, runCli, type CliResult } from './helpers.ts';
import { SAMPLE_CHAT_TEMPLATE, STORIES_GGUF, withChatTemplate } from './chat-fixtures.ts';
import { GGUFValueType, parseGGUF, ggufToModelSpec } from '../src/formats/gguf.ts';
import { writeGGUF } from '../src/formats/gguf-write.ts';
import { memorySource } from '../src/sources/memory.ts';
import { createTokenizer } from '../src/tokenizer/index.ts';

const STORIES = 'models/stories260K/stories260K.gguf';
const DEMO = 'models/ifp-demo/ifp-demo.q8_0.gguf';
const PROMPTS = ['Once upon a time', 'Lily and Tom', 'The cat sat', 'One day, a little bird', 'Sam had a red ball'];

const stories = await open(STORIES);
const CHAT_GGUF = await withChatTemplate(STORIES_GGUF, SAMPLE_CHAT_TEMPLATE);
const chatModel = await open(CHAT_GGUF);

/** The text model.generate gives (the oracle every response is held to). */
async function generateText(model: Model, prompt: string, opts: GenerateOptions): Promise<string> {
  let text = '';
  for await (const t of model.generate(prompt, opts)) text += t.text;
  return text;
}

// ---

const completions = suite('POST /v1/completions');

completions('greedy text equals model.generate, with usage and finish_reason', async () => {
  const h = createHandler(stories);
  for (const [prompt, n] of [['Once upon a time', 40], ['Lily and Tom', 7]] as const) {
    const expected = await generateText(stories, prompt, { maxTokens: n, temperature: 0 });
    const s = stories.stats();
    const r = await post(h, '/v1/completions', { model: 'stories', prompt, max_tokens: n, temperature: 0 });
    assert.is(r.status, 200);
    const body = (await r.json()) as Record<string, unknown>;
    assert.is(body.object, 'text_completion');
    assert.match(body.id as string, /^cmpl-/);
    assert.is(choice(body).text, expected);
    assert.is(choice(body).finish_reason, 'length');
    assert.equal(body.usage, { prompt_tokens: s.promptTokens, completion_tokens: n, total_tokens: s.promptTokens + n });
  }
});

completions('stream: chunks concatenate to the same text and end with usage, then [DONE]', async () => {
  const h = createHandler(stories);
  const expected = await generateText(stories, 'Once upon a time', { maxTokens: 30, temperature: 0 });
  const r = await post(h, '/v1/completions', { prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stream: true });
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/event-stream/);
  const { events, done } = parseSse(await r.text());
  assert.ok(done, 'ends with data: [DONE]');
  assert.ok(events.length > 10, 'one event per token');
  assert.is(events.map((e) => choice(e).text).join(''), expected);
  const last = events.at(-1)!;
  assert.is(choice(last).finish_reason, 'length');
  assert.is((last.usage as { completion_tokens: number }).completion_tokens, 30);
  assert.ok(events.slice(0, -1).every((e) => choice(e).finish_reason === null && e.usage === undefined));
  assert.ok(events.every((e) => e.id === events[0]!.id && e.object === 'text_completion'));
});

completions('stop (a string or an array), seed and sampling options reach the generation', async () => {
  const h = createHandler(stories);
  const expected = await generateText(stories, 'Once upon a time', { maxTokens: 60, temperature: 0, stop: ['Lily'] });
  let body = (await (await post(h, '/v1/completions', { prompt: 'Once upon a time', max_tokens: 60, temperature: 0, stop: 'Lily' })).json()) as Record<string, unknown>;
  assert.is(choice(body).text, expected);
  assert.is(choice(body).finish_reason, 'stop');
  body = (await (await post(h, '/v1/completions', { prompt: 'Once upon a time', max_tokens: 60, temperature: 0, stop: ['Lily', 'zzz'] })).json()) as Record<string, unknown>;
  assert.is(choice(body).text, expected);
  const sampled = await generateText(stories, 'The cat', { maxTokens: 30, temperature: 0.9, topP: 0.8, topK: 20, seed: 7 });
  body = (await (await post(h, '/v1/completions', { prompt: 'The cat', max_tokens: 30, temperature: 0.9, top_p: 0.8, top_k: 20, seed: 7 })).json()) as Record<string, unknown>;
  assert.is(choice(body).text, sampled);
  const prompt = ['The cat'];
  body = (await (await post(h, '/v1/completions', { prompt, max_tokens: 30, temperature: 0.9, top_p: 0.8, top_k: 20, seed: 7, n: 1, user: 'x', presence_penalty: 0 })).json()) as Record<string, unknown>;
  assert.is(choice(body).text, sampled, 'a one-prompt array; default-valued and ignored OpenAI fields');
});

completions('max_tokens defaults to 16 (OpenAI); GET /v1/models lists the model', async () => {
  const h = createHandler(stories, { id: 'stories' });
  const body = (await (await post(h, '/v1/completions', { prompt: 'Once', temperature: 0 })).json()) as Record<string, unknown>;
  assert.is((body.usage as { completion_tokens: number }).completion_tokens, 16);
  assert.is(body.model, 'stories');
  const r = await h(new Request('http://localhost/v1/models'));
  assert.is(r.status, 200);
  const list = (await r.json()) as { object: string; data: { id: string; object: string; owned_by: string }[] };
  assert.is(list.object, 'list');
  assert.equal(list.data.map((m) => [m.id, m.object, m.owned_by]), [['stories', 'model', 'ifprune']]);
  assert.is((await h(new Request('http://localhost/v1/models/stories'))).status, 200);
});

completions.run();

// ---

const chat = suite('POST /v1/chat/completions');

const MESSAGES = [
  { role: 'system', content: 'You tell stories.' },
  { role: 'user', content: 'Tell me about a cat. ' },
  { role: 'assistant', content: 'The cat was big.' },
  { role: 'user', content: [{ type: 'text', text: 'And then' }, { type: 'text', text: '?' }] },
];
const MESSAGES_AS_TEXT = MESSAGES.map((m) => ({ ...m, content: typeof m.content === 'string' ? m.content : 'And then?' }));

chat('the model\'s tokenizer.chat_template renders as Jinja says; the reply equals model.generate of that prompt', async () => {
  assert.is(chatModel.metadata(CHAT_TEMPLATE_KEY), SAMPLE_CHAT_TEMPLATE);
  const rendered = new Template(SAMPLE_CHAT_TEMPLATE).render({ messages: MESSAGES_AS_TEXT, add_generation_prompt: true, bos_token: '<s>', eos_token: '</s>' });
  assert.is(rendered, '<s>[SYS] You tell stories.\nQ: Tell me about a cat.\nA: The cat was big.</s>\nQ: And then?\nA:');
  const f = chatFormatter(chatModel);
  assert.is(f.source, 'model');
  const p = f.render(MESSAGES_AS_TEXT);
  assert.equal(p, { text: rendered, prompt: rendered.slice('<s>'.length), bos: true });

  // special: the eos_token the template writes after the assistant turn is the EOS token, once
  const ids = chatModel.tokenizer.encode(p.prompt, { bos: true, special: true });
  assert.is(ids.filter((id) => id === chatModel.tokenizer.eosId).length, 1);
  const expected = await generateText(chatModel, p.prompt, { maxTokens: 25, temperature: 0, bos: true, special: true });
  const h = createHandler(chatModel);
  const body = (await (await post(h, '/v1/chat/completions', { messages: MESSAGES, max_tokens: 25, temperature: 0 })).json()) as Record<string, unknown>;
  assert.is(body.object, 'chat.completion');
  assert.match(body.id as string, /^chatcmpl-/);
  assert.equal(choice(body).message, { role: 'assistant', content: expected });
  assert.is((body.usage as { prompt_tokens: number }).prompt_tokens, ids.length);

  const r = await post(h, '/v1/chat/completions', { messages: MESSAGES, max_tokens: 25, temperature: 0, stream: true });
  const { events, done } = parseSse(await r.text());
  assert.ok(done);
  assert.equal(choice(events[0]!).delta, { role: 'assistant', content: '' }, 'the role comes first');
  assert.is(events.map((e) => choice(e).delta!.content ?? '').join(''), expected);
  assert.equal(choice(events.at(-1)!).delta, {});
  assert.is(choice(events.at(-1)!).finish_reason, 'length');
  assert.ok(events.every((e) => e.object === 'chat.completion.chunk'));
  assert.is((events.at(-1)!.usage as { completion_tokens: number }).completion_tokens, 25);
});

/**
 * stories260K with ChatML markers in its vocabulary: pieces 511 (" ", which text never produces: spaces
 * encode as "▁") and 510 ("~") renamed "<|im_start|>" and "<|im_end|>", control tokens (the tensors keep
 * their shapes), and a ChatML template, as SmolLM2-Instruct and Qwen2-Instruct have them.
 */
const IM_START = 511;
const IM_END = 510;
const CHATML_TEMPLATE =
  "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
async function withChatMarkers(bytes: Uint8Array): Promise<Uint8Array> {
  const f = await parseGGUF(memorySource(bytes, 'in.gguf'));
  const tokens = [...(f.metadata['tokenizer.ggml.tokens'] as string[])];
  const types = Int32Array.from(f.metadata['tokenizer.ggml.token_type'] as Int32Array);
  tokens[IM_START] = '<|im_start|>';
  tokens[IM_END] = '<|im_end|>';
  types[IM_START] = types[IM_END] = 3; // control
  return writeGGUF(
    {
      metadata: { ...f.metadata, 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.token_type': types, [CHAT_TEMPLATE_KEY]: CHATML_TEMPLATE },
      kvTypes: { ...f.kvTypes, [CHAT_TEMPLATE_KEY]: { type: GGUFValueType.STRING } },
    },
    f.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: bytes.subarray(t.offset, t.offset + t.bytes) })),
    f.alignment,
  );
}

chat('ChatML markers in the template are the vocabulary\'s tokens in the prompt ids (special), as the TS tokenizer reads them', async () => {
  const bytes = await withChatMarkers(STORIES_GGUF);
  const chatml = await open(bytes);
  try {
    const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me about a cat.' }];
    const p = chatFormatter(chatml).render(messages);
    assert.is(p.text, '<|im_start|>system\nYou tell stories.<|im_end|>\n<|im_start|>user\nTell me about a cat.<|im_end|>\n<|im_start|>assistant\n');
    assert.equal([p.prompt, p.bos], [p.text, undefined], 'no bos_token to cut: BOS by the tokenizer\'s rule');

    const ids = chatml.tokenizer.encode(p.prompt, { special: true });
    assert.equal(ids.slice(0, 2), [chatml.tokenizer.bosId, IM_START]);
    assert.equal([ids.filter((id) => id === IM_START).length, ids.filter((id) => id === IM_END).length], [3, 2]);
    assert.not.ok(chatml.tokenizer.encode(p.prompt).some((id) => id === IM_START || id === IM_END), 'a plain prompt is all text');
    const src = memorySource(bytes, 'chatml.gguf');
    const oracle = createTokenizer(ggufToModelSpec(await parseGGUF(src), src).tokenizer!);
    assert.equal(ids, oracle.encode(p.prompt, { special: true }), 'the runtime\'s ids are the TS tokenizer\'s');
    const ins = await chatml.instruct(p.prompt, { density: 0.5, policy: 'prompt', special: true });
    assert.equal(ins.promptIds, ids, 'instruct reads markers too');

    // the handler: prompt_tokens and the greedy reply are those of generate(..., { special: true })
    const expected = await generateText(chatml, p.prompt, { maxTokens: 20, temperature: 0, special: true });
    const body = (await (await post(createHandler(chatml), '/v1/chat/completions', { messages, max_tokens: 20, temperature: 0 })).json()) as Record<string, unknown>;
    assert.is((body.usage as { prompt_tokens: number }).prompt_tokens, ids.length);
    assert.is(choice(body).message!.content, expected);
    // a plain completion of the same text reads the markers as text
    const plain = (await (await post(createHandler(chatml), '/v1/completions', { prompt: p.prompt, max_tokens: 1, temperature: 0 })).json()) as Record<string, unknown>;
    assert.is((plain.usage as { prompt_tokens: number }).prompt_tokens, chatml.tokenizer.encode(p.prompt).length);
  } finally {
    await chatml.close();
  }
});

chat('a model without a template gets the plain fallback and its turn stop; a template option overrides the model\'s', async () => {
  const f = chatFormatter(stories);
  assert.is(f.source, 'fallback');
  assert.equal(f.stop, FALLBACK_STOP);
  assert.is(f.render(MESSAGES_AS_TEXT).prompt, 'You tell stories.\n\nUser: Tell me about a cat. \nAssistant: The cat was big.\nUser: And then?\nAssistant:');
  const expected = await generateText(stories, 'User: Hi\nAssistant:', { maxTokens: 20, temperature: 0, stop: FALLBACK_STOP });
  const body = (await (await post(createHandler(stories), '/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 20, temperature: 0 })).json()) as Record<string, unknown>;
  assert.is(choice(body).message!.content, expected);

  const o = chatFormatter(chatModel, '{% for m in messages %}<{{ m.content }}>{% endfor %}');
  assert.is(o.source, 'option');
  assert.is(o.render([{ role: 'user', content: 'x' }]).prompt, '<x>');
  await assertThrowsCode(() => chatFormatter(stories, '{% for %}'), 'bad_option', 'a template jinja cannot parse');
  await assertThrowsCode(() => createHandler(stories, { chatTemplate: '{{ x' }), 'bad_option', 'createHandler fails early');
});

chat('a template\'s raise_exception and malformed messages are 400s', async () => {
  const h = createHandler(chatModel);
  const e = await errorOf(await post(h, '/v1/chat/completions', { messages: [{ role: 'tool', content: 'x' }] }), 400, 'bad_option');
  assert.match(e.message, 'role tool is not supported');
  const bad: [unknown, number, string][] = [
    [{}, 400, 'missing_parameter'],
    [{ messages: 'hi' }, 400, 'invalid_type'],
    [{ messages: [] }, 400, 'out_of_range'],
    [{ messages: ['hi'] }, 400, 'invalid_type'],
    [{ messages: [{ role: 5, content: 'x' }] }, 400, 'invalid_type'],
    [{ messages: [{ role: 'wizard', content: 'x' }] }, 400, 'out_of_range'],
    [{ messages: [{ role: 'user', content: 5 }] }, 400, 'invalid_type'],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 400, 'unsupported_parameter'],
    [{ messages: [{ role: 'assistant', content: null, tool_calls: [{}] }] }, 400, 'unsupported_parameter'],
    [{ messages: [{ role: 'user', content: 'x' }], prompt: 'x' }, 400, 'unknown_parameter'],
    [{ messages: [{ role: 'user', content: 'x' }], max_tokens: 3, max_completion_tokens: 3 }, 400, 'unsupported_parameter'],
    [{ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] }, 400, 'unsupported_parameter'],
  ];
  for (const [body, status, code] of bad) await errorOf(await post(h, '/v1/chat/completions', body), status, code, JSON.stringify(body));
  const ok = (await (await post(h, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 3, temperature: 0 })).json()) as Record<string, unknown>;
  assert.is((ok.usage as { completion_tokens: number }).completion_tokens, 3, 'max_completion_tokens');
});

chat.run();

// ---

const pruning = suite('density and policy');

pruning('on ifp-demo: a request\'s density and policy prune as model.generate does; a request without them runs dense', async () => {
  const demo = await open(DEMO, { ffn: 'auto' });
  try {
    const prompt = 'def parse(argv):';
    const dense = await generateText(demo, prompt, { maxTokens: 30, temperature: 0, density: 1 });
    const learned = await generateText(demo, prompt, { maxTokens: 30, temperature: 0, density: 0.5, policy: 'learned' });
    const stat = await generateText(demo, prompt, { maxTokens: 30, temperature: 0, density: 0.25, policy: 'static' });
    assert.is.not(learned, dense, 'pruning changes this text');
    const h = createHandler(demo);
    const text = async (extra: object, handler = h) => {
      const body = (await (await post(handler, '/v1/completions', { prompt, max_tokens: 30, temperature: 0, ...extra })).json()) as Record<string, unknown>;
      return [choice(body).text, demo.stats().density, demo.stats().policy];
    };
    assert.equal(await text({ density: 0.5, policy: 'learned' }), [learned, 0.5, 'learned']);
    assert.equal(await text({}), [dense, 1, 'dense'], 'no density: dense, not the last request\'s neurons');
    assert.equal(await text({ density: 0.25, policy: 'static' }), [stat, 0.25, 'static']);
    const pruned = createHandler(demo, { density: 0.5, policy: 'learned' });
    assert.equal(await text({}, pruned), [learned, 0.5, 'learned'], 'the handler\'s default density and policy');
    assert.equal(await text({ density: 1 }, pruned), [dense, 1, 'learned'], 'a request overrides the default (every neuron)');
    const r = await post(h, '/v1/completions', { prompt, max_tokens: 30, temperature: 0, density: 0.5, policy: 'learned', stream: true });
    assert.is(parseSse(await r.text()).events.map((e) => choice(e).text).join(''), learned, 'streamed');
  } finally {
    await demo.close();
  }
});

pruning('bad densities and policies: 400s; a policy the model cannot run is the runtime\'s bad_option', async () => {
  const h = createHandler(stories);
  for (const [extra, code] of [[{ density: 0 }, 'out_of_range'], [{ density: 1.5 }, 'out_of_range'], [{ density: '0.5' }, 'invalid_type'], [{ policy: 'best' }, 'out_of_range'], [{ policy: 1 }, 'invalid_type'], [{ density: 0.5, policy: 'learned' }, 'bad_option']] as const) {
    await errorOf(await post(h, '/v1/completions', { prompt: 'x', ...extra }), 400, code, JSON.stringify(extra));
  }
  await assertThrowsCode(() => createHandler(stories, { density: 2 }), 'bad_option');
  await assertThrowsCode(() => createHandler(stories, { policy: 'best' as never }), 'bad_option');
  await assertThrowsCode(() => createHandler(stories, { maxBodyBytes: 0 }), 'bad_option');
});

pruning.run();

// ---

const errors = suite('errors');

errors('bad JSON, wrong types, out-of-range values, unknown fields: 400 with {error: {message, type, param, code}}', async () => {
  const h = createHandler(stories);
  const cases: [unknown, string, string?][] = [
    ['{"prompt": ', 'invalid_json'],
    ['', 'invalid_json'],
    ['[1]', 'invalid_json'],
    ['"x"', 'invalid_json'],
    [{}, 'missing_parameter', 'prompt'],
    [{ prompt: 5 }, 'invalid_type', 'prompt'],
    [{ prompt: [1, 2, 3] }, 'invalid_type', 'prompt'],
    [{ prompt: ['a', 'b'] }, 'unsupported_parameter', 'prompt'],
    [{ prompt: 'x', model: 3 }, 'invalid_type', 'model'],
    [{ prompt: 'x', max_tokens: '5' }, 'invalid_type', 'max_tokens'],
    [{ prompt: 'x', max_tokens: -1 }, 'out_of_range', 'max_tokens'],
    [{ prompt: 'x', max_tokens: 1.5 }, 'out_of_range', 'max_tokens'],
    [{ prompt: 'x', temperature: 2.5 }, 'out_of_range', 'temperature'],
    [{ prompt: 'x', temperature: -0.1 }, 'out_of_range', 'temperature'],
    [{ prompt: 'x', top_p: 0 }, 'out_of_range', 'top_p'],
    [{ prompt: 'x', top_p: 1.1 }, 'out_of_range', 'top_p'],
    [{ prompt: 'x', top_k: -1 }, 'out_of_range', 'top_k'],
    [{ prompt: 'x', seed: -1 }, 'out_of_range', 'seed'],
    [{ prompt: 'x', seed: 0.5 }, 'out_of_range', 'seed'],
    [{ prompt: 'x', stream: 'yes' }, 'invalid_type', 'stream'],
    [{ prompt: 'x', stop: 5 }, 'invalid_type', 'stop'],
    [{ prompt: 'x', stop: ['a', 1] }, 'invalid_type', 'stop'],
    [{ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'out_of_range', 'stop'],
    [{ prompt: 'x', stop: '' }, 'out_of_range', 'stop'],
    [{ prompt: 'x', n_predict: 5 }, 'unknown_parameter', 'n_predict'],
    [{ prompt: 'x', messages: [] }, 'unknown_parameter', 'messages'],
    [{ prompt: 'x', n: 2 }, 'unsupported_parameter', 'n'],
    [{ prompt: 'x', logprobs: 5 }, 'unsupported_parameter', 'logprobs'],
    [{ prompt: 'x', echo: true }, 'unsupported_parameter', 'echo'],
    [{ prompt: 'x', frequency_penalty: 0.5 }, 'unsupported_parameter', 'frequency_penalty'],
  ];
  for (const [body, code, param] of cases) {
    const e = await errorOf(await post(h, '/v1/completions', body), 400, code, JSON.stringify(body));
    if (param) assert.is(e.param, param, JSON.stringify(body));
  }
});

errors('a prompt beyond the context is a 400 context_overflow, streamed or not, and the model stays usable', async () => {
  const small = await open(STORIES, { contextLength: 32 });
  try {
    const h = createHandler(small);
    const long = 'Once upon a time there was a little girl named Lily who liked to play outside in the park with her friends';
    for (const stream of [false, true]) {
      const e = await errorOf(await post(h, '/v1/completions', { prompt: long, stream }), 400, 'context_overflow', `stream ${stream}`);
      assert.match(e.message, /context/);
    }
    const r = await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 100, temperature: 0 });
    const body = (await r.json()) as Record<string, unknown>;
    assert.is(choice(body).finish_reason, 'length', 'a full context ends like max_tokens');
    assert.is(small.stats().finishReason, 'context');
  } finally {
    await small.close();
  }
});

errors('a body over the size limit is a 413, by Content-Length or while streaming it in', async () => {
  const h = createHandler(stories, { maxBodyBytes: 1000 });
  await errorOf(await post(h, '/v1/completions', { prompt: 'x'.repeat(2000) }), 413, 'request_too_large', 'content-length');
  const chunks = [new TextEncoder().encode('{"prompt": "'), new Uint8Array(1500).fill(120), new TextEncoder().encode('"}')];
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
  const r = await h(new Request('http://localhost/v1/completions', { method: 'POST', body, duplex: 'half' } as RequestInit));
  await errorOf(r, 413, 'request_too_large', 'streamed without a length');
  assert.is(DEFAULT_MAX_BODY_BYTES, 1 << 20);
  const ok = await post(createHandler(stories), '/v1/completions', { prompt: 'x'.repeat(2000), max_tokens: 1 });
  assert.is(ok.status, 200, 'the default limit takes it');
});

errors('unknown paths are 404, wrong methods 405 with Allow; OPTIONS answers CORS preflight', async () => {
  const h = createHandler(stories);
  await errorOf(await h(new Request('http://localhost/v1/embeddings', { method: 'POST', body: '{}' })), 404, 'not_found');
  await errorOf(await h(new Request('http://localhost/')), 404, 'not_found');
  let r = await h(new Request('http://localhost/v1/completions'));
  assert.is(r.headers.get('allow'), 'POST');
  await errorOf(r, 405, 'method_not_allowed');
  r = await h(new Request('http://localhost/v1/models', { method: 'DELETE' }));
  assert.is(r.headers.get('allow'), 'GET');
  await errorOf(r, 405, 'method_not_allowed');
  r = await h(new Request('http://localhost/v1/chat/completions', { method: 'OPTIONS' }));
  assert.is(r.status, 204);
  assert.is(r.headers.get('access-control-allow-origin'), '*');
});

errors.run();

// ---

const concurrency = suite('one generation at a time');

concurrency('5 concurrent requests (streamed and not) all complete with their own greedy text', async () => {
  const expected = [];
  for (const p of PROMPTS) expected.push(await generateText(stories, p, { maxTokens: 40, temperature: 0 }));
  const h = createHandler(stories);
  const texts = await Promise.all(
    PROMPTS.map(async (prompt, i) => {
      const r = await post(h, '/v1/completions', { prompt, max_tokens: 40, temperature: 0, stream: i % 2 === 1 });
      assert.is(r.status, 200);
      if (i % 2 === 0) return choice((await r.json()) as Record<string, unknown>).text;
      return parseSse(await r.text()).events.map((e) => choice(e).text).join('');
    }),
  );
  assert.equal(texts, expected);
});

concurrency('Mutex: first come, first served; an aborted waiter leaves the queue', async () => {
  const m = new Mutex();
  const order: number[] = [];
  const release0 = await m.acquire();
  const ac = new AbortController();
  const w1 = m.acquire().then((rel) => (order.push(1), rel));
  const w2 = m.acquire(ac.signal).then((rel) => (order.push(2), rel));
  const w3 = m.acquire().then((rel) => (order.push(3), rel));
  assert.is(m.queued, 3);
  ac.abort();
  await assertThrowsCode(() => w2, 'aborted');
  assert.is(m.queued, 2);
  release0();
  (await w1)();
  (await w3)();
  assert.equal(order, [1, 3]);
  await assertThrowsCode(() => m.acquire(AbortSignal.abort()), 'aborted');
  (await m.acquire())();
});

concurrency('Mutex: the next caller starts after an event-loop turn, and no newcomer passes it meanwhile', async () => {
  const m = new Mutex();
  const events: string[] = [];
  const release0 = await m.acquire();
  const w1 = m.acquire().then((rel) => (events.push('next'), rel));
  setTimeout(() => events.push('timer'), 0);
  for (const t0 = performance.now(); performance.now() - t0 < 5; ); // the timer is due, and has not run
  release0();
  const newcomer = m.acquire().then((rel) => (events.push('newcomer'), rel));
  (await w1)();
  (await newcomer)();
  assert.equal(events, ['timer', 'next', 'newcomer']);
});

concurrency('an aborted request stops its generation (499), a cancelled stream too, and the next request runs', async () => {
  const h = createHandler(stories);
  const reference = await generateText(stories, 'Sam had a red ball', { maxTokens: 20, temperature: 0 });
  // Not streamed: the clients go away once the third token is out (a model whose generate trips the
  // aborts then, so a fast machine cannot finish the generation first).
  const ac = new AbortController();
  const queued = new AbortController();
  const tripped = Object.create(stories) as Model;
  tripped.generate = (prompt, opts) => {
    const g = stories.generate(prompt, opts);
    return {
      stats: () => g.stats(),
      async *[Symbol.asyncIterator]() {
        let n = 0;
        for await (const t of g) {
          yield t;
          if (++n === 3) (queued.abort(), ac.abort());
        }
      },
    };
  };
  const ht = createHandler(tripped);
  const pending = post(ht, '/v1/completions', { prompt: 'Once', max_tokens: 2000, temperature: 0 }, { signal: ac.signal });
  const waiting = post(ht, '/v1/completions', { prompt: 'Once', max_tokens: 5 }, { signal: queued.signal });
  await errorOf(await pending, 499, 'aborted', 'aborted mid-generation');
  assert.is(stories.stats().finishReason, 'aborted');
  assert.ok(stories.stats().generatedTokens < 2000);
  await errorOf(await waiting, 499, 'aborted', 'aborted while queued');
  // Streamed: read two events, then cancel the body.
  const r = await post(h, '/v1/completions', { prompt: 'Once', max_tokens: 2000, temperature: 0, stream: true });
  const reader = r.body!.getReader();
  await reader.read();
  await reader.read();
  await reader.cancel();
  const after = (await (await post(h, '/v1/completions', { prompt: 'Sam had a red ball', max_tokens: 20, temperature: 0 })).json()) as Record<string, unknown>;
  assert.is(choice(after).text, reference);
  assert.ok(stories.stats().generatedTokens === 20);
});

concurrency.run();

// ---

const serve = suite('ifprune serve');

const TMP = mkdtempSync(join(tmpdir(), 'ifprune-serve-'));

/** Starts `ifprune serve ... --port 0 --json`; resolves with the URL it prints, and the child. */
function startServer(args: string[]): { ready: Promise<{ url: string; line: Record<string, unknown>; child: ChildProcess }>; exited: Promise<CliResult> } {
  let resolve!: (v: { url: string; line: Record<string, unknown>; child: ChildProcess }) => void;
  const ready = new Promise<{ url: string; line: Record<string, unknown>; child: ChildProcess }>((r) => (resolve = r));
  let out = '';
  const exited = runCli(['serve', ...args, '--port', '0', '--json'], (chunk, child) => {
    out += chunk;
    const nl = out.indexOf('\n');
    if (nl >= 0) {
      const line = JSON.parse(out.slice(0, nl)) as Record<string, unknown>;
      resolve({ url: line.url as string, line, child });
    }
  });
  return { ready, exited };
}

serve('serves over HTTP on 127.0.0.1: models, greedy completions, SSE, chat with the model\'s template, errors, a client that disconnects; SIGTERM stops it', async () => {
  const modelFile = join(TMP, 'chat.gguf');
  writeFileSync(modelFile, CHAT_GGUF);
  const { ready, exited } = startServer(['-m', modelFile]);
  const fail = exited.then((r): never => assert.unreachable(`serve exited early: ${r.stderr}`) as never);
  const { url, line, child } = await Promise.race([ready, fail]);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  assert.equal([line.model, line.chatTemplate], ['chat', 'model']);

  const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
  assert.is(models.data[0]!.id, 'chat');
  const expected = await generateText(chatModel, 'Once upon a time', { maxTokens: 30, temperature: 0 });
  const req = (path: string, body: unknown, init: RequestInit = {}) => fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, ...init });
  let body = (await (await req('/completions', { prompt: 'Once upon a time', max_tokens: 30, temperature: 0 })).json()) as Record<string, unknown>;
  assert.is(choice(body).text, expected);
  const sse = parseSse(await (await req('/completions', { prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stream: true })).text());
  assert.ok(sse.done);
  assert.is(sse.events.map((e) => choice(e).text).join(''), expected);
  const prompt = chatFormatter(chatModel).render([{ role: 'user', content: 'Hi' }]);
  const reply = await generateText(chatModel, prompt.prompt, { maxTokens: 15, temperature: 0, bos: prompt.bos });
  body = (await (await req('/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 15, temperature: 0 })).json()) as Record<string, unknown>;
  assert.is(choice(body).message!.content, reply);
  await errorOf(await req('/completions', { prompt: 'x', temperature: 'hot' }), 400, 'invalid_type');
  await errorOf(await fetch(`${url}/nothing`), 404, 'not_found');

  // A client that goes away mid-stream: the server stops that generation and serves the next request.
  const ac = new AbortController();
  const streaming = await req('/completions', { prompt: 'Once', max_tokens: 2000, temperature: 0, stream: true }, { signal: ac.signal });
  await streaming.body!.getReader().read();
  ac.abort();
  const all = await Promise.all(PROMPTS.map((p) => req('/completions', { prompt: p, max_tokens: 20, temperature: 0 }).then((r) => r.json() as Promise<Record<string, unknown>>)));
  for (const [i, p] of PROMPTS.entries()) assert.is(choice(all[i]!).text, await generateText(chatModel, p, { maxTokens: 20, temperature: 0 }), p);

  child.kill('SIGTERM');
  const r = await exited;
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
});

serve('usage: --help, a missing -m (exit 2), a missing model file (exit 1), plain-text listening line', async () => {
  let r = await runCli(['serve', '--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, 'Usage: ifprune serve -m MODEL');
  r = await runCli(['serve']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /^ifprune: serve needs a model file: -m MODEL/);
  r = await runCli(['serve', '-m', STORIES, '--density', '2']);
  assert.is(r.code, 2);
  r = await runCli(['serve', '-m', join(TMP, 'none.gguf')]);
  assert.is(r.code, 1);
  r = await runCli(['serve', '-m', STORIES, '--port', '0', '--density', '0.5', '--policy', 'prompt'], (chunk, child) => {
    if (chunk.includes('\n')) child.kill('SIGINT');
  });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ifprune serve: http:\/\/127\.0\.0\.1:\d+\/v1 \(model stories260K, chat template: fallback, density 0\.5, policy prompt\)/);
});

serve.after(async () => {
  rmSync(TMP, { recursive: true, force: true });
  await stories.close();
  await chatModel.close();
});

serve.run();

