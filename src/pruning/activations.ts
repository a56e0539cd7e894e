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
import type { Engine } from '../engine/engine.ts';
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

/** One dense pass over an example collecting its neuron statistics and dense response NLL. */
export function collectExample(engine: Engine, t: ExampleTokens): ExampleStats {
  const c = engine.config;
  const nff = c.hiddenDim;
  const { ids, promptLen: P } = t;
  const N = ids.length;
  const mk = () => Array.from({ length: c.nLayers }, () => new Float32Array(nff));
  const prompt = mk();
  const oracle = mk();
  const allSum = mk();
  let base = 0; // position of the tile's first token
  engine.reset();
  const logits = engine.forwardAll(ids, {
    observe: (l, h, T) => {
      for (let t = 0; t < T; t++) {
        const pos = base + t;
        if (pos === 0) continue; // BOS
        const row = h.subarray(t * nff, (t + 1) * nff);
        const inPrompt = pos <= P - 1;
        const scored = pos >= P - 1 && pos <= N - 2;
        const a = allSum[l]!;
        const pr = prompt[l]!;
        const or = oracle[l]!;
        for (let j = 0; j < nff; j++) {
          const v = Math.abs(row[j]!);
          a[j] += v;
          if (inPrompt) pr[j] += v;
          if (scored) or[j] += v;
        }
      }
      if (l === c.nLayers - 1) base += T;
    },
  });
  for (let l = 0; l < c.nLayers; l++) {
    scale(prompt[l]!, 1 / Math.max(1, P - 1));
    scale(oracle[l]!, 1 / (N - P));
  }
  return { ...t, prompt, oracle, allSum, denseNll: responseNll(logits.subarray((P - 1) * c.vocabSize), c.vocabSize, ids, P - 1) };
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

function scale(a: Float32Array, f: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= f;
}
