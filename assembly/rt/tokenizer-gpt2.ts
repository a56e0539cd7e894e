// GPT-2 byte-level BPE (mirrors src/tokenizer/gpt2.ts), as OpenAI's gpt-2 `encoder.py` does it:
//
//   1. split the text into words with the GPT-2 pattern (contractions, letter runs, digit runs,
//      punctuation runs, each with at most one leading space; whitespace runs), here by hand (wordEnd)
//      over the Unicode classes of assembly/rt/unicode-classes.ts
//   2. write each word's UTF-8 bytes as characters through `bytes_to_unicode` (a space is "Ġ")
//   3. repeatedly merge the adjacent pair with the lowest merge rank, the leftmost on ties
//   4. map the merged pieces to ids
//
// Decoding maps each piece's characters back to bytes.
import { fail } from './error';
import { quoted } from './reader';
import { TokenizerData } from './spec';
import { TokenModel, Ranker, Merger, PieceMap } from './tokenizer-bpe';
import { codePointAt, unitsOf, appendUtf8, appendUtf8Range } from './utf8';
import { LETTER_RANGES, NUMBER_RANGES, SPACE_RANGES } from './unicode-classes';

const TYPE_CONTROL: i32 = 3; // GGUF token type

/**
 * GPT-2 `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68 bytes (controls,
 * space, 0x7F-0xA0, 0xAD) for U+0100.. in byte order, so every byte is a visible character.
 *   BYTE_TO_CHAR  (256) u16            byte → its character
 *   CHAR_TO_BYTE  (0x100 + 68) i32     character → its byte, -1 for a character that stands for none
 */
const BYTE_TO_CHAR = new StaticArray<u16>(256);
const CHAR_TO_BYTE = new StaticArray<i32>(0x100 + 68).fill(-1);
{
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const ch = printable ? b : 256 + extra++;
    BYTE_TO_CHAR[b] = <u16>ch;
    CHAR_TO_BYTE[ch] = b;
  }
}

export class Gpt2Model extends TokenModel {
  private tokenIds: PieceMap;
  private control: StaticArray<bool>;
  private unkId: i32;
  private merger: Merger;
  // buffers reused by encode
  private symbols: Array<i32> = [];
  private merged: Array<i32> = [];
  private wordEnds: Array<i32> = [];
  private textBytes: Array<u8> = [];

  /** null with fail('corrupt') without merges. */
  static create(data: TokenizerData): Gpt2Model | null {
    if (data.merges.length == 0) {
      fail('corrupt', 'gpt2 tokenizer has no merges: the model file lacks tokenizer.ggml.merges');
      return null;
    }
    return new Gpt2Model(data);
  }

  private constructor(data: TokenizerData) {
    super();
    const tokens = data.tokens;
    const n = tokens.length;
    const tokenIds = new PieceMap(); // the first id of a piece wins
    for (let id = 0; id < n; id++) tokenIds.add(tokens[id], id);
    const mergeRanks = new PieceMap(); // "left right" → rank (line in the merge list; the first wins)
    for (let rank = 0; rank < data.merges.length; rank++) mergeRanks.add(data.merges[rank], rank);
    const hasTypes = data.tokenTypes.length > 0;
    const control = new StaticArray<bool>(n);
    const perToken = new Array<Array<u8>>(n);
    for (let id = 0; id < n; id++) {
      control[id] = hasTypes ? id < data.tokenTypes.length && data.tokenTypes[id] == TYPE_CONTROL : id == data.bosId || id == data.eosId;
      perToken[id] = control[id] ? new Array<u8>() : pieceBytes(tokens[id]);
    }

    this.vocabSize = n;
    this.tokenIds = tokenIds;
    this.control = control;
    this.unkId = data.unkId;
    this.merger = new Merger(new Gpt2Ranker(mergeRanks));
    this.setBytes(perToken);
  }

  encode(text: string, atStart: bool): Array<i32> {
    // the words, as ends in the text's UTF-8 bytes
    const bytes = this.textBytes;
    const wordEnds = this.wordEnds;
    bytes.length = 0;
    wordEnds.length = 0;
    for (let start = 0; start < text.length; ) {
      const end = wordEnd(text, start);
      appendUtf8Range(bytes, text, start, end);
      wordEnds.push(bytes.length);
      start = end;
    }
    // the bytes as characters, each a symbol, merged word by word
    const chars = new StaticArray<u16>(bytes.length);
    for (let i = 0; i < bytes.length; i++) unchecked((chars[i] = BYTE_TO_CHAR[bytes[i]]));
    const mapped = String.UTF16.decodeUnsafe(changetype<usize>(chars), <usize>bytes.length << 1);

    const ids = new Array<i32>();
    const symbols = this.symbols;
    const merged = this.merged;
    for (let w = 0; w < wordEnds.length; w++) {
      symbols.length = 0;
      for (let i = w > 0 ? wordEnds[w - 1] : 0; i <= wordEnds[w]; i++) symbols.push(i);
      this.merger.merge(mapped, symbols, merged);
      for (let s = 0; s + 1 < merged.length; s++) {
        const id = this.tokenIds.find(mapped, merged[s], merged[s + 1]);
        if (id >= 0) {
          ids.push(id);
        } else if (this.unkId >= 0) {
          ids.push(this.unkId);
        } else {
          const piece = mapped.substring(merged[s], merged[s + 1]);
          fail('corrupt', `gpt2 tokenizer merges produce ${quoted(piece)}, which is not in its vocabulary: tokens and merges do not belong together`);
          return new Array<i32>();
        }
      }
    }
    return ids;
  }

