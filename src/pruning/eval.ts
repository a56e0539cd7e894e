/**
 * Evaluation of pruning policies: for each domain, policy and density, the response perplexity with the
 * FFN restricted to the selected neurons, the recall of the oracle's top-k set, and the bytes and
 * requests a load plan for the selection costs (DESIGN §5; protocol in src/pruning/activations.ts).
 */
import { IfpruneError } from '../errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { collectExample, responseNll, tokenizeExample, type Example, type ExampleTokens } from './activations.ts';
import { neuronsAt, recall, selectLayers, topK } from './select.ts';
import { planLoad, type BundleLayout } from './plan.ts';
import type { LearnedPredictor } from './learned.ts';

export const POLICIES = ['dense', 'static', 'prompt', 'learned', 'oracle', 'random'] as const;
export type Policy = (typeof POLICIES)[number];

/** What calibration produced (src/pruning/calibrate.ts); each policy needs its part. */
export interface Calibration {
  /** Per layer, the instruction-independent ranking scores (mean |h| over calibration text). */
  static?: Float32Array[];
  /** Per layer, always-on neuron ids. */
  shared?: Int32Array[];
  learned?: LearnedPredictor;
}

export interface EvalRow {
  domain: string;
  policy: Policy;
  density: number;
  examples: number;
  tokens: number;
  /** Mean NLL per response token (nats) and its perplexity. */
  nll: number;
  ppl: number;
  /** ppl / dense ppl of the same domain. */
  pplRatio: number;
  /** Mean over examples and layers of |selected ∩ oracle top-k| / k. */
  recall: number;
  /** FFN bytes the load plan reads per example (mean), and as a fraction of all FFN bytes. */
  ffnBytes: number;
  ffnFraction: number;
  /** Requests (merged ranges) per example (mean). */
  requests: number;
}

export interface EvalOptions {
  policies: Policy[];
  densities: number[];
  calibration: Calibration;
  layout: BundleLayout;
  /** Read-through gap for load plans (bytes). */
  gapBytes?: number;
  /** Seed of the random policy. */
  seed?: number;
  /**
   * The protocol. false (default): what generation runs — static, learned, oracle and random mask the
   * prompt positions too (the runtime never loads their unselected rows, so the prefill is pruned),
   * prompt runs the prompt dense (its own dense prefill) and masks the response positions.
   * true (`--dense-prompt`, the protocol of the ifp-demo PROVENANCE): every policy runs the prompt dense
   * and masks only the scored positions.
   */
  densePrompt?: boolean;
  onProgress?: (done: number, total: number, domain: string) => void;
}

/** Throws bad_option when `policy` needs calibration the model file lacks. */
export function requireCalibration(policy: string, cal: Calibration): void {
  if (policy === 'static' && !cal.static) throw new IfpruneError('bad_option', 'the static policy needs calibration statistics: run `ifprune calibrate` on the model first');
  if (policy === 'learned' && !cal.learned) throw new IfpruneError('bad_option', 'the learned policy needs a trained predictor: run `ifprune calibrate` on the model first');
}

/** What a policy may read about one prompt: its ids (BOS included) and, from a dense pass, mean |h|. */
export interface PromptEvidence {
  promptIds: number[];
  /** Mean |h| over the prompt tokens (the prompt policy). */
  prompt?: Float32Array[];
  /** Mean |h| over the response positions (the oracle; evaluation only). */
  oracle?: Float32Array[];
}

/** The score vectors (per layer) a policy ranks neurons by: the one mapping used at run time and in eval. */
export function policyScores(policy: Exclude<Policy, 'dense'>, ev: PromptEvidence, cal: Calibration, rnd: () => number = Math.random): Float32Array[] {
  requireCalibration(policy, cal);
  const need = (x: Float32Array[] | undefined, what: string) => {
    if (!x) throw new IfpruneError('bad_option', `the ${policy} policy needs ${what}`);
    return x;
  };
  switch (policy) {
    case 'static':
      return cal.static!;
    case 'learned':
      return cal.learned!.predict(ev.promptIds);
    case 'prompt':
      return need(ev.prompt, "the prompt's FFN activations (a dense prefill)");
    case 'oracle':
      return need(ev.oracle, "the response's FFN activations");
    case 'random':
      return need(ev.prompt, 'the layer shapes').map((s) => Float32Array.from(s, () => rnd()));
  }
}

/**
 * The first position whose FFN is masked: P - 1 (the first scored position) under --dense-prompt;
 * otherwise 0 (BOS and the whole prompt pruned, as generation runs them), except for the prompt
 * policy, whose prefill (positions 0 .. P-1) is dense at run time because it reads every neuron.
 */
