import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTokenizerBin } from '../src/formats/tokenizer-bin.ts';
import { createTokenizer, type Tokenizer } from '../src/tokenizer/index.ts';
import type { TokenizerData } from '../src/tokenizer/types.ts';
import { mergeByRank, MinHeap } from '../src/tokenizer/heap.ts';
import { assertThrowsCode, rng } from './helpers.ts';
import { BYTE_PIECES, gpt2Data, tokenizerBin } from './tokenizer-fixtures.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOK512 = readFileSync(join(root, 'models/stories260K/tok512.bin'));
const IFP_DEMO = readFileSync(join(root, 'test/fixtures/ifp-demo-tokenizer.bin'));
const tok512 = createTokenizer(parseTokenizerBin(TOK512));
const ifpDemo = createTokenizer(parseTokenizerBin(IFP_DEMO));

const utf8 = new TextEncoder();

/** A small llama vocabulary in llama2.c form (spaces, not "▁"): <unk>, <s>, </s>, 256 bytes, then `pieces`. */
function smallLlama(pieces: [string, number][]): Tokenizer {
  const all = ['<unk>', '\n<s>\n', '\n</s>\n', ...BYTE_PIECES, ...pieces.map(([p]) => p)];
  const scores = [0, 0, 0, ...BYTE_PIECES.map(() => 0), ...pieces.map(([, s]) => s)];
  return createTokenizer(parseTokenizerBin(tokenizerBin(all, scores)));
}

/**
 * llama2.c run.c `encode` transcribed (commit 350e04fe): the dummy prefix token, characters or their
 * bytes + 3, then the best-scoring merge found by rescanning all pairs, until none. O(n²): the oracle.
 */
