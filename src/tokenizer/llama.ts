/**
 * SentencePiece BPE with byte fallback, as SentencePiece's bpe_model.cc and llama.cpp's
 * llm_tokenizer_spm do it:
 *
 *   1. prepend "▁" (the dummy prefix) when addSpacePrefix and the text is not empty and begins the
 *      input (not text after a special token, index.ts); spaces → "▁"
 *   2. split into characters, pieces or not
 *   3. repeatedly merge the adjacent pair whose concatenation is a piece with the highest score,
 *      the leftmost on ties, until none is
 *   4. map each symbol to its piece id; a symbol that is no piece (always a single character, since
 *      merges only make pieces) becomes the "<0xNN>" tokens of its UTF-8 bytes
 *
 * Byte fallback comes last, as in SentencePiece (bpe_model.cc) and llama.cpp (llm_tokenizer_spm
 * `resegment`): a character that is not a piece itself still merges into a piece that contains it
 * ("▁" + "t" → "▁t" in a vocabulary holding neither "▁" nor "t").
 *
 * Decoding maps "▁" back to a space and "<0xNN>" to the raw byte; the first piece of a text (the start,
 * or right after BOS) loses one leading space, the dummy prefix, as run.c `decode` does after BOS.
 *
 * Run.c differs in two cases: it byte-encodes a character that is not a piece before merging (the same
 * result whenever every character of the text is a piece, as in the bundled models), and a literal
 * U+2581 in the input is a space here (as in SentencePiece and llama.cpp), while run.c, whose
 * vocabulary holds spaces, byte-encodes it.
 */
import { IfpruneError } from '../errors.ts';
import type { TokenizerData } from './types.ts';
import type { TokenModel } from './index.ts';
import { mergeByRank } from './heap.ts';

/** GGUF token types (tokenizer.ggml.token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

const SPACE_MARK = '\u2581'; // "▁"
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
/** What an unknown token decodes to: U+FFFD, the Unicode replacement character. */
const UNKNOWN_BYTES = new Uint8Array([0xef, 0xbf, 0xbd]);
const NO_BYTES = new Uint8Array(0);

const utf8 = new TextEncoder();

export class LlamaBpe implements TokenModel {
  readonly vocabSize: number;
  private readonly types: Uint8Array;
  private readonly scores: ArrayLike<number>;
  /** Piece text → id, for the pieces text may produce (normal and user-defined). */
  private readonly pieceIds = new Map<string, number>();
  /** byte value → id of its "<0xNN>" token (the unknown id when the vocabulary lacks it; -1 without one). */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** id → the bytes it decodes to. */
  private readonly bytes: Uint8Array[];
  private readonly addSpacePrefix: boolean;

  constructor(data: TokenizerData) {
    const { tokens, scores } = data;
    if (!scores || scores.length !== tokens.length) {
      throw new IfpruneError('corrupt', `llama tokenizer has ${tokens.length} tokens but ${scores?.length ?? 'no'} scores: the model file's tokenizer section is incomplete`);
    }
    this.vocabSize = tokens.length;
    this.scores = scores;
    this.addSpacePrefix = data.addSpacePrefix ?? true;
    this.types = Uint8Array.from(tokens, (piece, id) => data.tokenTypes?.[id] ?? guessType(data, piece, id));
    if (data.unkId !== undefined) this.byteIds.fill(data.unkId);

    this.bytes = tokens.map((piece, id) => {
      switch (this.types[id]) {
        case TOKEN_TYPE.normal:
        case TOKEN_TYPE.userDefined:
          if (!this.pieceIds.has(piece)) this.pieceIds.set(piece, id);
          return utf8.encode(piece.replaceAll(SPACE_MARK, ' '));
        case TOKEN_TYPE.byte: {
          const m = BYTE_PIECE.exec(piece);
          if (!m) return utf8.encode(piece);
          const byte = parseInt(m[1], 16);
          if (this.types[this.byteIds[byte]] !== TOKEN_TYPE.byte) this.byteIds[byte] = id;
          return Uint8Array.of(byte);
        }
        case TOKEN_TYPE.unknown:
          return UNKNOWN_BYTES;
        default: // control, unused
          return NO_BYTES;
      }
    });
  }

  encode(text: string, atStart: boolean): number[] {
    if (text === '') return [];
    const normalized = (this.addSpacePrefix && atStart ? ' ' + text : text).replaceAll(' ', SPACE_MARK);
    const ids: number[] = [];
    for (const symbol of mergeByRank(Array.from(normalized), this.rankOf)) {
      const id = this.pieceIds.get(symbol);
      if (id !== undefined) ids.push(id);
      else for (const byte of utf8.encode(symbol)) ids.push(this.byteId(byte));
    }
    return ids;
  }

  tokenBytes(id: number, atStart: boolean): Uint8Array {
    const bytes = this.bytes[id];
    const stripPrefix = atStart && this.addSpacePrefix && this.types[id] === TOKEN_TYPE.normal && bytes[0] === 0x20;
    return stripPrefix ? bytes.subarray(1) : bytes;
  }

  isControl(id: number): boolean {
    return this.types[id] === TOKEN_TYPE.control;
  }

  /** Pairs merge by score, highest first: rank = -score. */
  private readonly rankOf = (left: string, right: string): number | undefined => {
    const id = this.pieceIds.get(left + right);
    return id === undefined ? undefined : -this.scores[id];
  };

  private byteId(byte: number): number {
    const id = this.byteIds[byte];
    if (id < 0) {
      throw new IfpruneError('unsupported', `the text needs byte 0x${byte.toString(16).padStart(2, '0')}, but the vocabulary has no byte-fallback token for it and no unknown token`);
    }
    return id;
  }
}

/** Token type when the data carries none: by id for unk/BOS/EOS, by text for byte pieces. */
function guessType(data: TokenizerData, piece: string, id: number): number {
  if (id === data.unkId) return TOKEN_TYPE.unknown;
  if (id === data.bosId || id === data.eosId) return TOKEN_TYPE.control;
  if (BYTE_PIECE.test(piece)) return TOKEN_TYPE.byte;
  return TOKEN_TYPE.normal;
}
