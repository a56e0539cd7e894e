/**
 * One Tokenizer interface over both BPE variants: `createTokenizer(data)` picks the model (llama.ts:
 * SentencePiece BPE; gpt2.ts: byte-level BPE) and adds what they share: reading special-token text
 * (`special`), BOS, and turning token bytes back into text with complete UTF-8 sequences only, so a
 * character split over several tokens prints whole.
 */
import { IfpruneError } from '../errors.ts';
import type { TokenizerData } from './types.ts';
import { LlamaBpe } from './llama.ts';
import { Gpt2Bpe } from './gpt2.ts';

export type { TokenizerData } from './types.ts';

export interface EncodeOptions {
  /** Prepend BOS (default: the tokenizer's addBos). */
  bos?: boolean;
  /**
   * Read the text of the vocabulary's special tokens (control and user-defined pieces: chat markers
   * such as `<|im_start|>`, `<s>`) as those tokens, as llama.cpp's `parse_special` does; for prompts
   * rendered by a chat template. Default false: all of the text is text (a user's "<s>" is 3 pieces).
   */
  special?: boolean;
}

export interface DecodeOptions {
  /**
   * The ids begin a text (default true): the first text piece loses the space the dummy prefix added
   * when encoding (llama), as it does after a BOS. Pass false to decode a continuation.
   */
  atStart?: boolean;
}

/** Token-by-token decoding: `push` returns the text that is complete so far, `flush` the rest. */
export interface StreamDecoder {
  push(id: number): string;
  /** Ends the stream: bytes of an unfinished character come out as U+FFFD. */
  flush(): string;
}

export interface Tokenizer {
  readonly model: TokenizerData['model'];
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: Iterable<number>, opts?: DecodeOptions): string;
  streamDecoder(opts?: DecodeOptions): StreamDecoder;
  /** Control tokens (BOS, EOS, chat markers) decode to "". */
  isControl(id: number): boolean;
}

/** What a BPE variant provides; the Tokenizer adds BOS, id checks and UTF-8 assembly. */
export interface TokenModel {
  readonly vocabSize: number;
  /** Ids for text, without BOS. `atStart`: the text begins the input (llama: only then the dummy prefix). */
  encode(text: string, atStart: boolean): number[];
  /** The bytes token `id` stands for (none for control tokens); `atStart`: first piece of a text. */
  tokenBytes(id: number, atStart: boolean): Uint8Array;
  isControl(id: number): boolean;
}

export function createTokenizer(data: TokenizerData): Tokenizer {
  const { bosId, eosId } = data;
  const n = data.tokens.length;
  if (!(bosId >= 0 && bosId < n && eosId >= 0 && eosId < n)) {
    throw new IfpruneError('corrupt', `tokenizer BOS id ${bosId} / EOS id ${eosId} are outside its ${n} tokens: the tokenizer section is damaged`);
  }
  let model: TokenModel;
  switch (data.model) {
    case 'llama':
      model = new LlamaBpe(data);
      break;
    case 'gpt2':
      model = new Gpt2Bpe(data);
      break;
    default:
      throw new IfpruneError('unsupported', `tokenizer model "${String(data.model)}" is not supported: ifprune reads "llama" (SentencePiece BPE) and "gpt2" (byte-level BPE)`);
  }
  const stream = (opts?: DecodeOptions): StreamDecoder => new Utf8TokenStream(model, bosId, opts?.atStart ?? true);
  const specials = specialPieces(data);

  return {
    model: data.model,
    vocabSize: model.vocabSize,
    bosId,
    eosId,
    encode(text, opts) {
      let ids: number[];
      if (opts?.special) {
        ids = [];
        for (const [start, end, id] of splitSpecial(text, specials)) {
          if (id >= 0) ids.push(id);
          else ids.push(...model.encode(text.slice(start, end), start === 0));
        }
      } else {
        ids = model.encode(text, true);
      }
      return (opts?.bos ?? data.addBos) ? [bosId, ...ids] : ids;
    },
    decode(ids, opts) {
      const decoder = stream(opts);
      let text = '';
      for (const id of ids) text += decoder.push(id);
      return text + decoder.flush();
    },
    streamDecoder: stream,
    isControl: (id) => model.isControl(id),
  };
}