function runcEncode(data: TokenizerData, text: string): number[] {
  const lookup = new Map<string, number>();
  data.tokens.forEach((t, id) => lookup.has(t) || lookup.set(t, id));
  const ids: number[] = [];
  if (text !== '') ids.push(lookup.get('▁')!);
  for (const ch of text.replaceAll(' ', '▁')) {
    const id = lookup.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of utf8.encode(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = lookup.get(data.tokens[ids[i]] + data.tokens[ids[i + 1]]);
      if (id !== undefined && data.scores![id] > best) {
        best = data.scores![id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx < 0) return ids;
    ids.splice(bestIdx, 2, bestId);
  }
}

const ROUND_TRIP_TEXTS = [
  '',
  ' ',
  '  ',
  'a',
  ' leading space',
  'trailing space ',
  'Once upon a time, there was a little girl named Lily.',
  'Größere Übungen: Äpfel, Öl und süße Straße.',
  '中文分词测试：你好，世界！',
  'Привет, мир! Съешь же ещё этих мягких французских булок.',
  'emoji 🙂🎉👩‍👩‍👧 and flags 🇩🇪',
  'def f(x):\n\treturn x  *  2\n\n\n    # indented   comment\r\n',
  'tabs\t\tand\ttabs\n\n',
  'mixed: ½ ∑ ∞ ≠ → ← ✓ ™ © ®',
  'control \u0001\u0007\u001b[0m chars',
  '\uFEFFstarts with a byte order mark',
  'a literal <0x41> and <s> and </s> in the text',
  'x'.repeat(300),
];

// --- parseTokenizerBin

const parse = suite('parseTokenizerBin');

parse('reads tok512.bin: 512 tokens, unk/BOS/EOS, 256 byte tokens, spaces as "▁"', () => {
  const data = parseTokenizerBin(TOK512);
  assert.is(data.model, 'llama');
  assert.is(data.tokens.length, 512);
  assert.equal(data.tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
  assert.is(data.tokens[258], '<0xFF>');
  const types = Array.from(data.tokenTypes!);
  assert.equal(types.slice(0, 4), [2, 3, 3, 6]);
  assert.ok(types.slice(259).every((t) => t === 1), 'ids 259.. are normal');
  assert.ok(data.tokens.includes('▁the'));
  assert.not.ok(data.tokens.some((t) => t.includes(' ')), 'no plain spaces left');
  assert.instance(data.scores, Float32Array);
  assert.equal([data.bosId, data.eosId, data.unkId, data.addBos, data.addSpacePrefix], [1, 2, 0, true, true]);
});

parse('strips llama2.c\'s newlines around <s> and </s> (ifp-demo writes "\\n<s>\\n")', () => {
  const data = parseTokenizerBin(IFP_DEMO);
  assert.is(data.tokens.length, 2048);
  assert.equal(data.tokens.slice(0, 3), ['<unk>', '<s>', '</s>']);
  assert.is(data.tokens[259], '▁▁'); // first merge of the ifp-demo tokenizer
  assert.is(data.scores![260], -1);
});

parse('checks an expected vocabulary size', async () => {
  assert.is(parseTokenizerBin(TOK512, 512).tokens.length, 512);
  const more = await assertThrowsCode(() => parseTokenizerBin(TOK512, 600), 'truncated');
  assert.match(more.message, '600');
  await assertThrowsCode(() => parseTokenizerBin(TOK512, 500), 'corrupt');
  await assertThrowsCode(() => parseTokenizerBin(TOK512, 0), 'bad_option');
});

parse('a file cut anywhere is "truncated"', async () => {
  for (const cut of [0, 3, 4, 7, 11, 14, TOK512.length - 1]) {
    await assertThrowsCode(() => parseTokenizerBin(TOK512.subarray(0, cut)), 'truncated', `cut at ${cut}`);
  }
});

parse('garbage is "corrupt" (or "truncated"), never a crash or a silent vocabulary', async () => {
  const header = new Uint8Array([0xff, 0xff, 0xff, 0xff]); // max_token_length -1
  await assertThrowsCode(() => parseTokenizerBin(header), 'corrupt');
  const tooLong = tokenizerBin(['<unk>', '<s>', '</s>', 'abc']);
  new DataView(tooLong.buffer).setInt32(0, 2, true); // header claims the longest piece is 2 bytes
  await assertThrowsCode(() => parseTokenizerBin(tooLong), 'corrupt');
  const badUtf8 = tokenizerBin(['<unk>', '<s>', '</s>', 'ab']);
  badUtf8[badUtf8.length - 1] = 0xff;
  await assertThrowsCode(() => parseTokenizerBin(badUtf8), 'corrupt');
  await assertThrowsCode(() => parseTokenizerBin(tokenizerBin(['<unk>', '<s>'])), 'corrupt');
  const random = rng(7);
  for (let i = 0; i < 20; i++) {
    const bytes = Uint8Array.from({ length: 64 + i * 13 }, () => Math.floor(random() * 256));
    bytes.set([8, 0, 0, 0]); // a plausible header, then noise
    const code = await codeOf(() => parseTokenizerBin(bytes));
    assert.ok(code === 'corrupt' || code === 'truncated', `noise ${i}: ${code}`);
  }
});

/** The code of the IfpruneError fn throws ('none' when it returns, the error's name otherwise). */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    const err = e as Error & { code?: string };
    return err.name === 'IfpruneError' ? err.code! : err.name;
  }
  return 'none';
}

parse.run();

// --- mergeByRank

const merge = suite('mergeByRank');

merge('MinHeap pops in order', () => {
  const heap = new MinHeap<number>((a, b) => a < b);
  const random = rng(3);
  const values = Array.from({ length: 500 }, () => Math.floor(random() * 100));
  for (const v of values) heap.push(v);
  const popped: number[] = [];
  for (let v = heap.pop(); v !== undefined; v = heap.pop()) popped.push(v);
  assert.equal(popped, values.slice().sort((a, b) => a - b));
});

merge('merges the lowest rank first and the leftmost pair on ties', () => {
  const ranks = new Map([['ab', 1], ['bc', 0], ['aa', 2]]);
  const rankOf = (l: string, r: string) => ranks.get(l + r);
  assert.equal(mergeByRank(['a', 'b', 'c'], rankOf), ['a', 'bc']);
  assert.equal(mergeByRank(['a', 'a', 'a'], rankOf), ['aa', 'a']);
  assert.equal(mergeByRank(['a', 'a', 'a', 'a'], rankOf), ['aa', 'aa']);
  assert.equal(mergeByRank([], rankOf), []);
  assert.equal(mergeByRank(['x'], rankOf), ['x']);
});

merge.run();

// --- llama encode

const encode = suite('llama encode');

encode('tok512 gives the prompt ids llama2.c run.c gives', () => {
  // shared/models/stories260K/expected-greedy.json, case "Lily and Tom went to the park" (prompt_ids, BOS first)
  assert.equal(tok512.encode('Lily and Tom went to the park'), [1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433]);
  assert.equal(tok512.encode(''), [1]); // the cases with an empty prompt
});

encode('ifp-demo gives the prompt ids llama2.c run.c gives', () => {
  // shared/models/ifp-demo/expected-greedy.json, every case's prompt and prompt_ids (BOS first)
  assert.equal(ifpDemo.encode(''), [1]);
  assert.equal(ifpDemo.encode('def parse_args(argv):'), [1, 762, 747, 290, 1976, 1018, 1971, 1487, 1972, 485]);
});

encode('equals a transcription of run.c encode on random text, both vocabularies', () => {
  const random = rng(11);
  const alphabet = ['the', ' ', ' ', 'a', 'e', 'Lily', '\n', '\t', 'ü', 'ß', '中', '🙂', '.', ',', '0', '9', 'def ', '    ', 'ion', 'Q', '"'];
  for (const [name, bin] of [['tok512', TOK512], ['ifp-demo', IFP_DEMO]] as const) {
    const data = parseTokenizerBin(bin);
    const tok = createTokenizer(data);
    for (let i = 0; i < 150; i++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      assert.equal(tok.encode(text, { bos: false }), runcEncode(data, text), `${name}: ${JSON.stringify(text)}`);
    }
  }
});

encode('BOS follows the option, then the data\'s addBos', () => {
  assert.is(tok512.encode('Hi')[0], 1);
  assert.is.not(tok512.encode('Hi', { bos: false })[0], 1);
  assert.equal(tok512.encode('', { bos: false }), []);
  const noBos = createTokenizer({ ...parseTokenizerBin(TOK512), addBos: false });
  assert.is.not(noBos.encode('Hi')[0], 1);
  assert.is(noBos.encode('Hi', { bos: true })[0], 1);
});

encode('a character outside the vocabulary falls back to its UTF-8 bytes (id = byte + 3)', () => {
  // "ü" is C3 BC, not a tok512 piece; the dummy prefix "▁" stays a piece of its own
  const space = parseTokenizerBin(TOK512).tokens.indexOf('▁');
  assert.equal(tok512.encode('ü', { bos: false }), [space, 0xc3 + 3, 0xbc + 3]);
});

encode('byte tokens never merge, and text cannot produce control or byte tokens', () => {
  const tok = smallLlama([[' ', -1], ['<', -1], ['s', -1], ['>', -1], ['<s', 5], ['<s>', 6], ['é', -1]]);
  // "<s>" is a normal piece here (id 264), never the control <s> (id 1)
  assert.equal(tok.encode('<s>', { bos: false }), [259, 264]);
  // "ü" has no piece: its bytes stay apart from its neighbours
  assert.equal(tok.encode('üs', { bos: false }), [259, 0xc3 + 3, 0xbc + 3, 261]);
});

encode('characters that are no pieces merge first; only what stays unmerged falls back to bytes', () => {
  // SentencePiece's rule, on a vocabulary without "▁", "t" or "a" (ids from 259):
  //   259 "▁t" -2, 260 "h" -5, 261 "e" -5, 262 "he" -1, 263 "▁the" 0, 264 "▁ü" -3
  const tok = smallLlama([[' t', -2], ['h', -5], ['e', -5], ['he', -1], [' the', 0], [' ü', -3]]);
  // "▁the▁tea": merge "he" (-1), then "▁t" (-2, leftmost of two), then "▁t"+"he" = "▁the" (0), then the
  // second "▁t"; "▁t"+"e", "e"+"a" are no pieces, and "a" alone is none: byte 0x61 → id 0x61 + 3
  assert.equal(tok.encode('the tea', { bos: false }), [263, 259, 261, 0x61 + 3]);
  assert.is(tok.decode(tok.encode('the tea')), 'the tea');
  // "ü" is no piece, but "▁ü" is: both merge into it instead of five byte tokens
  assert.equal(tok.encode('ü ü', { bos: false }), [264, 264]);
  // a character in no piece at all keeps its bytes, between merged neighbours
  assert.equal(tok.encode('tßhe', { bos: false }), [259, 0xc3 + 3, 0x9f + 3, 262]);
});

encode('ties go to the leftmost pair, as run.c\'s strict > does', () => {
  const tok = smallLlama([['a', -9], ['b', -9], ['ab', 1], ['ba', 1]]);
  // "▁" is not a piece here, so the dummy prefix is the bytes of U+2581; "ab" and "ba" tie: "ab" wins
  assert.equal(tok.encode('aba', { bos: false }), [0xe2 + 3, 0x96 + 3, 0x81 + 3, 261, 259]);
});

encode('addSpacePrefix: false encodes the text as it is', () => {
  const data = parseTokenizerBin(TOK512);
  const bare = createTokenizer({ ...data, addSpacePrefix: false });
  assert.equal(bare.encode(' Lily', { bos: false }), tok512.encode('Lily', { bos: false }));
  assert.is(bare.decode(bare.encode('Lily and Tom')), 'Lily and Tom');
});

encode('a 10 kB prompt encodes exactly like run.c', () => {
  const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.\n'.repeat(110);
  assert.ok(text.length > 10_000);
  const ids = ifpDemo.encode(text, { bos: false });
  assert.is(ifpDemo.decode(ids), text);
  const short = text.slice(0, 1000);
  assert.equal(ifpDemo.encode(short, { bos: false }), runcEncode(parseTokenizerBin(IFP_DEMO), short));
});

encode.run();

// --- llama decode

const decode = suite('llama decode');

decode('greedy ids decode to the text run.c prints', () => {
  // shared/models/stories260K/expected-greedy.json, prompt "Lily and Tom went to the park", 60 steps (ids, text)
  const storyIds = [1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295, 433, 426, 342, 394, 261, 370, 268, 414, 444, 335, 261, 370, 268, 414, 444, 426, 342, 391, 266, 267, 337, 335, 312, 426, 342, 391, 266, 267, 337, 335, 265, 268, 414, 444, 426, 342, 391, 266, 267, 337, 335, 265, 268, 414, 444, 426, 13, 436, 438, 347];
  assert.is(tok512.decode(storyIds), 'Lily and Tom went to the park. They saw a big box with a big box. They wanted to play with it. They wanted to play with the box. They wanted to play with the box.\n"Loo');
  // shared/models/ifp-demo/expected-greedy.json, empty prompt, 60 steps: "▁▁▁▁" after BOS prints 3 spaces
  const codeIds = [1, 260, 1996, 1937, 260, 429, 441, 1953, 1976, 271, 2010, 1935, 1953, 539, 1971, 483, 1953, 1976, 619, 1959, 441, 1953, 1976, 619, 1959, 441, 1953, 1976, 619, 1959, 441, 1953, 1976, 619, 1959, 441, 1953, 1976, 619, 1959, 1937, 260, 1976, 619, 1942, 441, 1953, 1976, 619, 1959, 1937, 260, 1976, 619, 1942, 441, 1953, 1976, 619, 1959, 1937];
  assert.is(ifpDemo.decode(codeIds), '   }\n    return this._reqs.get(this._path, this._path, this._path, this._path, this._path,\n    _path: this._path,\n    _path: this._path,\n');
});

decode('decode(encode(x)) == x on multilingual text, code, whitespace and byte fallback', () => {
  for (const tok of [tok512, ifpDemo]) {
    for (const text of ROUND_TRIP_TEXTS) {
      assert.is(tok.decode(tok.encode(text)), text, JSON.stringify(text));
      assert.is(tok.decode(tok.encode(text, { bos: false })), text, `without BOS: ${JSON.stringify(text)}`);
    }
  }
});

decode('control tokens decode to "", and a BOS starts a new text', () => {
  assert.ok(tok512.isControl(1) && tok512.isControl(2));
  assert.not.ok(tok512.isControl(0) || tok512.isControl(3) || tok512.isControl(300));
  assert.is(tok512.decode([1, 2]), '');
  const hi = tok512.encode('Hi', { bos: false });
  assert.is(tok512.decode([...hi, 2, 1, ...hi]), 'HiHi');
});

decode('atStart: false keeps the leading space of a continuation', () => {
  const went = tok512.encode('went', { bos: false }); // "▁went": the dummy prefix stands for the space
  assert.is(tok512.decode(went), 'went');
  assert.is(tok512.decode(went, { atStart: false }), ' went');
});

decode('streams an emoji split over byte tokens as one piece of text', () => {
  const ids = tok512.encode('a🙂b', { bos: false });
  const decoder = tok512.streamDecoder();
  const out = ids.map((id) => decoder.push(id));
  assert.equal(out.filter((s) => s !== ''), ['a', '🙂', 'b']);
  assert.is(out.indexOf('🙂'), out.indexOf('a') + 4, 'the emoji appears with its 4th byte');
  assert.is(decoder.flush(), '');
});

decode('an unfinished character flushes as U+FFFD; an unknown token as U+FFFD', () => {
  const decoder = tok512.streamDecoder();
  assert.is(decoder.push(0xf0 + 3), '');
  assert.is(decoder.flush(), '\uFFFD');
  assert.is(tok512.decode([0]), '\uFFFD');
});

decode('an id outside the vocabulary is a "bad_option"', async () => {
  await assertThrowsCode(() => tok512.decode([512]), 'bad_option');
  await assertThrowsCode(() => tok512.streamDecoder().push(-1), 'bad_option');
});

decode.run();

// --- createTokenizer

const create = suite('createTokenizer');

create('reports vocabulary size and special ids', () => {
  assert.equal([tok512.model, tok512.vocabSize, tok512.bosId, tok512.eosId], ['llama', 512, 1, 2]);
  assert.is(ifpDemo.vocabSize, 2048);
});

create('rejects unknown models and incomplete data', async () => {
  const data = parseTokenizerBin(TOK512);
  await assertThrowsCode(() => createTokenizer({ ...data, model: 'wordpiece' as 'llama' }), 'unsupported');
  await assertThrowsCode(() => createTokenizer({ ...data, scores: undefined }), 'corrupt');
  await assertThrowsCode(() => createTokenizer({ ...data, bosId: 9999 }), 'corrupt');
  await assertThrowsCode(() => createTokenizer({ ...data, model: 'gpt2' }), 'corrupt'); // no merges
});

create.run();

// --- gpt2

const require = createRequire(import.meta.url);
const gpt3Encoder = require('gpt-3-encoder') as { encode(text: string): number[] };

const gpt2 = createTokenizer(gpt2Data());

const GPT2_TEXTS = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  "I'm sure you'll see it's what they've said, we'd go and I'd've",
  "DON'T SHOUT, it'S fine",
  'Numbers: 1234567890, 3.14159, -42, 1e10 and 1,000,000.',
  '2024-01-31T12:34:56Z',
  'function add(a, b) {\n  return a + b;\n}\n',
  'def f(x):\n\tif x:\n\t\treturn x ** 2\n',
  '    four leading spaces',
  'trailing spaces    ',
  'many     internal      spaces',
  '\n\n\nnewlines\n\n',
  ' \t \n mixed whitespace \r\n',
  'Größe, Übermaß und Öl',
  '日本語のテキストと中文',
  'Привет, как дела?',
  'Emoji: 😀🎉👍🏽 and 👩‍👩‍👧',
  'ümlaut,comma,,double',
  'a,b ,c , d',
  '"quoted" and \'single\' and `backticks`',
  '<|endoftext|> is plain text here',
  'https://example.com/path?query=1&b=2#frag',
  'user@example.com',
  '$$$ %%% ^^^ &&& *** ((( )))',
  '...!!!???',
  'CamelCaseIdentifiersLikeThis and snake_case_ones',
  'x'.repeat(200),
  'ababababababababababab',
  ' ',
  '',
  '\u00a0non-breaking\u00a0spaces',
  'zero\u200bwidth',
  'Mixed 中文 English 123 😀!',
  "O'Neil's dog's bone",
  'ʻOkina and Ελληνικά',
];

