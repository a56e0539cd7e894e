/**
 * Export step 2 (docs/training.md): a folder written by tools/train/export.py → an ifprune model file.
 *
 *   node --import tsx tools/train/export.ts --dir /tmp/ifp-train/export-joint \
 *     --tokenizer ../shared/models/ifp-demo/tokenizer.bin --type q8_0 -o models/ifp-demo-joint/ifp-demo-joint.q8_0.gguf
 *
 * 1. DIR/model.bin converted as `ifprune convert --type TYPE` does (bundled). Without --reorder the rows
 *    stay in the order training used (ifp-demo's co-selection order). With `--reorder PROMPTS.jsonl`
 *    (lines with "prompt": token ids, BOS first: prepare.ts's calib.jsonl) they are reordered for the
 *    trained predictor: its selections of those prompts at every trained density feed the greedy
 *    co-selection chain (src/convert/reorder.ts), the permutation is recorded as ifprune.perm.N and the
 *    predictor, static ranking and always-on ids are permuted with the rows (permuteCalibration). With
 *    a score codebook the selections repeat (C sets per density), which the chain uses: ifp-demo-joint's
 *    86–94 byte ranges per layer at 0.25 become 31–41;
 * 2. the predictor (pred.*.f32: exactly the trained network, already at the stored precision; with
 *    pred.codebook.f32 the deepsets-mlp-codebook kind), the static
 *    ranking and the always-on neurons written by writeCalibratedModel — the same tensors
 *    `ifprune calibrate` writes, so `--policy learned` runs the trained network — plus training keys:
 *      ifprune.train.method     STRING          'joint (IFPruning: SoftTopK, straight-through hard top-k)'
 *      ifprune.train.densities  ARRAY[FLOAT32]  the densities the model was trained at
 *      ifprune.train.steps      ARRAY[UINT32]   optimiser steps of stage 1 and stage 2
 *    A folder without pred.* (a dense baseline) stops after step 1.
 */
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileSource } from '../../src/sources/file.ts';
import { parseGGUF, GGUFValueType as T } from '../../src/formats/gguf.ts';
import { openModel } from '../../src/formats/model.ts';
import { parseTokenizerBin } from '../../src/formats/tokenizer-bin.ts';
import { IFPRUNE_TYPES, type IfpruneType } from '../../src/formats/ifprune.ts';
import { convert, type ConvertReorder } from '../../src/convert/convert.ts';
import { CoSelection, invertPermutation, reorderNeurons } from '../../src/convert/reorder.ts';
import { fileSink } from '../../src/convert/file-sink.ts';
import { loadKernels } from '../../src/platform/node.ts';
import { permuteCalibration, writeCalibratedModel } from '../../src/pruning/predictor-file.ts';
import { neuronsAt, selectLayers } from '../../src/pruning/select.ts';
import { MlpPredictor, type MlpParams, type MlpShape } from '../../src/pruning/learned.ts';
import type { Calibration } from '../../src/pruning/eval.ts';
import { Kernels } from '../../src/engine/kernels.ts';

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
  /** tools/train/route.py: the nearest codebook entry c gives entry route[c]'s scores. */
  route?: number[];
  densities?: number[];
  shared?: number[][] | null;
  static?: number[][];
  steps?: number;
  args?: { stage?: number };
};
if (!Object.hasOwn(IFPRUNE_TYPES, type)) throw new Error(`--type ${type}: expected one of ${Object.keys(IFPRUNE_TYPES).join(', ')}`);
const reorderFrom = process.argv.includes('--reorder') ? arg('--reorder') : undefined;
if (reorderFrom && !meta.pred) throw new Error('--reorder orders the rows for the trained predictor; this folder has none (a dense baseline)');
const converted = meta.pred ? `${out}.converted.gguf` : out;
if (!meta.pred) {
  await convertModelBin(out, undefined); // a dense baseline: the converted model is all
  console.log(`wrote ${out}`);
  process.exit(0);
}

