/**
 * Tokenizes prompt → response pairs with ifprune's own tokenizer, in the form train.py's calibration
 * pairs have (tools/train/prepare.ts): one JSON line per pair,
 *   {"domain", "id", "prompt": [BOS + encode(prompt)], "full": [BOS + encode(prompt + response)]}
 * exactly the ids `ifprune eval` scores (src/pruning/activations.ts). For `score.py`, which scores a
 * checkpoint in PyTorch with the eval protocol; train.py never reads its output.
 *
 *   node --import tsx tools/train/tokenize.ts -o /tmp/ifp-train/eval.jsonl ../shared/eval/{python,...}.jsonl
 */
import { readFile, writeFile } from 'node:fs/promises';
import { openForPruning, tokenizerFor } from '../../src/cli/pruning.ts';

const argv = process.argv.slice(2);
const take = (name: string, dflt?: string): string | undefined => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const model = take('--model', 'models/ifp-demo/ifp-demo.q8_0.gguf')!;
const out = take('-o');
if (!out || argv.length === 0 || argv.includes('--help')) {
  console.error('usage: tokenize.ts [--model FILE] -o OUT.jsonl PAIRS.jsonl...   ({"domain","id","prompt","response"} per line)');
  process.exit(out ? 0 : 2);
}
const m = await openForPruning(model, 'tokenize');
const tok = await tokenizerFor(m, model, undefined);
const lines: string[] = [];
for (const f of argv) {
  for (const line of (await readFile(f, 'utf8')).split('\n').filter(Boolean)) {
    const ex = JSON.parse(line) as { domain: string; id: string; prompt: string; response: string };
    lines.push(JSON.stringify({ domain: ex.domain, id: ex.id, prompt: tok.encode(ex.prompt, { bos: true }), full: tok.encode(ex.prompt + ex.response, { bos: true }) }));
  }
}
await writeFile(out, lines.join('\n') + '\n');
console.log(`${out}: ${lines.length} pairs`);