const gpt2Suite = suite('gpt2');

gpt2Suite('gives gpt-3-encoder\'s ids on varied text', () => {
  for (const text of GPT2_TEXTS) assert.equal(gpt2.encode(text), gpt3Encoder.encode(text), JSON.stringify(text));
});

gpt2Suite('decode(encode(x)) == x', () => {
  for (const text of [...GPT2_TEXTS, ...ROUND_TRIP_TEXTS]) assert.is(gpt2.decode(gpt2.encode(text)), text, JSON.stringify(text));
});

gpt2Suite('streams a character split over tokens whole', () => {
  const ids = gpt2.encode('🙂🙂🙂 ok');
  const decoder = gpt2.streamDecoder();
  const out = ids.map((id) => decoder.push(id)).join('|');
  assert.not.match(out, '\uFFFD');
  assert.is(out.replaceAll('|', '') + decoder.flush(), '🙂🙂🙂 ok');
});

gpt2Suite('<|endoftext|> is control and decodes to ""', () => {
  assert.equal([gpt2.vocabSize, gpt2.bosId, gpt2.eosId], [50257, 50256, 50256]);
  assert.ok(gpt2.isControl(50256));
  assert.is(gpt2.decode([...gpt2.encode('a'), 50256]), 'a');
});

gpt2Suite('a 10 kB text encodes like gpt-3-encoder', () => {
  const text = GPT2_TEXTS.join(' ').repeat(10);
  assert.ok(text.length > 10_000);
  const ids = gpt2.encode(text);
  assert.equal(ids, gpt3Encoder.encode(text));
});

