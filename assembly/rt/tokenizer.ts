// One Tokenizer over both BPE variants (mirrors src/tokenizer/index.ts): Tokenizer.create(data) picks the
// model (tokenizer-spm.ts: SentencePiece BPE, "llama"; tokenizer-gpt2.ts: byte-level BPE, "gpt2") and
// adds what they share: reading special-token text (`special`), BOS, id checks, and turning token bytes
// back into text with complete UTF-8 characters only, so a character split over several tokens prints
// whole.
//
// Failures (error.ts): create returns null; encode returns an empty array; decode, push and flush
// return ""; each after fail(), so a caller tells them from an empty result with failed().
import { fail } from './error';
import { quoted } from './reader';
import { TokenizerData } from './spec';
import { TokenModel } from './tokenizer-bpe';
import { SpmModel } from './tokenizer-spm';
import { Gpt2Model } from './tokenizer-gpt2';
import { Utf8Decoder } from './utf8';

export class Tokenizer {
  /** 'llama' or 'gpt2'. */
  model: string;
  vocabSize: i32;
  bosId: i32;
  eosId: i32;
  /** Prepend BOS when encoding with bos = -1. */
  addBos: bool;
  /** The BPE variant (StreamDecoder reads token bytes from it). */
  bpe: TokenModel;
  /** The special pieces encode(…, special = true) reads as their tokens (specialPieces). */
  private specials: Array<SpecialPiece>;

  /** null with fail('corrupt', ...) when BOS/EOS/unknown ids are outside the vocabulary, scores or
   * merges are missing; fail('unsupported', ...) for a model other than "llama" and "gpt2". */
  static create(data: TokenizerData): Tokenizer | null {
    const n = data.tokens.length;
    if (!(data.bosId >= 0 && data.bosId < n && data.eosId >= 0 && data.eosId < n)) {
      fail('corrupt', `tokenizer BOS id ${data.bosId.toString()} / EOS id ${data.eosId.toString()} are outside its ${n.toString()} tokens: the tokenizer section is damaged`);
      return null;
    }
    if (data.unkId < -1 || data.unkId >= n) {
      fail('corrupt', `tokenizer unknown-token id ${data.unkId.toString()} is outside its ${n.toString()} tokens: the tokenizer section is damaged`);
      return null;
    }
    let bpe: TokenModel | null = null;
    if (data.model == 'llama') bpe = SpmModel.create(data);
    else if (data.model == 'gpt2') bpe = Gpt2Model.create(data);
    else {
      fail('unsupported', `tokenizer model ${quoted(data.model)} is not supported: ifprune reads "llama" (SentencePiece BPE) and "gpt2" (byte-level BPE)`);
      return null;
    }
    if (bpe == null) return null;
    return new Tokenizer(data, bpe);
  }

  private constructor(data: TokenizerData, bpe: TokenModel) {
    this.model = data.model;
    this.vocabSize = bpe.vocabSize;
    this.bosId = data.bosId;
    this.eosId = data.eosId;
    this.addBos = data.addBos;
    this.bpe = bpe;
    this.specials = specialPieces(data);
  }

  /** Ids for text, BOS first per `bos` (-1: the tokenizer's addBos, 0: no, 1: yes). special: read the
   * text of the vocabulary's special tokens (chat markers such as "<|im_start|>", "<s>") as those tokens,
   * as llama.cpp's parse_special does; false: all of it is text. An empty array after
   * fail('unsupported' | 'corrupt') when the vocabulary cannot spell the text. */
  encode(text: string, bos: i32, special: bool): Array<i32> {
    let ids: Array<i32>;
    if (special) {
      ids = new Array<i32>();
      const frags = splitSpecial(text, this.specials);
      for (let f = 0; f + 2 < frags.length; f += 3) {
        const start = frags[f];
        const end = frags[f + 1];
        const id = frags[f + 2];
        if (id >= 0) {
          ids.push(id);
          continue;
        }
        const part = this.bpe.encode(text.substring(start, end), start == 0);
        if (part.length == 0) return part; // failed (fragments are never empty)
        for (let i = 0; i < part.length; i++) ids.push(part[i]);
      }
    } else {
      ids = this.bpe.encode(text, true);
      if (ids.length == 0 && text.length > 0) return ids; // failed
    }
    if (bos == 1 || (bos < 0 && this.addBos)) ids.unshift(this.bosId);
    return ids;
  }

  /** Control tokens (BOS, EOS, chat markers) decode to ""; false for an id outside the vocabulary. */
  isControl(id: i32): bool {
    return id >= 0 && id < this.vocabSize && this.bpe.isControl(id);
  }

