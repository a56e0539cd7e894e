/** What a tokenizer needs, as read from a GGUF `tokenizer.ggml.*` section or a llama2.c tokenizer.bin. */
export interface TokenizerData {
  /** `llama`: SentencePiece BPE merged by score with byte fallback; `gpt2`: byte-level BPE merged by rank. */
  model: 'llama' | 'gpt2';
  /** Piece text per id. llama: SentencePiece form (U+2581 "▁" for a space, byte pieces "<0xNN>");
   * gpt2: the byte-to-unicode mapped form GPT-2 uses ("Ġ" for a space). */
  tokens: string[];
  /** llama: merge priority per id (higher merges first). */
  scores?: ArrayLike<number>;
  /** GGUF token types per id: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  tokenTypes?: ArrayLike<number>;
  /** gpt2: merges "left right" in rank order. */
  merges?: string[];
  bosId: number;
  eosId: number;
  unkId?: number;
  /** Prepend BOS when encoding a prompt (GGUF tokenizer.ggml.add_bos_token; llama default true). */
  addBos: boolean;
  /** llama: prepend a space to the text before encoding (SentencePiece add_dummy_prefix; default true). */
  addSpacePrefix?: boolean;
}
