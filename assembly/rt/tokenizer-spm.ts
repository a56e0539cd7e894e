// SentencePiece BPE with byte fallback (mirrors src/tokenizer/llama.ts), as SentencePiece's bpe_model.cc
// and llama.cpp's llm_tokenizer_spm do it:
//
//   1. prepend "▁" (the dummy prefix) when addSpacePrefix and the text is not empty and begins the input
//      (not text after a special token, tokenizer.ts); spaces → "▁"
//   2. split into characters, pieces or not
//   3. repeatedly merge the adjacent pair whose concatenation is a piece with the highest score, the
//      leftmost on ties, until none is
//   4. map each symbol to its piece id; a symbol that is no piece (always a single character, since
//      merges only make pieces) becomes the "<0xNN>" tokens of its UTF-8 bytes
//
// Decoding maps "▁" back to a space and "<0xNN>" to the raw byte; the first piece of a text (the start,
// or right after BOS) loses one leading space, the dummy prefix.
import { fail } from './error';
import { TokenizerData } from './spec';
import { TokenModel, Ranker, Merger, PieceMap } from './tokenizer-bpe';
import { codePointAt, unitsOf, appendUtf8, appendUtf8Range, utf8Bytes } from './utf8';

/** GGUF token types (tokenizer.ggml.token_type). */
const TYPE_NORMAL: u8 = 1;
const TYPE_UNKNOWN: u8 = 2;
const TYPE_CONTROL: u8 = 3;
const TYPE_USER_DEFINED: u8 = 4;
const TYPE_BYTE: u8 = 6;

const SPACE_MARK = '\u2581'; // "▁"

export class SpmModel extends TokenModel {
  /** Token type per id, as u8 (the TS oracle keeps them in a Uint8Array too). */
  private types: StaticArray<u8>;
  private scores: Array<f32>;
  /** Piece text → id, for the pieces text may produce (normal and user-defined; the first id wins). */
  private pieceIds: PieceMap;
  /** byte value → id of its "<0xNN>" token (the unknown id when the vocabulary lacks it; -1 without one). */
  private byteIds: StaticArray<i32>;
  private addSpacePrefix: bool;
  private merger: Merger;
  // buffers reused by encode
  private symbols: Array<i32> = [];
  private merged: Array<i32> = [];
  private fallback: Array<u8> = [];

  /** null with fail('corrupt') when the scores do not match the tokens. */
  static create(data: TokenizerData): SpmModel | null {
    const n = data.tokens.length;
    if (data.scores.length != n) {
      const found = data.scores.length == 0 ? 'no' : data.scores.length.toString();
      fail('corrupt', `llama tokenizer has ${n.toString()} tokens but ${found} scores: the model file's tokenizer section is incomplete`);
      return null;
    }
    return new SpmModel(data);
  }

  private constructor(data: TokenizerData) {
    super();
    const tokens = data.tokens;
    const n = tokens.length;
    const types = new StaticArray<u8>(n);
    for (let id = 0; id < n; id++) {
      types[id] = id < data.tokenTypes.length ? <u8>data.tokenTypes[id] : guessType(data, tokens[id], id);
    }
    const pieceIds = new PieceMap();
    const byteIds = new StaticArray<i32>(256).fill(data.unkId >= 0 ? data.unkId : -1);

    // id → the bytes it decodes to
    const perToken = new Array<Array<u8>>(n);
    for (let id = 0; id < n; id++) {
      const piece = tokens[id];
      let bytes = new Array<u8>();
      const type = types[id];
      if (type == TYPE_NORMAL || type == TYPE_USER_DEFINED) {
        pieceIds.add(piece, id);
        bytes = utf8Bytes(piece.replaceAll(SPACE_MARK, ' '));
      } else if (type == TYPE_BYTE) {
        const byte = bytePiece(piece);
        if (byte < 0) {
          bytes = utf8Bytes(piece);
        } else {
          const current = byteIds[byte];
          if (current < 0 || current >= n || types[current] != TYPE_BYTE) byteIds[byte] = id;
          bytes.push(<u8>byte);
        }
      } else if (type == TYPE_UNKNOWN) {
        appendUtf8(bytes, 0xfffd); // U+FFFD, the Unicode replacement character
      } // control, unused: no bytes
      perToken[id] = bytes;
    }

    this.vocabSize = n;
    this.types = types;
    this.scores = data.scores;
    this.pieceIds = pieceIds;
    this.byteIds = byteIds;
    this.addSpacePrefix = data.addSpacePrefix;
    this.merger = new Merger(new SpmRanker(pieceIds, data.scores));
    this.setBytes(perToken);
  }

