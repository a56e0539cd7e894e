/**
 * Token ids of texts with ifprune's tokenizer (so PyTorch sees exactly the runtime's ids):
 *   echo '["text", ...]' | node --import tsx tools/train/encode.ts TOKENIZER.bin VOCAB  →  [[BOS, ids...], ...]
 */
import { readFileSync } from 'node:fs';
import { parseTokenizerBin } from '../../src/formats/tokenizer-bin.ts';
import { createTokenizer } from '../../src/tokenizer/index.ts';

const [path, vocab] = process.argv.slice(2);
const tok = createTokenizer(parseTokenizerBin(new Uint8Array(readFileSync(path!)), Number(vocab)));
const texts = JSON.parse(readFileSync(0, 'utf8')) as string[];
process.stdout.write(JSON.stringify(texts.map((t) => tok.encode(t, { bos: true }))) + '\n');
