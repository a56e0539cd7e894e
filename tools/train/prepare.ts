/**
 * Stage 0 of joint training (docs/training.md): turns text into token ids with ifprune's own tokenizer
 * (so training sees exactly the ids the runtime will), and dumps what training starts from out of the
 * calibrated ifp-demo file: the neuron order of its bundles (ifprune.perm.N), its static ranking and its
 * post-hoc learned predictor (dequantised to f32).
 *
 *   node --import tsx tools/train/prepare.ts --model models/ifp-demo/ifp-demo.q8_0.gguf \
 *     --corpus ../shared/corpus --calibration ../shared/calibration --out /tmp/ifp-train/data
 *
 * Writes into --out:
 *   <domain>.train.u16      uint16 ids: every training document as BOS + encode(text), concatenated
 *   calib.jsonl             {"domain", "id", "prompt": [BOS + encode(prompt)], "full": [BOS + encode(prompt + response)]}
 *   init.json               {perm: [L][n_ff], static: [L][n_ff], pred: {shape}, sha256: {file: hex}}
 *   init.<E|W1|b1|W2|b2>.f32  the post-hoc predictor's tensors, row-major as learned.ts holds them
 * Never reads ../shared/eval/.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openForPruning, tokenizerFor } from '../../src/cli/pruning.ts';
import { readCalibration } from '../../src/pruning/predictor-file.ts';
import type { MlpPredictor } from '../../src/pruning/learned.ts';

const DOMAINS = ['python', 'javascript', 'english', 'german', 'arithmetic', 'manpages'];

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
}

const model = arg('model', 'models/ifp-demo/ifp-demo.q8_0.gguf');
const corpus = arg('corpus', '../shared/corpus');
const calibration = arg('calibration', '../shared/calibration');
const out = arg('out');
const limitDocs = Number(arg('limit-docs', '0')); // 0 = all (a smaller value for smoke tests)
await mkdir(out, { recursive: true });

const m = await openForPruning(model, 'prepare');
const tok = await tokenizerFor(m, model, undefined);
const c = m.spec.config;
const sha: Record<string, string> = {};
const hashOf = (name: string, bytes: Uint8Array) => (sha[name] = createHash('sha256').update(bytes).digest('hex'));
hashOf(model, new Uint8Array(await readFile(model)));

for (const d of DOMAINS) {
  const t0 = performance.now();
  const gz = new Uint8Array(await readFile(join(corpus, `${d}.train.jsonl.gz`)));
  hashOf(join(corpus, `${d}.train.jsonl.gz`), gz);
  const lines = gunzipSync(gz).toString('utf8').split('\n').filter(Boolean);
  const ids: number[] = [];
  for (const [i, line] of lines.entries()) {
    if (limitDocs && i >= limitDocs) break;
    const doc = JSON.parse(line) as { text: string };
    for (const id of tok.encode(doc.text, { bos: true })) ids.push(id);
  }
  await writeFile(join(out, `${d}.train.u16`), Uint16Array.from(ids));
  console.log(`${d}: ${lines.length} documents, ${ids.length} tokens, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const calib: string[] = [];
for (const f of (await readdir(calibration)).filter((f) => f.endsWith('.jsonl')).sort()) {
  const bytes = new Uint8Array(await readFile(join(calibration, f)));
  hashOf(join(calibration, f), bytes);
  for (const line of Buffer.from(bytes).toString('utf8').split('\n').filter(Boolean)) {
    const ex = JSON.parse(line) as { id: string; domain: string; prompt: string; response: string };
    calib.push(JSON.stringify({ domain: ex.domain, id: ex.id, prompt: tok.encode(ex.prompt, { bos: true }), full: tok.encode(ex.prompt + ex.response, { bos: true }) }));
  }
}
await writeFile(join(out, 'calib.jsonl'), calib.join('\n') + '\n');
console.log(`calibration: ${calib.length} pairs`);

const cal = await readCalibration(m.spec, m.info);
const perm = Array.from({ length: c.nLayers }, (_, l) => Array.from(m.info?.perms[l] ?? Array.from({ length: c.hiddenDim }, (_, j) => j)));
const init: Record<string, unknown> = { perm, static: cal.static?.map((s) => Array.from(s)) ?? null, sha256: sha, config: c };
if (cal.learned) {
  const p = cal.learned as MlpPredictor;
  init.pred = p.shape;
  for (const [k, v] of Object.entries(p.p)) await writeFile(join(out, `init.${k}.f32`), v as Float32Array);
}
await writeFile(join(out, 'init.json'), JSON.stringify(init));
await m.src.close?.();
console.log(`wrote ${out}`);
