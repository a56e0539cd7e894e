/**
 * Calibration (`ifprune calibrate`): run the dense model over prompt/response pairs, record each neuron's
 * importance, and fit what the predictors need:
 *   static   per layer, mean |h| over all calibration text, each domain weighted equally (one ranking for
 *            every instruction: the classic structured-pruning baseline);
 *   shared   per layer, the top `sharedFraction` of the static ranking, always loaded (optional);
 *   learned  the deep-sets MLP (learned.ts) trained to predict each example's oracle importance (mean |h|
 *            over its response positions) from its prompt tokens alone.
 * A held-out share of the examples measures how well each predictor recovers the oracle's top 25%.
 */
import type { Engine } from '../engine/engine.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { collectExample, tokenizeExample, type Example } from './activations.ts';
import { MlpPredictor, type TrainExample } from './learned.ts';
import { neuronsAt, recall, topK } from './select.ts';
import type { Calibration } from './eval.ts';

export interface CalibrateOptions {
  /** Token embeddings (vocab, dim) f32, to initialise the learned predictor's token vectors. */
  tokenEmbeddings: Float32Array;
  /** Share of neurons per layer kept always on (default 0). */
  sharedFraction?: number;
  /** Share of examples held out to measure recall (default 0.1). */
  heldout?: number;
  epochs?: number;
  tokenDim?: number;
  hidden?: number;
  window?: number;
  seed?: number;
  /** Skip the learned predictor (static ranking only). */
  noLearned?: boolean;
  onProgress?: (phase: 'collect' | 'train', done: number, total: number, note?: string) => void;
}

export interface CalibrateReport {
  examples: number;
  trainExamples: number;
  heldoutExamples: number;
  /** Held-out recall of the oracle top 25% per predictor (mean over examples and layers). */
  recall: { static: number; prompt: number; learned: number | null };
  trainLoss: number | null;
  collectSeconds: number;
  trainSeconds: number;
}

export function calibrate(engine: Engine, tok: Tokenizer, domains: Map<string, Example[]>, opts: CalibrateOptions): { calibration: Calibration; report: CalibrateReport } {
  const c = engine.config;
  const nff = c.hiddenDim;
  const L = c.nLayers;
  const heldEvery = Math.round(1 / (opts.heldout ?? 0.1));
  const t0 = performance.now();
  const total = [...domains.values()].reduce((s, d) => s + d.length, 0);
  let done = 0;
  const staticSum = Array.from({ length: L }, () => new Float64Array(nff));
  const train: TrainExample[] = [];
  const held: { promptIds: number[]; oracle: Float32Array[]; prompt: Float32Array[] }[] = [];
  for (const [, examples] of domains) {
    const domSum = Array.from({ length: L }, () => new Float64Array(nff));
    let domTokens = 0;
    examples.forEach((ex, i) => {
      const s = collectExample(engine, tokenizeExample(tok, ex, engine.contextLength));
      domTokens += s.ids.length - 1;
      s.allSum.forEach((a, l) => {
        const d = domSum[l]!;
        for (let j = 0; j < nff; j++) d[j] += a[j]!;
      });
      const promptIds = s.ids.slice(0, s.promptLen);
      if (i % heldEvery === heldEvery - 1) held.push({ promptIds, oracle: s.oracle, prompt: s.prompt });
      else train.push({ promptIds, target: s.oracle });
      opts.onProgress?.('collect', ++done, total);
    });
    for (let l = 0; l < L; l++) for (let j = 0; j < nff; j++) staticSum[l]![j] += domSum[l]![j]! / Math.max(1, domTokens) / domains.size;
  }
  const collectSeconds = (performance.now() - t0) / 1000;
  const calibration: Calibration = { static: staticSum.map((a) => Float32Array.from(a)) };
  const sharedK = opts.sharedFraction ? neuronsAt(opts.sharedFraction, nff) : 0;
  if (sharedK > 0) calibration.shared = calibration.static!.map((s) => topK(s, sharedK));

  const t1 = performance.now();
  let trainLoss: number | null = null;
  if (!opts.noLearned && train.length > 0) {
    const m = MlpPredictor.init(
      { vocab: c.vocabSize, nLayers: L, nff, tokenDim: opts.tokenDim ?? 128, hidden: opts.hidden ?? 256, window: opts.window ?? 16 },
      opts.tokenEmbeddings,
      c.dim,
      opts.seed ?? 1,
    );
    const epochs = opts.epochs ?? 8;
    trainLoss = m.train(train, { epochs, seed: opts.seed, onProgress: (f) => opts.onProgress?.('train', Math.round(f * 1000), 1000) });
    calibration.learned = m;
  }
  const trainSeconds = (performance.now() - t1) / 1000;

  const k = neuronsAt(0.25, nff);
  const rec = (scores: (h: (typeof held)[number]) => Float32Array[]) => {
    if (held.length === 0) return NaN;
    let r = 0;
    for (const h of held) {
      const s = scores(h);
      for (let l = 0; l < L; l++) r += recall(topK(s[l]!, k), topK(h.oracle[l]!, k));
    }
    return r / held.length / L;
  };
  return {
    calibration,
    report: {
      examples: total,
      trainExamples: train.length,
      heldoutExamples: held.length,
      recall: { static: rec(() => calibration.static!), prompt: rec((h) => h.prompt), learned: calibration.learned ? rec((h) => calibration.learned!.predict(h.promptIds)) : null },
      trainLoss,
      collectSeconds,
      trainSeconds,
    },
  };
}