gpt2Suite.run();

// ---

const special = suite('encode with special');

/**
 * A SentencePiece vocabulary with chat markers: <unk>, <s>, </s>, 256 bytes, then (ids from 259)
 *   259 "▁" 260 "a" 261 "b" 262 "▁a" 263 "▁b" 264 "ab"                                normal
 *   265 "<|im_start|>" 266 "<|im_end|>"                                                control
 *   267 "[INST]" 268 "<|im" 269 "xy" 270 "yzw"                                          user-defined
 *   271 "<|unused|>"                                                                    unused (5)
 */
const CHAT_PIECES: [string, number, number][] = [
  ['▁', -3, 1], ['a', -3, 1], ['b', -3, 1], ['▁a', -1, 1], ['▁b', -1, 1], ['ab', -2, 1],
  ['<|im_start|>', 0, 3], ['<|im_end|>', 0, 3],
  ['[INST]', 0, 4], ['<|im', 0, 4], ['xy', 0, 4], ['yzw', 0, 4],
  ['<|unused|>', 0, 5],
];
const chatData: TokenizerData = {
  model: 'llama',
  tokens: ['<unk>', '<s>', '</s>', ...BYTE_PIECES, ...CHAT_PIECES.map(([p]) => p)],
  scores: [0, 0, 0, ...BYTE_PIECES.map(() => 0), ...CHAT_PIECES.map(([, s]) => s)],
  tokenTypes: [2, 3, 3, ...BYTE_PIECES.map(() => 6), ...CHAT_PIECES.map(([, , t]) => t)],
  bosId: 1,
  eosId: 2,
  unkId: 0,
  addBos: true,
};
const chatTok = createTokenizer(chatData);
const [SPACE, A, B, SPACE_A, SPACE_B, AB, IM_START, IM_END, INST, IM, XY, YZW] = CHAT_PIECES.map((_, i) => 259 + i);
const encodeSpecial = (tok: Tokenizer, text: string) => tok.encode(text, { bos: false, special: true });
const bytesOf = (text: string) => Array.from(utf8.encode(text), (b) => b + 3);

