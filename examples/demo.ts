/**
 * `npm start`: a story from the bundled stories260K model, then instruction-following pruning on the
 * bundled ifp-demo-joint model (ifp-demo trained jointly with its predictor, models/ifp-demo-joint/): two
 * different instructions (Python code, German prose) load different FFN neurons. For each: the policy and density, the neuron bytes loaded against the whole FFN, how much the
 * two neuron sets overlap, and the generated text.
 *
 *   node --import tsx examples/demo.ts [--density 0.5] [--tokens 48]
 */
import { open } from '../src/platform/node.ts';
import type { Instruction } from '../src/types.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const density = arg('density', 0.5);
const tokens = arg('tokens', 48);
const models = new URL('../models/', import.meta.url);
const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;

// 1. A story (stories260K, dense).
const story = await open(new URL('stories260K/stories260K.bin', models).pathname);
process.stdout.write('── stories260K: a story ──\nOnce upon a time');
for await (const t of story.generate('Once upon a time', { maxTokens: 100, temperature: 0.8, seed: 7 })) process.stdout.write(t.text);
const ss = story.stats();
process.stdout.write(`\n[${ss.generatedTokens} tokens, ${Math.round(ss.decodeTokPerS)} tok/s]\n\n`);
await story.close();

// 2. Instruction-following pruning (ifp-demo-joint: ifp-demo trained jointly with its predictor, which
// prunes far better than the post-hoc predictor: docs/training.md; selective loading).
const path = new URL('ifp-demo-joint/ifp-demo-joint.q8_0.gguf', models).pathname;
const model = await open(path, { ffn: 'selective' });
const prompts = [
  { label: 'Python code', text: 'import os\nimport sys\n\n\ndef main(argv):\n    """Parse the command line and run."""\n    ' },
  { label: 'German prose', text: 'Der alte Mann ging langsam durch den Wald. Es war ein kalter Morgen, und ' },
];
process.stdout.write(`── ifp-demo-joint: instruction-following pruning, density ${density} ──\n`);
const chosen: Instruction[] = [];
for (const p of prompts) {
  const ins = await model.instruct(p.text, { density });
  chosen.push(ins);
  let text = '';
  for await (const t of model.generate(p.text, { maxTokens: tokens, temperature: 0, density, policy: ins.policy })) text += t.text;
  const s = model.stats();
  process.stdout.write(
    `\n[${p.label}] policy ${s.policy}, ${(s.density * 100).toFixed(0)}% of FFN neurons: loaded ${kib(s.neuronBytesRead)} of ${kib(s.ffnBytesTotal)} FFN ` +
      `(${s.neuronRequests} requests, ${s.neuronCacheHits} neurons already cached); TTFT ${s.ttftMs.toFixed(1)} ms ` +
      `(predict ${s.predictMs.toFixed(1)}, load ${s.loadNeuronsMs.toFixed(1)}, prefill ${s.prefillMs.toFixed(1)})\n`,
  );
  process.stdout.write(p.text + text + '\n');
}
const jaccard = chosen[0]!.neurons.map((a, l) => {
  const b = new Set(chosen[1]!.neurons[l]);
  const inter = Array.from(a).filter((j) => b.has(j)).length;
  return inter / (a.length + b.size - inter);
});
process.stdout.write(`\nneuron sets of the two instructions overlap (Jaccard, per layer): ${jaccard.map((j) => j.toFixed(2)).join(' ')}\n`);
await model.close();
