/**
 * GPT-2 byte-level BPE, as OpenAI's gpt-2 `encoder.py` does it:
 *
 *   1. split the text into words with the GPT-2 pattern (contractions, letter runs, digit runs,
 *      punctuation runs, each with at most one leading space; whitespace runs)
 *   2. write each word's UTF-8 bytes as characters through `bytes_to_unicode` (a space is "Ġ")
 *   3. repeatedly merge the adjacent pair with the lowest merge rank, the leftmost on ties
 *   4. map the merged pieces to ids
 *
 * Decoding maps each piece's characters back to bytes.
 */
import { IfpruneError } from '../errors.ts';
import type { TokenizerData } from './types.ts';
import type { TokenModel } from './index.ts';
import { mergeByRank } from './heap.ts';

const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const CONTROL = 3; // GGUF token type
const WORD_CACHE_LIMIT = 50_000;

/**
 * GPT-2 `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other 68 bytes (controls,
 * space, 0x7F-0xA0, 0xAD) for U+0100.. in byte order, so every byte is a visible character.
 */
const BYTE_TO_CHAR: string[] = [];
const CHAR_TO_BYTE = new Map<string, number>();
{
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    BYTE_TO_CHAR[b] = String.fromCharCode(printable(b) ? b : 256 + extra++);
    CHAR_TO_BYTE.set(BYTE_TO_CHAR[b], b);
  }
}

const utf8 = new TextEncoder();

export class Gpt2Bpe implements TokenModel {
  readonly vocabSize: number;
  private readonly tokenIds = new Map<string, number>();
  /** "left right" → rank (position in the merge list). */
  private readonly mergeRanks = new Map<string, number>();
  private readonly bytes: Uint8Array[];
  private readonly control: boolean[];
  private readonly unkId: number | undefined;
  private readonly cache = new Map<string, number[]>();

  constructor(data: TokenizerData) {
    if (!data.merges) {
      throw new IfpruneError('corrupt', 'gpt2 tokenizer has no merges: the model file lacks tokenizer.ggml.merges');
    }
    this.vocabSize = data.tokens.length;
    this.unkId = data.unkId;
    data.tokens.forEach((piece, id) => {
      if (!this.tokenIds.has(piece)) this.tokenIds.set(piece, id);
    });
    data.merges.forEach((merge, rank) => {
      if (!this.mergeRanks.has(merge)) this.mergeRanks.set(merge, rank);
    });
    this.control = data.tokens.map((_, id) =>
      data.tokenTypes ? data.tokenTypes[id] === CONTROL : id === data.bosId || id === data.eosId,
    );
    this.bytes = data.tokens.map((piece, id) => (this.control[id] ? new Uint8Array(0) : pieceBytes(piece)));
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const [word] of text.matchAll(GPT2_SPLIT)) {
      let wordIds = this.cache.get(word);
      if (wordIds === undefined) {
        wordIds = this.encodeWord(word);
        if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, wordIds);
      }
      for (const id of wordIds) ids.push(id);
    }
    return ids;
  }

  tokenBytes(id: number): Uint8Array {
    return this.bytes[id];
  }

  isControl(id: number): boolean {
    return this.control[id];
  }

  private encodeWord(word: string): number[] {
    const chars = Array.from(utf8.encode(word), (b) => BYTE_TO_CHAR[b]);
    return mergeByRank(chars, this.rankOf).map((piece) => {
      const id = this.tokenIds.get(piece) ?? this.unkId;
      if (id === undefined) {
        throw new IfpruneError('corrupt', `gpt2 tokenizer merges produce "${piece}", which is not in its vocabulary: tokens and merges do not belong together`);
      }
      return id;
    });
  }

  private readonly rankOf = (left: string, right: string): number | undefined => this.mergeRanks.get(left + ' ' + right);
}

/** A piece's bytes: each character through the inverse byte map (added tokens outside it as UTF-8). */
function pieceBytes(piece: string): Uint8Array {
  const out: number[] = [];
  for (const ch of piece) {
    const byte = CHAR_TO_BYTE.get(ch);
    if (byte !== undefined) out.push(byte);
    else out.push(...utf8.encode(ch));
  }
  return Uint8Array.from(out);
}