  encode(text: string, atStart: bool): Array<i32> {
    const ids = new Array<i32>();
    if (text.length == 0) return ids;
    const normalized = (this.addSpacePrefix && atStart ? ' ' + text : text).replaceAll(' ', SPACE_MARK);
    // one symbol per character
    const symbols = this.symbols;
    symbols.length = 0;
    for (let i = 0; i < normalized.length; i += unitsOf(codePointAt(normalized, i))) symbols.push(i);
    symbols.push(normalized.length);

    const merged = this.merged;
    this.merger.merge(normalized, symbols, merged);
    for (let s = 0; s + 1 < merged.length; s++) {
      const id = this.pieceIds.find(normalized, merged[s], merged[s + 1]);
      if (id >= 0) {
        ids.push(id);
        continue;
      }
      const bytes = this.fallback;
      bytes.length = 0;
      appendUtf8Range(bytes, normalized, merged[s], merged[s + 1]);
      for (let j = 0; j < bytes.length; j++) {
        const byteId = this.byteIds[bytes[j]];
        if (byteId < 0) {
          fail('unsupported', `the text needs byte 0x${hex2(bytes[j])}, but the vocabulary has no byte-fallback token for it and no unknown token`);
          return new Array<i32>();
        }
        ids.push(byteId);
      }
    }
    return ids;
  }

  isControl(id: i32): bool {
    return this.types[id] == TYPE_CONTROL;
  }

  skipAtStart(id: i32): i32 {
    if (!this.addSpacePrefix || this.types[id] != TYPE_NORMAL) return 0;
    const at = this.offsets[id];
    return at < this.offsets[id + 1] && this.bytes[at] == 0x20 ? 1 : 0;
  }
}

/** Pairs merge by score, highest first: rank = -score. */
class SpmRanker extends Ranker {
  constructor(private pieceIds: PieceMap, private scores: Array<f32>) {
    super();
  }

  rank(text: string, a: i32, b: i32, c: i32): bool {
    const id = this.pieceIds.find(text, a, c);
    if (id < 0) return false;
    this.value = -(<f64>this.scores[id]);
    return true;
  }
}

/** Token type when the data carries none: by id for unk/BOS/EOS, by text for byte pieces. */
function guessType(data: TokenizerData, piece: string, id: i32): u8 {
  if (id == data.unkId) return TYPE_UNKNOWN;
  if (id == data.bosId || id == data.eosId) return TYPE_CONTROL;
  if (bytePiece(piece) >= 0) return TYPE_BYTE;
  return TYPE_NORMAL;
}

/** The byte a "<0xNN>" piece stands for (either case of hex digit), -1 for any other text. */
function bytePiece(piece: string): i32 {
  if (piece.length != 6 || !piece.startsWith('<0x') || piece.charCodeAt(5) != 0x3e) return -1; // '>'
  const hi = hexDigit(piece.charCodeAt(3));
  const lo = hexDigit(piece.charCodeAt(4));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10; // A-F
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10; // a-f
  return -1;
}

/** Two lowercase hex digits. */
function hex2(b: u8): string {
  const s = (<i32>b).toString(16);
  return s.length < 2 ? '0' + s : s;
}