special('a control marker becomes its id; text before it gets the dummy prefix, text after it none', () => {
  assert.equal(encodeSpecial(chatTok, 'a<|im_start|>b'), [SPACE_A, IM_START, B]);
  assert.equal(encodeSpecial(chatTok, 'a b<|im_end|>ab b'), [SPACE_A, SPACE_B, IM_END, AB, SPACE_B]);
});

special('markers at the start and the end, adjacent markers, and a text of markers only', () => {
  assert.equal(encodeSpecial(chatTok, '<|im_start|>a'), [IM_START, A], 'no dummy prefix after a leading marker');
  assert.equal(encodeSpecial(chatTok, 'a<|im_end|>'), [SPACE_A, IM_END]);
  assert.equal(encodeSpecial(chatTok, '<|im_start|><|im_end|><|im_start|>'), [IM_START, IM_END, IM_START]);
  assert.equal(encodeSpecial(chatTok, '<s></s>'), [1, 2]);
  assert.equal(encodeSpecial(chatTok, ''), []);
});

special('user-defined pieces are read too; unknown, unused and byte pieces stay text', () => {
  assert.equal(encodeSpecial(chatTok, '[INST] a'), [INST, SPACE_A]);
  for (const text of ['<unk>', '<|unused|>', '<0x41>']) {
    assert.equal(encodeSpecial(chatTok, text), chatTok.encode(text, { bos: false }), text);
  }
});

