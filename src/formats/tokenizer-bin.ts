/**
 * llama2.c `tokenizer.bin` → TokenizerData.
 *
 * Layout (little-endian; written by llama2.c's tokenizer.py, read by run.c `build_tokenizer`):
 *
 *   int32   max_token_length      longest piece in bytes
 *   then, for each of vocab_size tokens (the count is not stored: it is the model's vocab_size):
 *     float32 score               merge priority (higher merges first)
 *     int32   len                 piece length in bytes
 *     u8[len] piece               UTF-8 text; U+2581 already replaced by a plain space,
 *                                 byte-fallback tokens as the text "<0xNN>",
 *                                 BOS/EOS as "\n<s>\n" / "\n</s>\n"
 *
 * Ids follow llama2.c: 0 `<unk>`, 1 BOS, 2 EOS.
 */
import { IfpruneError } from '../errors.ts';
import type { TokenizerData } from '../tokenizer/types.ts';

const UNK_ID = 0;
const BOS_ID = 1;
const EOS_ID = 2;

/** GGUF token types (tokenizer.ggml.token_type). */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

const BYTE_PIECE = /^<0x[0-9A-Fa-f]{2}>$/;
/** A sanity bound on max_token_length, to tell garbage from a tokenizer. */
const MAX_PIECE_BYTES = 4096;

/**
 * Parses a whole tokenizer.bin. Without `expectedVocab` it reads tokens until the end of the file;
 * with it, it requires exactly that many (the model header's vocab_size).
 */
export function parseTokenizerBin(bytes: Uint8Array, expectedVocab?: number): TokenizerData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  if (expectedVocab !== undefined && !(Number.isInteger(expectedVocab) && expectedVocab > 0)) {
    throw new IfpruneError('bad_option', `expectedVocab is ${expectedVocab}; pass the model's vocab_size (a positive integer) or leave it out`);
  }
  if (bytes.length < 4) {
    throw new IfpruneError('truncated', `tokenizer.bin is ${bytes.length} bytes, shorter than its 4-byte header: is the download complete?`);
  }
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > MAX_PIECE_BYTES) {
    throw new IfpruneError('corrupt', `tokenizer.bin header says the longest token is ${maxTokenLength} bytes (expected 1..${MAX_PIECE_BYTES}): is this a llama2.c tokenizer.bin?`);
  }

  const tokens: string[] = [];
  const scores: number[] = [];
  let offset = 4;
  while (expectedVocab === undefined ? offset < bytes.length : tokens.length < expectedVocab) {
    const id = tokens.length;
    if (offset + 8 > bytes.length) {
      const want = expectedVocab === undefined ? '' : ` of the ${expectedVocab} the model expects`;
      throw new IfpruneError('truncated', `tokenizer.bin ends inside token ${id}${want} (at byte ${offset} of ${bytes.length}): is the file complete, and is it the tokenizer of this model?`);
    }
    const score = view.getFloat32(offset, true);
    const len = view.getInt32(offset + 4, true);
    offset += 8;
    if (Number.isNaN(score) || len < 0 || len > maxTokenLength) {
      throw new IfpruneError('corrupt', `tokenizer.bin token ${id} has score ${score} and length ${len} (expected a number and 0..${maxTokenLength}): the file is damaged or not a llama2.c tokenizer.bin`);
    }
    if (offset + len > bytes.length) {
      throw new IfpruneError('truncated', `tokenizer.bin ends inside the text of token ${id} (needs ${len} bytes at ${offset}, file is ${bytes.length}): is the download complete?`);
    }
    let text: string;
    try {
      text = utf8.decode(bytes.subarray(offset, offset + len));
    } catch (cause) {
      throw new IfpruneError('corrupt', `tokenizer.bin token ${id} is not valid UTF-8: the file is damaged or not a llama2.c tokenizer.bin`, { cause });
    }
    offset += len;
    tokens.push(text);
    scores.push(score);
  }
  if (offset !== bytes.length) {
    throw new IfpruneError('corrupt', `tokenizer.bin has ${bytes.length - offset} bytes after its ${expectedVocab} tokens: it belongs to a model with a larger vocabulary`);
  }
  if (tokens.length === 0) {
    throw new IfpruneError('truncated', 'tokenizer.bin holds only its header and no tokens: is the download complete?');
  }
  if (tokens.length <= EOS_ID) {
    throw new IfpruneError('corrupt', `tokenizer.bin holds ${tokens.length} tokens; a llama2.c tokenizer has at least <unk>, <s>, </s>`);
  }

  // Back to SentencePiece form: control pieces without llama2.c's newlines, a space as "▁".
  const tokenTypes = new Uint8Array(tokens.length);
  for (let id = 0; id < tokens.length; id++) {
    if (id === UNK_ID) tokenTypes[id] = TOKEN_TYPE.unknown;
    else if (id === BOS_ID || id === EOS_ID) tokenTypes[id] = TOKEN_TYPE.control;
    else if (BYTE_PIECE.test(tokens[id])) tokenTypes[id] = TOKEN_TYPE.byte;
    else tokenTypes[id] = TOKEN_TYPE.normal;
    tokens[id] = tokenTypes[id] === TOKEN_TYPE.normal ? tokens[id].replaceAll(' ', '\u2581') : tokens[id].trim();
  }

  return {
    model: 'llama',
    tokens,
    scores: Float32Array.from(scores),
    tokenTypes,
    bosId: BOS_ID,
    eosId: EOS_ID,
    unkId: UNK_ID,
    addBos: true,
    addSpacePrefix: true,
  };
}