const f32 = async (k: string) => {
  const b = await readFile(join(dir, `pred.${k}.f32`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const params = { E: await f32('E'), W1: await f32('W1'), b1: await f32('b1'), W2: await f32('W2'), b2: await f32('b2') } as MlpParams;
if (meta.pred.codebook) params.codebook = await f32('codebook'); // export.py --codebook C
if (meta.route) params.route = Uint32Array.from(meta.route);
let cal: Calibration = {
  learned: new MlpPredictor(meta.pred, params),
  static: meta.static!.map((s) => Float32Array.from(s)),
  ...(meta.shared && meta.shared.some((s) => s.length) ? { shared: meta.shared.map((s) => Int32Array.from(s)) } : {}),
};
let reorder: ConvertReorder | undefined;
if (reorderFrom) {
  reorder = await orderForPredictor(cal, await readFile(reorderFrom), meta.densities ?? []);
  cal = permuteCalibration(cal, reorder.perms as Uint32Array[]);
}
await convertModelBin(converted, reorder);
const src = await fileSource(converted);
try {
  const file = await parseGGUF(src);
  const put = (key: string, type: (typeof file.kvTypes)[string], value: (typeof file.metadata)[string]) => {
    file.metadata[key] = value;
    file.kvTypes[key] = type;
  };
  put('general.name', { type: T.STRING }, name);
  put('ifprune.train.method', { type: T.STRING }, `joint (IFPruning: SoftTopK, straight-through hard top-k${meta.pred.codebook ? `; score codebook of ${meta.pred.codebook}` : ''}${meta.route ? '; entries routed by the loss' : ''})`);
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

/** DIR/model.bin → `path`, bundled, as `ifprune convert --type TYPE --tokenizer T` writes it; `reorder`: its rows reordered. */
async function convertModelBin(path: string, reorder: ConvertReorder | undefined): Promise<void> {
  const src = await fileSource(join(dir, 'model.bin'));
  try {
    const spec = await openModel(src);
    const tok = parseTokenizerBin(new Uint8Array(await readFile(tokenizer)), spec.config.vocabSize);
    const sink = await fileSink(path);
    try {
      const r = await convert(spec, sink, { type: type as IfpruneType, layout: 'bundled', tokenizer: tok, module: await loadKernels(), reorder, sourceName: basename(src.name) });
      await sink.finish(r.bytes);
    } catch (e) {
      await sink.abort();
      throw e;
    }
  } finally {
    await src.close?.();
  }
}

/**
 * The row order for the trained predictor: per layer, the greedy co-selection chain over its selections
 * of the prompts (JSONL lines with "prompt": token ids) at every density. Prints the mean byte ranges
 * per selection before and after, per density, and how many selections the permuted predictor makes
 * differently (ties at the k-th score; 0 expected).
 */
async function orderForPredictor(cal: Calibration, jsonl: Buffer, densities: number[]): Promise<ConvertReorder> {
  const pred = cal.learned as MlpPredictor;
  const { nLayers, nff } = pred.shape;
  if (!densities.length) throw new Error('meta.json names no densities to order the rows for');
  const prompts = jsonl.toString('utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    const p = (JSON.parse(l) as { prompt?: unknown }).prompt;
    if (!Array.isArray(p) || !p.every((t) => Number.isInteger(t))) throw new Error(`${reorderFrom} line ${i + 1}: expected "prompt": token ids (prepare.ts's calib.jsonl)`);
    return p as number[];
  });
  if (!prompts.length) throw new Error(`${reorderFrom} holds no prompts`);
  const K = await Kernels.create(await loadKernels());
  const select = (p: MlpPredictor, shared: Int32Array[] | undefined, ids: number[]) => {
    const s = p.predict(ids);
    return densities.map((d) => selectLayers(s, neuronsAt(d, nff), shared));
  };
  pred.useKernels(K);
  const sets = prompts.map((ids) => select(pred, cal.shared, ids)); // [prompt][density][layer]
  const all = Array.from({ length: nLayers }, () => new CoSelection(nff));
  const perDensity = densities.map(() => Array.from({ length: nLayers }, () => new CoSelection(nff)));
  for (const byDensity of sets) {
    byDensity.forEach((layers, j) => layers.forEach((ids, l) => {
      all[l]!.add(ids);
      perDensity[j]![l]!.add(ids);
    }));
  }
  const perms = all.map((s) => reorderNeurons(s));
  const moved = permuteCalibration(cal, perms);
  (moved.learned as MlpPredictor).useKernels(K);
  const inv = perms.map((p) => invertPermutation(p));
  let changed = 0;
  prompts.forEach((ids, i) => {
    select(moved.learned as MlpPredictor, moved.shared, ids).forEach((layers, j) => layers.forEach((rows, l) => {
      const want = Int32Array.from(sets[i]![j]![l]!, (n) => inv[l]![n]!).sort();
      if (rows.join() !== want.join()) changed++;
    }));
  });
  const fmt = (xs: (number | null)[]) => xs.map((x) => (x === null ? '-' : x.toFixed(1))).join(' / ');
  densities.forEach((d, j) => {
    const st = perDensity[j]!;
    console.log(`reorder: density ${d}, ${prompts.length} prompts: byte ranges per selection by layer ${fmt(st.map((s) => s.meanRanges(null)))} → ${fmt(st.map((s, l) => s.meanRanges(perms[l]!)))}`);
  });
  console.log(`reorder: ${changed} of ${prompts.length * densities.length * nLayers} layer selections differ after the permutation (ties at the k-th score)`);
  return {
    perms,
    method: `greedy co-selection chain over the learned predictor's selections at densities ${densities.join(', ')}`,
    density: Math.min(...densities),
    examples: prompts.length,
    calibrationSha256: createHash('sha256').update(jsonl).digest('hex'),
  };
}