special('the longest piece is read first, wherever it is (llama.cpp tokenizer_st_partition)', () => {
  // "<|im_start|>" wins over its prefix "<|im"; an unfinished marker leaves "<|im" and text
  assert.equal(encodeSpecial(chatTok, '<|im_start|>'), [IM_START]);
  assert.equal(encodeSpecial(chatTok, '<|im_end'), [IM, ...bytesOf('_end')]);
  // "yzw" (3 bytes) is read before "xy" (2), though "xy" comes first in the text
  // ("▁x": "x" is no piece, so its byte)
  assert.equal(encodeSpecial(chatTok, 'xyzw'), [SPACE, ...bytesOf('x'), YZW]);
  assert.equal(encodeSpecial(chatTok, 'xyxy'), [XY, XY]);
});

special('partial and broken markers are text, as without special', () => {
  for (const text of ['<|im_sta', 'im_start|>', '<| im_start|>', '<|IM_START|>', '<s', '/s>', 'a<|im_end|']) {
    const plain = chatTok.encode(text, { bos: false });
    const read = encodeSpecial(chatTok, text);
    assert.ok(!read.includes(IM_START) && !read.includes(IM_END) && !read.includes(1) && !read.includes(2), text);
    if (!text.includes('<|im')) assert.equal(read, plain, text);
  }
});

