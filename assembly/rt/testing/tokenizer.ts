// Test-only exports for assembly/rt (tokenizer) (build: node tools/build.mjs rt-test:tokenizer). Prefix every export.
//
// The test fills a TokenizerData from JS (tok_begin, tok_add per token, tok_add_score / tok_add_type /
// tok_add_merge per score, type and merge, tok_finish), with the data the TypeScript parsers read, then encodes and decodes through handles.
export * from '../abi';
import { fromUtf8, toStr } from '../abi';
import { TokenizerData } from '../spec';
import { Tokenizer, StreamDecoder } from '../tokenizer';
import { charClass } from '../tokenizer-gpt2';

let data = new TokenizerData();
const tokenizers = new Array<Tokenizer>();
const streams = new Array<StreamDecoder>();
let idsBuf: usize = 0;

/** Starts a TokenizerData for model (UTF-8 at p, n bytes). */
export function tok_begin(p: usize, n: usize): void {
  data = new TokenizerData();
  data.model = fromUtf8(p, n);
}

/** Appends a token's piece (UTF-8). */
export function tok_add(p: usize, n: usize): void {
  data.tokens.push(fromUtf8(p, n));
}

/** Appends a score (none added: the data has none). */
export function tok_add_score(score: f32): void {
  data.scores.push(score);
}

/** Appends a token type (none added: the data has none). */
export function tok_add_type(type: i32): void {
  data.tokenTypes.push(type);
}

/** Appends a merge "left right" (UTF-8). */
export function tok_add_merge(p: usize, n: usize): void {
  data.merges.push(fromUtf8(p, n));
}

/** Builds the Tokenizer: its handle, or -1 after fail(). */
export function tok_finish(bos: i32, eos: i32, unk: i32, addBos: i32, addSpacePrefix: i32): i32 {
  data.bosId = bos;
  data.eosId = eos;
  data.unkId = unk;
  data.addBos = addBos != 0;
  data.addSpacePrefix = addSpacePrefix != 0;
  const tok = Tokenizer.create(data);
  if (tok == null) return -1;
  tokenizers.push(tok);
  return tokenizers.length - 1;
}

/** model, vocabSize, bosId, eosId, addBos as "llama 512 1 2 1". */
export function tok_info(h: i32): usize {
  const t = tokenizers[h];
  return toStr(`${t.model} ${t.vocabSize.toString()} ${t.bosId.toString()} ${t.eosId.toString()} ${t.addBos ? '1' : '0'}`);
}

/** Encodes text (UTF-8 at p, n bytes; special: read special-token text as those tokens): the number of
 * ids, written to tok_ids(); -1 after fail(). */
export function tok_encode(h: i32, p: usize, n: usize, bos: i32, special: i32): i32 {
  const text = fromUtf8(p, n);
  const ids = tokenizers[h].encode(text, bos, special != 0);
  if (ids.length == 0 && text.length > 0) return -1;
  if (idsBuf != 0) heap.free(idsBuf);
  idsBuf = heap.alloc(<usize>(ids.length + 1) << 2);
  for (let i = 0; i < ids.length; i++) store<i32>(idsBuf + (<usize>i << 2), ids[i]);
  return ids.length;
}

/** The ids of the last tok_encode (i32 each). */
export function tok_ids(): usize {
  return idsBuf;
}

/** Decodes n i32 ids at p: a str. */
export function tok_decode(h: i32, p: usize, n: i32, atStart: i32): usize {
  const ids = new Array<i32>(n);
  for (let i = 0; i < n; i++) ids[i] = load<i32>(p + (<usize>i << 2));
  return toStr(tokenizers[h].decode(ids, atStart != 0));
}

export function tok_is_control(h: i32, id: i32): i32 {
  return tokenizers[h].isControl(id) ? 1 : 0;
}

/** A new StreamDecoder: its handle. */
export function tok_stream(h: i32, atStart: i32): i32 {
  streams.push(new StreamDecoder(tokenizers[h], atStart != 0));
  return streams.length - 1;
}

export function tok_stream_push(s: i32, id: i32): usize {
  return toStr(streams[s].push(id));
}

export function tok_stream_flush(s: i32): usize {
  return toStr(streams[s].flush());
}

/** The GPT-2 pattern's class of a code point: 0 other, 1 letter, 2 number, 3 white space. */
export function tok_char_class(cp: i32): i32 {
  return charClass(cp);
}