// ---------------------------------------------------------------------------------------------------
// special tokens in text (llama.cpp llama-vocab.cpp `tokenizer_st_partition`)

/** GGUF token types (tokenizer.ggml.token_type) whose text is read as the token with `special`. */
const TYPE_CONTROL = 3;
const TYPE_USER_DEFINED = 4;

/** A special token: its piece, id, and the piece's UTF-8 length (the order of matching). */
interface SpecialPiece {
  text: string;
  id: number;
  bytes: number;
}

/**
 * The vocabulary's special pieces: control and user-defined tokens with non-empty text, longest first
 * (in UTF-8 bytes, as llama.cpp sorts `cache_special_tokens`), the lower id first on ties. Without
 * token types, BOS and EOS are the control tokens (as the BPE variants guess them), unless unkId.
 */
function specialPieces(data: TokenizerData): SpecialPiece[] {
  const out: SpecialPiece[] = [];
  data.tokens.forEach((text, id) => {
    const type = data.tokenTypes?.[id] ?? (id === data.unkId ? 0 : id === data.bosId || id === data.eosId ? TYPE_CONTROL : 0);
    if ((type === TYPE_CONTROL || type === TYPE_USER_DEFINED) && text !== '') out.push({ text, id, bytes: utf8.encode(text).length });
  });
  return out.sort((a, b) => b.bytes - a.bytes || a.id - b.id);
}

/**
 * Splits text into fragments, each `[start, end, id]` (UTF-16 indices): a special token (id ≥ 0) or
 * text to encode (id -1), in order, never empty. As llama.cpp does it: one special piece at a time,
 * longest first, every occurrence inside a text fragment (left to right, not overlapping) becomes that
 * token, and the text around it stays text for the next pieces.
 */
function splitSpecial(text: string, specials: readonly SpecialPiece[]): [number, number, number][] {
  let frags: [number, number, number][] = text === '' ? [] : [[0, text.length, -1]];
  for (const sp of specials) {
    if (!text.includes(sp.text)) continue;
    const next: [number, number, number][] = [];
    for (const frag of frags) {
      const [start, end, id] = frag;
      if (id >= 0) {
        next.push(frag);
        continue;
      }
      let from = start;
      for (let at = text.indexOf(sp.text, from); at >= 0 && at + sp.text.length <= end; at = text.indexOf(sp.text, from)) {
        if (at > from) next.push([from, at, -1]);
        next.push([at, at + sp.text.length, sp.id]);
        from = at + sp.text.length;
      }
      if (from < end) next.push([from, end, -1]);
    }
    frags = next;
  }
  return frags;
}

const utf8 = new TextEncoder();

/** Assembles token bytes into text, holding back an unfinished UTF-8 sequence until it completes. */
class Utf8TokenStream implements StreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

  constructor(
    private readonly model: TokenModel,
    private readonly bosId: number,
    private atStart: boolean,
  ) {}

  push(id: number): string {
    if (!(Number.isInteger(id) && id >= 0 && id < this.model.vocabSize)) {
      throw new IfpruneError('bad_option', `token id ${id} is outside the vocabulary (0..${this.model.vocabSize - 1})`);
    }
    if (id === this.bosId) {
      this.atStart = true;
      return '';
    }
    if (this.model.isControl(id)) return '';
    const bytes = this.model.tokenBytes(id, this.atStart);
    this.atStart = false; // even when the piece was only the prefix space
    return bytes.length === 0 ? '' : this.utf8.decode(bytes, { stream: true });
  }

  flush(): string {
    return this.utf8.decode();
  }
}