special('off (the default): markers are text, the ids are today\'s, and decode gives the text back', () => {
  const text = '<|im_start|>user\nHi<|im_end|>\n<s>[INST]';
  const ids = chatTok.encode(text, { bos: false });
  assert.equal(chatTok.encode(text, { bos: false, special: false }), ids);
  for (const id of [IM_START, IM_END, INST, 1, 2]) assert.not.ok(ids.includes(id), `id ${id}`);
  assert.is(chatTok.decode(ids), text);
  // tok512 (types from tokenizer.bin): "<s>" is three pieces unless special
  assert.equal(tok512.encode('<s>a', { bos: false, special: true })[0], 1);
  assert.ok(tok512.encode('<s>a', { bos: false }).length > 2);
});

special('BOS is added as before: bos option or the tokenizer\'s rule', () => {
  assert.equal(chatTok.encode('<|im_start|>a', { special: true }), [1, IM_START, A]);
  assert.equal(chatTok.encode('<|im_start|>a', { special: true, bos: false }), [IM_START, A]);
});

special('gpt2 (ChatML markers added as control tokens): the text between markers encodes as gpt-3-encoder', () => {
  const base = gpt2Data();
  const tokens = [...base.tokens, '<|im_start|>', '<|im_end|>'];
  const tokenTypes = tokens.map((_, id) => (id >= base.tokens.length || id === base.bosId ? 3 : 1));
  const chatml = createTokenizer({ ...base, tokens, tokenTypes });
  const [start, end] = [base.tokens.length, base.tokens.length + 1];
  const text = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n';
  const want = [
    start, ...gpt3Encoder.encode('system\nBe brief.'), end, ...gpt3Encoder.encode('\n'),
    start, ...gpt3Encoder.encode('user\nHi there'), end, ...gpt3Encoder.encode('\n'),
    start, ...gpt3Encoder.encode('assistant\n'),
  ];
  assert.equal(encodeSpecial(chatml, text), want);
  assert.equal(chatml.encode(text), gpt3Encoder.encode(text), 'special off: all text');
  // without token types, BOS/EOS (<|endoftext|>) are the control tokens
  assert.equal(encodeSpecial(gpt2, 'a<|endoftext|>b'), [...gpt3Encoder.encode('a'), 50256, ...gpt3Encoder.encode('b')]);
});

special.run();