  isControl(id: i32): bool {
    return this.control[id];
  }

  skipAtStart(id: i32): i32 {
    return 0;
  }
}

/** Pairs merge by their line in the merge list ("left right"), earliest first. */
class Gpt2Ranker extends Ranker {
  constructor(private mergeRanks: PieceMap) {
    super();
  }

  rank(text: string, a: i32, b: i32, c: i32): bool {
    const rank = this.mergeRanks.findPair(text, a, b, c);
    if (rank < 0) return false;
    this.value = <f64>rank;
    return true;
  }
}

/** A piece's bytes: each character through the inverse byte map (added tokens outside it as UTF-8). */
function pieceBytes(piece: string): Array<u8> {
  const out = new Array<u8>();
  for (let i = 0; i < piece.length; ) {
    const cp = codePointAt(piece, i);
    const byte = cp < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[cp] : -1;
    if (byte >= 0) out.push(<u8>byte);
    else appendUtf8(out, cp);
    i += unitsOf(cp);
  }
  return out;
}

// ---- the GPT-2 pre-tokenizer pattern -------------------------------------------------------------------
//
//   /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu
//
// Every character is a letter (\p{L}), a number (\p{N}), white space (\s) or other, so some alternative
// matches at every position and the words tile the text: wordEnd gives the end of the match at `start`.

const OTHER: i32 = 0;
const LETTER: i32 = 1;
const NUMBER: i32 = 2;
const SPACE: i32 = 3;

/** The pattern's class of code point cp. */
export function charClass(cp: i32): i32 {
  if (cp < 0x80) {
    if ((cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) return LETTER; // A-Z a-z
    if (cp >= 0x30 && cp <= 0x39) return NUMBER; // 0-9
    if (cp == 0x20 || (cp >= 0x09 && cp <= 0x0d)) return SPACE; // space \t \n \v \f \r
    return OTHER;
  }
  if (inRanges(LETTER_RANGES, cp)) return LETTER;
  if (inRanges(NUMBER_RANGES, cp)) return NUMBER;
  if (inRanges(SPACE_RANGES, cp)) return SPACE;
  return OTHER;
}

/** Whether cp lies in one of the sorted inclusive [first, last] pairs of ranges (binary search). */
function inRanges(ranges: StaticArray<u32>, cp: i32): bool {
  let lo = 0;
  let hi = ranges.length >> 1; // pairs [lo, hi) may hold cp
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (<u32>cp < unchecked(ranges[2 * mid])) hi = mid;
    else if (<u32>cp > unchecked(ranges[2 * mid + 1])) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Class of the code point at UTF-16 index i (-1 past the end). */
function classAt(s: string, i: i32): i32 {
  return i < s.length ? charClass(codePointAt(s, i)) : -1;
}

/** The end (UTF-16 index) of the pattern's match at `start` < s.length. */
function wordEnd(s: string, start: i32): i32 {
  const n = s.length;
  const c0 = <i32>s.charCodeAt(start);
  // 's 't 're 've 'm 'll 'd
  if (c0 == 0x27 && start + 1 < n) {
    const c1 = <i32>s.charCodeAt(start + 1);
    if (c1 == 0x73 || c1 == 0x74 || c1 == 0x6d || c1 == 0x64) return start + 2; // s t m d
    if (start + 2 < n) {
      const c2 = <i32>s.charCodeAt(start + 2);
      if ((c1 == 0x72 || c1 == 0x76) && c2 == 0x65) return start + 3; // re ve
      if (c1 == 0x6c && c2 == 0x6c) return start + 3; // ll
    }
  }
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: one optional leading space, then a run of one class
  const first = c0 == 0x20 ? start + 1 : start;
  const cls = classAt(s, first);
  if (cls == LETTER || cls == NUMBER || cls == OTHER) {
    let i = first;
    while (i < n && classAt(s, i) == cls) i += unitsOf(codePointAt(s, i));
    return i;
  }
  // `\s+(?!\S)`: a run of white space, less its last character when a non-space follows; `\s+` when
  // that leaves nothing (white space characters are all single UTF-16 units)
  let i = start;
  while (i < n && classAt(s, i) == SPACE) i++;
  return i < n && i - start >= 2 ? i - 1 : i;
}
