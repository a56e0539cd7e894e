/**
 * Export step 2 (docs/training.md): a folder written by tools/train/export.py → an ifprune model file.
 *
 *   node --import tsx tools/train/export.ts --dir /tmp/ifp-train/export-joint \
 *     --tokenizer ../shared/models/ifp-demo/tokenizer.bin --type q8_0 -o models/ifp-demo-joint/ifp-demo-joint.q8_0.gguf
 *
 * 1. `ifprune convert DIR/model.bin --type TYPE` (bundled; no reordering: the rows are already in the
 *    order training used, ifp-demo's co-selection order);
 * 2. the predictor (pred.*.f32: exactly the trained network, already at the stored precision; with
 *    pred.codebook.f32 the deepsets-mlp-codebook kind), the static
 *    ranking and the always-on neurons written by writeCalibratedModel — the same tensors
 *    `ifprune calibrate` writes, so `--policy learned` runs the trained network — plus training keys:
 *      ifprune.train.method     STRING          'joint (IFPruning: SoftTopK, straight-through hard top-k)'
 *      ifprune.train.densities  ARRAY[FLOAT32]  the densities the model was trained at
 *      ifprune.train.steps      ARRAY[UINT32]   optimiser steps of stage 1 and stage 2
 *    A folder without pred.* (a dense baseline) stops after step 1.
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileSource } from '../../src/sources/file.ts';
import { parseGGUF, GGUFValueType as T } from '../../src/formats/gguf.ts';
import { fileSink } from '../../src/convert/file-sink.ts';
import { writeCalibratedModel } from '../../src/pruning/predictor-file.ts';
import { MlpPredictor, type MlpParams, type MlpShape } from '../../src/pruning/learned.ts';
import type { Calibration } from '../../src/pruning/eval.ts';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`missing ${name}`);
  return v;
}

const dir = arg('--dir');
const out = arg('-o');
const type = arg('--type', 'q8_0');
const tokenizer = arg('--tokenizer', '../shared/models/ifp-demo/tokenizer.bin');
const name = arg('--name', 'ifp-demo-joint');
const stage1Steps = Number(arg('--stage1-steps', '0')); // for a stage-2 checkpoint: the steps of its stage 1
// for a stage-1 checkpoint that continued another (train.py --init X.pt): the steps before it, added to its own
const priorSteps = Number(arg('--prior-steps', '0'));

const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as {
  pred?: MlpShape;
  densities?: number[];
  shared?: number[][] | null;
  static?: number[][];
  steps?: number;
  args?: { stage?: number };
};
const converted = meta.pred ? `${out}.converted.gguf` : out;
execFileSync(process.execPath, ['bin/ifprune.js', 'convert', join(dir, 'model.bin'), '-o', converted, '--type', type, '--tokenizer', tokenizer], { stdio: 'inherit' });
if (!meta.pred) process.exit(0);

const f32 = async (k: string) => {
  const b = await readFile(join(dir, `pred.${k}.f32`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const params = { E: await f32('E'), W1: await f32('W1'), b1: await f32('b1'), W2: await f32('W2'), b2: await f32('b2') } as MlpParams;
if (meta.pred.codebook) params.codebook = await f32('codebook'); // export.py --codebook C
const cal: Calibration = {
  learned: new MlpPredictor(meta.pred, params),
  static: meta.static!.map((s) => Float32Array.from(s)),
  ...(meta.shared && meta.shared.some((s) => s.length) ? { shared: meta.shared.map((s) => Int32Array.from(s)) } : {}),
};
const src = await fileSource(converted);
try {
  const file = await parseGGUF(src);
  const put = (key: string, type: (typeof file.kvTypes)[string], value: (typeof file.metadata)[string]) => {
    file.metadata[key] = value;
    file.kvTypes[key] = type;
  };
  put('general.name', { type: T.STRING }, name);
  put('ifprune.train.method', { type: T.STRING }, `joint (IFPruning: SoftTopK, straight-through hard top-k${meta.pred.codebook ? `; score codebook of ${meta.pred.codebook}` : ''})`);
  put('ifprune.train.densities', { type: T.ARRAY, itemType: T.FLOAT32 }, Float32Array.from(meta.densities ?? []));
  put('ifprune.train.steps', { type: T.ARRAY, itemType: T.UINT32 }, Uint32Array.from(meta.args?.stage === 2 ? [stage1Steps, meta.steps ?? 0] : [priorSteps + (meta.steps ?? 0), 0]));
  const sink = await fileSink(out);
  try {
    const total = await writeCalibratedModel(src, file, cal, { examples: 0, heldoutRecall: NaN }, sink);
    await sink.finish(total);
  } catch (e) {
    await sink.abort();
    throw e;
  }
} finally {
  await src.close?.();
  await rm(converted, { force: true });
}
console.log(`wrote ${out}`);
