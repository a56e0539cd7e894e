/**
 * One Tokenizer interface over both BPE variants: `createTokenizer(data)` picks the model (llama.ts:
 * SentencePiece BPE; gpt2.ts: byte-level BPE) and adds what they share, turning token bytes back into
 * text with complete UTF-8 sequences only, so a character split over several tokens prints whole.
 */
import { IfpruneError } from '../errors.ts';
import type { TokenizerData } from './types.ts';
import { LlamaBpe } from './llama.ts';
import { Gpt2Bpe } from './gpt2.ts';

export type { TokenizerData } from './types.ts';

export interface EncodeOptions {
  /** Prepend BOS (default: the tokenizer's addBos). */
  bos?: boolean;
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
  /** Ids for text, without BOS. */
  encode(text: string): number[];
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

  return {
    model: data.model,
    vocabSize: model.vocabSize,
    bosId,
    eosId,
    encode(text, opts) {
      const ids = model.encode(text);
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