export function maskFrom(policy: Policy, promptLen: number, densePrompt: boolean): number {
  if (densePrompt) return promptLen - 1;
  return policy === 'prompt' ? promptLen : 0;
}

/**
 * Response NLL (scored positions P-1 .. N-2) with positions < `from` dense and positions >= `from`
 * restricted to `sets[l]` in every layer l. from = P - 1 is maskedNll of activations.ts.
 */
export function prunedNll(engine: Engine, t: ExampleTokens, sets: ArrayLike<number>[], from: number): Float64Array {
  const { ids, promptLen: P } = t;
  const N = ids.length;
  const V = engine.config.vocabSize;
  const all = new Float32Array((N - P) * V); // rows for positions P-1 .. N-2
  engine.reset();
  if (from > P - 1) {
    const dense = engine.forwardAll(ids.slice(0, from)); // positions 0 .. from-1
    all.set(dense.subarray((P - 1) * V));
  } else if (from > 0) engine.forward(ids.slice(0, from));
  if (from < N - 1) {
    sets.forEach((s, l) => engine.setNeuronMask(l, s));
    try {
      const masked = engine.forwardAll(ids.slice(from, N - 1)); // positions from .. N-2
      const skip = Math.max(0, P - 1 - from);
      all.set(masked.subarray(skip * V), Math.max(0, from - (P - 1)) * V);
    } finally {
      for (let l = 0; l < sets.length; l++) engine.setNeuronMask(l, null);
    }
  }
  return responseNll(all, V, ids, P - 1);
}

export function evaluate(engine: Engine, tok: Tokenizer, domains: Map<string, Example[]>, opts: EvalOptions): EvalRow[] {
  const c = engine.config;
  const nff = c.hiddenDim;
  const ffnTotal = c.nLayers * nff * opts.layout.rowBytes;
  const rows: EvalRow[] = [];
  const total = [...domains.values()].reduce((s, d) => s + d.length, 0);
  let done = 0;
  let seed = (opts.seed ?? 1) >>> 0;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (const [domain, examples] of domains) {
    type Acc = { nll: number; tokens: number; recall: number; bytes: number; requests: number };
    const acc = new Map<string, Acc>();
    const get = (p: Policy, d: number) => {
      const key = `${p}@${d}`;
      let a = acc.get(key);
      if (!a) acc.set(key, (a = { nll: 0, tokens: 0, recall: 0, bytes: 0, requests: 0 }));
      return a;
    };
    for (const ex of examples) {
      const t = tokenizeExample(tok, ex, engine.contextLength);
      const stats = collectExample(engine, t);
      const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
      for (const policy of opts.policies) {
        for (const density of policy === 'dense' ? [1] : opts.densities) {
          const a = get(policy, density);
          const k = neuronsAt(density, nff);
          let sets: Int32Array[];
          let lossSum: number;
          if (policy === 'dense') {
            sets = Array.from({ length: c.nLayers }, () => Int32Array.from({ length: nff }, (_, j) => j));
            lossSum = sum(stats.denseNll);
          } else {
            const shared = policy === 'oracle' || policy === 'random' ? undefined : opts.calibration.shared;
            sets = selectLayers(policyScores(policy, { promptIds: stats.ids.slice(0, stats.promptLen), prompt: stats.prompt, oracle: stats.oracle }, opts.calibration, rnd), k, shared);
            lossSum = sum(prunedNll(engine, t, sets, maskFrom(policy, t.promptLen, opts.densePrompt ?? false)));
          }
          a.nll += lossSum;
          a.tokens += stats.denseNll.length;
          let r = 0;
          for (let l = 0; l < c.nLayers; l++) r += recall(sets[l]!, topK(stats.oracle[l]!, sets[l]!.length));
          a.recall += r / c.nLayers;
          const plan = planLoad(opts.layout, sets, opts.gapBytes ?? 0);
          a.bytes += plan.readBytes;
          a.requests += plan.requests;
        }
      }
      opts.onProgress?.(++done, total, domain);
    }
    const dense = acc.get('dense@1');
    for (const [key, a] of acc) {
      const [policy, d] = key.split('@') as [Policy, string];
      const n = examples.length;
      const nllMean = a.nll / a.tokens;
      rows.push({
        domain,
        policy,
        density: Number(d),
        examples: n,
        tokens: a.tokens,
        nll: nllMean,
        ppl: Math.exp(nllMean),
        pplRatio: dense ? Math.exp(nllMean - dense.nll / dense.tokens) : NaN,
        recall: a.recall / n,
        ffnBytes: a.bytes / n,
        ffnFraction: a.bytes / n / ffnTotal,
        requests: a.requests / n,
      });
    }
  }
  return rows;
}
