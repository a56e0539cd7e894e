// llama2.c `tokenizer.bin` → TokenizerData (TS oracle src/formats/tokenizer-bin.ts).
//
// Layout (little-endian; written by llama2.c's tokenizer.py, read by run.c `build_tokenizer`):
//
//   int32   max_token_length      longest piece in bytes
//   then, for each of vocab_size tokens (the count is not stored: it is the model's vocab_size):
//     float32 score               merge priority (higher merges first)
//     int32   len                 piece length in bytes
//     u8[len] piece               UTF-8 text; U+2581 already replaced by a plain space,
//                                 byte-fallback tokens as the text "<0xNN>",
//                                 BOS/EOS as "\n<s>\n" / "\n</s>\n"
//
// Ids follow llama2.c: 0 `<unk>`, 1 BOS, 2 EOS.
import { TokenizerData } from './spec';
import { fail } from './error';
import { decodeUtf8Strict } from './reader';

const UNK_ID: i32 = 0;
const BOS_ID: i32 = 1;
const EOS_ID: i32 = 2;

/** GGUF token types (tokenizer.ggml.token_type). */
const TOKEN_NORMAL: i32 = 1;
const TOKEN_UNKNOWN: i32 = 2;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_BYTE: i32 = 6;

/** A sanity bound on max_token_length, to tell garbage from a tokenizer. */
const MAX_PIECE_BYTES: i32 = 4096;

/** /^<0x[0-9A-Fa-f]{2}>$/ */
function isBytePiece(s: string): bool {
  if (s.length != 6 || !s.startsWith('<0x') || s.charCodeAt(5) != 0x3e) return false;
  for (let i = 3; i < 5; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Parses a whole tokenizer.bin (`len` bytes at `buf`). expectedVocab > 0: exactly that many tokens (the
 * model header's vocab_size); 0: read tokens to the end of the file (the TS's undefined); negative:
 * 'bad_option'. Fails 'truncated' / 'corrupt' as the TS does; fileName names the file in messages.
 */
export function parseTokenizerBin(buf: usize, len: usize, expectedVocab: i32, fileName: string): TokenizerData | null {
  const size = <u64>len;
  if (expectedVocab < 0) {
    fail('bad_option', 'expectedVocab is ' + expectedVocab.toString() + "; pass the model's vocab_size (a positive integer) or 0 to read to the end");
    return null;
  }
  if (size < 4) {
    fail('truncated', fileName + ' is ' + size.toString() + ' bytes, shorter than its 4-byte header: is the download complete?');
    return null;
  }
  const maxTokenLength = load<i32>(buf);
  if (maxTokenLength <= 0 || maxTokenLength > MAX_PIECE_BYTES) {
    fail('corrupt', fileName + ' header says the longest token is ' + maxTokenLength.toString() + ' bytes (expected 1..' + MAX_PIECE_BYTES.toString() + '): is this a llama2.c tokenizer.bin?');
    return null;
  }

  const tok = new TokenizerData();
  let offset: u64 = 4;
  while (expectedVocab == 0 ? offset < size : tok.tokens.length < expectedVocab) {
    const id = tok.tokens.length;
    if (offset + 8 > size) {
      const want = expectedVocab == 0 ? '' : ' of the ' + expectedVocab.toString() + ' the model expects';
      fail('truncated', fileName + ' ends inside token ' + id.toString() + want + ' (at byte ' + offset.toString() + ' of ' + size.toString() + '): is the file complete, and is it the tokenizer of this model?');
      return null;
    }
    const score = load<f32>(buf + <usize>offset);
    const n = load<i32>(buf + <usize>offset, 4);
    offset += 8;
    if (isNaN(score) || n < 0 || n > maxTokenLength) {
      fail('corrupt', fileName + ' token ' + id.toString() + ' has score ' + score.toString() + ' and length ' + n.toString() + ' (expected a number and 0..' + maxTokenLength.toString() +
        '): the file is damaged or not a llama2.c tokenizer.bin');
      return null;
    }
    if (offset + <u64>n > size) {
      fail('truncated', fileName + ' ends inside the text of token ' + id.toString() + ' (needs ' + n.toString() + ' bytes at ' + offset.toString() + ', file is ' + size.toString() + '): is the download complete?');
      return null;
    }
    const text = decodeUtf8Strict(buf + <usize>offset, <usize>n);
    if (text == null) {
      fail('corrupt', fileName + ' token ' + id.toString() + ' is not valid UTF-8: the file is damaged or not a llama2.c tokenizer.bin');
      return null;
    }
    offset += <u64>n;
    tok.tokens.push(text);
    tok.scores.push(score);
  }
  const count = tok.tokens.length;
  if (offset != size) {
    fail('corrupt', fileName + ' has ' + (size - offset).toString() + ' bytes after its ' + expectedVocab.toString() + ' tokens: it belongs to a model with a larger vocabulary');
    return null;
  }
  if (count == 0) {
    fail('truncated', fileName + ' holds only its header and no tokens: is the download complete?');
    return null;
  }
  if (count <= EOS_ID) {
    fail('corrupt', fileName + ' holds ' + count.toString() + ' tokens; a llama2.c tokenizer has at least <unk>, <s>, </s>');
    return null;
  }

  // Back to SentencePiece form: control pieces without llama2.c's newlines, a space as "▁".
  for (let id = 0; id < count; id++) {
    let type = TOKEN_NORMAL;
    if (id == UNK_ID) type = TOKEN_UNKNOWN;
    else if (id == BOS_ID || id == EOS_ID) type = TOKEN_CONTROL;
    else if (isBytePiece(tok.tokens[id])) type = TOKEN_BYTE;
    tok.tokenTypes.push(type);
    tok.tokens[id] = type == TOKEN_NORMAL ? tok.tokens[id].replaceAll(' ', '\u2581') : tok.tokens[id].trim();
  }
  tok.model = 'llama';
  tok.bosId = BOS_ID;
  tok.eosId = EOS_ID;
  tok.unkId = UNK_ID;
  tok.addBos = true;
  tok.addSpacePrefix = true;
  return tok;
}