  /** The text of ids. atStart: the ids begin a text, so the first piece loses the space the dummy
   * prefix added (llama), as after a BOS; false for a continuation. "" after fail('bad_option') for an
   * id outside the vocabulary. */
  decode(ids: Array<i32>, atStart: bool): string {
    const stream = new StreamDecoder(this, atStart);
    const parts = new Array<string>();
    for (let i = 0; i < ids.length; i++) {
      parts.push(stream.push(ids[i]));
      if (stream.failed) return '';
    }
    parts.push(stream.flush());
    return parts.join('');
  }
}

// ---- special tokens in text (llama.cpp llama-vocab.cpp `tokenizer_st_partition`) -----------------------

/** GGUF token types (tokenizer.ggml.token_type) whose text is read as the token with `special`. */
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;

/** A special token: its piece, id, and the piece's UTF-8 length (the order of matching). */
class SpecialPiece {
  constructor(public text: string, public id: i32, public bytes: i32) {}
}

/** The vocabulary's special pieces: control and user-defined tokens with non-empty text, longest first
 * (in UTF-8 bytes, as llama.cpp sorts `cache_special_tokens`), the lower id first on ties. Without token
 * types, BOS and EOS are the control tokens (as the BPE variants guess them), unless unkId. */
function specialPieces(data: TokenizerData): Array<SpecialPiece> {
  const out = new Array<SpecialPiece>();
  const tokens = data.tokens;
  for (let id = 0; id < tokens.length; id++) {
    let type = 0;
    if (id < data.tokenTypes.length) type = data.tokenTypes[id];
    else if (id != data.unkId && (id == data.bosId || id == data.eosId)) type = TYPE_CONTROL;
    const text = tokens[id];
    if ((type == TYPE_CONTROL || type == TYPE_USER_DEFINED) && text.length > 0) out.push(new SpecialPiece(text, id, String.UTF8.byteLength(text)));
  }
  out.sort((a: SpecialPiece, b: SpecialPiece): i32 => (a.bytes != b.bytes ? b.bytes - a.bytes : a.id - b.id));
  return out;
}

/**
 * Splits text into fragments, (start, end, id) triples of UTF-16 indices: a special token (id ≥ 0) or
 * text to encode (id -1), in order, never empty. As llama.cpp does it: one special piece at a time,
 * longest first, every occurrence inside a text fragment (left to right, not overlapping) becomes that
 * token, and the text around it stays text for the next pieces.
 *   frags  (3 · fragments) i32   start, end, id of each fragment
 */
function splitSpecial(text: string, specials: Array<SpecialPiece>): Array<i32> {
  let frags = new Array<i32>();
  if (text.length > 0) pushFragment(frags, 0, text.length, -1);
  for (let s = 0; s < specials.length; s++) {
    const sp = specials[s];
    const len = sp.text.length;
    if (text.indexOf(sp.text) < 0) continue;
    const next = new Array<i32>();
    for (let f = 0; f + 2 < frags.length; f += 3) {
      const start = frags[f];
      const end = frags[f + 1];
      const id = frags[f + 2];
      if (id >= 0) {
        pushFragment(next, start, end, id);
        continue;
      }
      let from = start;
      for (let at = text.indexOf(sp.text, from); at >= 0 && at + len <= end; at = text.indexOf(sp.text, from)) {
        if (at > from) pushFragment(next, from, at, -1);
        pushFragment(next, at, at + len, sp.id);
        from = at + len;
      }
      if (from < end) pushFragment(next, from, end, -1);
    }
    frags = next;
  }
  return frags;
}

function pushFragment(frags: Array<i32>, start: i32, end: i32, id: i32): void {
  frags.push(start);
  frags.push(end);
  frags.push(id);
}

/** Token-by-token text with complete UTF-8 characters only: push returns what is complete so far,
 * flush the rest (an unfinished character as U+FFFD). */
export class StreamDecoder {
  private utf8: Utf8Decoder = new Utf8Decoder();
  /** Set when a push met an id outside the vocabulary (after fail('bad_option')). */
  failed: bool = false;

  constructor(private tok: Tokenizer, private atStart: bool) {}

  push(id: i32): string {
    const tok = this.tok;
    if (!(id >= 0 && id < tok.vocabSize)) {
      this.failed = true;
      fail('bad_option', `token id ${id.toString()} is outside the vocabulary (0..${(tok.vocabSize - 1).toString()})`);
      return '';
    }
    if (id == tok.bosId) {
      this.atStart = true;
      return '';
    }
    const model = tok.bpe;
    if (model.isControl(id)) return '';
    const start = unchecked(model.offsets[id]) + (this.atStart ? model.skipAtStart(id) : 0);
    const end = unchecked(model.offsets[id + 1]);
    this.atStart = false; // even when the piece was only the prefix space
    return start == end ? '' : this.utf8.write(model.bytes, start, end);
  }

  /** Ends the stream: bytes of an unfinished character come out as U+FFFD. */
  flush(): string {
    return this.utf8.end();
  }
}
