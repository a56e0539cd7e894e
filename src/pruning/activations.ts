/**
 * Neuron statistics of one prompt/response example, from one dense pass of the engine (the protocol of
 * the ifp-demo PROVENANCE "neuron specialisation check"):
 *
 *   ids = BOS + encode(prompt + response); P = |BOS + encode(prompt)|; N = |ids|
 *   scored positions P-1 .. N-2 (their logits predict the response tokens)
 *   prompt importance  = mean |h| over positions 1 .. P-1   (the prompt's tokens after BOS)
 *   oracle importance  = mean |h| over the scored positions (uses the response: an upper reference)
 *   all importance     = mean |h| over positions 1 .. N-1   (calibration text, for the static ranking)
 * h = silu(gate·x)·(up·x) per FFN neuron, per layer.
 */
import { IfpruneError } from '../errors.ts';
import type { Engine, FfnObserver } from '../engine/engine.ts';
import type { Tokenizer } from '../tokenizer/index.ts';

export interface Example {
  id?: string;
  domain?: string;
  prompt: string;
  response: string;
}

export interface ExampleTokens {
  ids: number[];
  /** Tokens of BOS + prompt. */
  promptLen: number;
}

export interface ExampleStats extends ExampleTokens {
  /** [layer] → n_ff mean |h| over the prompt tokens. */
  prompt: Float32Array[];
  /** [layer] → n_ff mean |h| over the scored positions. */
  oracle: Float32Array[];
  /** [layer] → n_ff sum |h| over positions 1..N-1 (divide by N-1 for the mean). */
  allSum: Float32Array[];
  /** Dense NLL (nats) of each response token. */
  denseNll: Float64Array;
}

export function tokenizeExample(tok: Tokenizer, ex: Example, contextLength: number): ExampleTokens {
  const p = tok.encode(ex.prompt, { bos: true });
  const ids = tok.encode(ex.prompt + ex.response, { bos: true });
  if (ids.length <= p.length) throw new IfpruneError('bad_option', `example ${ex.id ?? ''}: the response adds no tokens`);
  if (ids.length > contextLength) {
    throw new IfpruneError('context_overflow', `example ${ex.id ?? ''}: ${ids.length} tokens do not fit the context of ${contextLength}`);
  }
  return { ids, promptLen: p.length };
}

/** NLL of token `target` under logits (natural log). */
export function nll(logits: Float32Array, target: number): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - m);
  return -(logits[target]! - m - Math.log(z));
}

/** NLL of ids[from+1 .. N-1] given logits rows for positions from .. N-2 (row i = position from + i). */
export function responseNll(all: Float32Array, vocab: number, ids: number[], from: number): Float64Array {
  const out = new Float64Array(ids.length - 1 - from);
  for (let pos = from; pos < ids.length - 1; pos++) out[pos - from] = nll(all.subarray((pos - from) * vocab, (pos - from + 1) * vocab), ids[pos + 1]!);
  return out;
}

/**
 * Sums of |h| per layer and neuron over windows of positions, fed by an engine FfnObserver (`observe`).
 * A window is [from, to], inclusive, in positions counted from the first token the engine runs after
 * reset(). The one place that turns FFN activations into neuron importance: calibration, evaluation,
 * the prompt policy and neuron reordering all use it.
 */
export class NeuronImportance {
  /** [window][layer] → n_ff sums of |h| (f64: long texts add many small values). */
  readonly sums: Float64Array[][];
  /** Positions seen in each window. */
  readonly counts: number[];
  private base = 0; // position of the current tile's first token

  constructor(
    private readonly nLayers: number,
    private readonly nff: number,
    private readonly windows: readonly (readonly [from: number, to: number])[],
  ) {
    this.sums = windows.map(() => Array.from({ length: nLayers }, () => new Float64Array(nff)));
    this.counts = windows.map(() => 0);
  }

  readonly observe: FfnObserver = (l, h, T) => {
    const nff = this.nff;
    const active: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const pos = this.base + t;
      active.length = 0;
      this.windows.forEach(([from, to], w) => {
        if (pos >= from && pos <= to) {
          active.push(this.sums[w]![l]!);
          if (l === this.nLayers - 1) this.counts[w]!++;
        }
      });
      if (active.length === 0) continue;
      for (let j = 0; j < nff; j++) {
        const v = Math.abs(h[t * nff + j]!);
        for (const a of active) a[j] += v;
      }
    }
    if (l === this.nLayers - 1) this.base += T;
  };

  /** Window w's mean |h| per layer (sums over the positions it saw). */
  means(w: number): Float32Array[] {
    const n = Math.max(1, this.counts[w]!);
    return this.sums[w]!.map((s) => Float32Array.from(s, (v) => v / n));
  }
}

/** One dense pass over an example collecting its neuron statistics and dense response NLL. */
export function collectExample(engine: Engine, t: ExampleTokens): ExampleStats {
  const c = engine.config;
  const { ids, promptLen: P } = t;
  const N = ids.length;
  // prompt tokens after BOS; the scored positions; all text after BOS
  const imp = new NeuronImportance(c.nLayers, c.hiddenDim, [[1, P - 1], [P - 1, N - 2], [1, N - 1]]);
  engine.reset();
  const logits = engine.forwardAll(ids, { observe: imp.observe });
  return { ...t, prompt: imp.means(0), oracle: imp.means(1), allSum: imp.sums[2]!.map((s) => Float32Array.from(s)), denseNll: responseNll(logits.subarray((P - 1) * c.vocabSize), c.vocabSize, ids, P - 1) };
}

/**
 * Response NLL with each layer's FFN restricted to `sets[l]` at the scored positions (earlier prompt
 * positions stay dense: they are the prefill that fills the KV cache, as in the PyTorch protocol).
 */
export function maskedNll(engine: Engine, t: ExampleTokens, sets: ArrayLike<number>[]): Float64Array {
  const { ids, promptLen: P } = t;
  engine.reset();
  if (P - 1 > 0) engine.forward(ids.slice(0, P - 1));
  sets.forEach((s, l) => engine.setNeuronMask(l, s));
  try {
    const logits = engine.forwardAll(ids.slice(P - 1, ids.length - 1));
    return responseNll(logits, engine.config.vocabSize, ids, P - 1);
  } finally {
    for (let l = 0; l < sets.length; l++) engine.setNeuronMask(l, null);
  }
}
