/**
 * Co-selection statistics for neuron reordering (reorder.ts), from dense passes of the engine over
 * calibration examples: which neurons an instruction would select together.
 *
 * Per example (the protocol of src/pruning's oracle, issue 5):
 *   {prompt, response}: ids = BOS + encode(prompt + response), P = |BOS + encode(prompt)|;
 *                       importance_j = Σ |h_j(t)| over the scored positions P-1 .. N-2
 *   {text}:             ids = BOS + encode(text); importance_j = Σ |h_j(t)| over positions 1 .. N-1
 *   h_j = silu(gate_j·x)·(up_j·x); the selection is the top round(density · n_ff) neurons by importance,
 *   one selection per example and layer, added to that layer's CoSelection.
 */
import { IfpruneError } from '../errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { CoSelection } from './reorder.ts';
import { NeuronImportance } from '../pruning/activations.ts';
import { topK } from '../pruning/select.ts';

export type CalibrationExample = { prompt: string; response: string; id?: string; domain?: string } | { text: string };

/** Default fraction of neurons one selection holds (issue 5's lower density). */
export const DEFAULT_REORDER_DENSITY = 0.25;

/** Parses JSONL calibration data: one {prompt, response} (optional string id, domain kept) or {text} object per non-empty line. */
export function parseCalibrationJsonl(text: string, name = 'calibration data'): CalibrationExample[] {
  const out: CalibrationExample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (cause) {
      throw new IfpruneError('corrupt', `${name} line ${i + 1} is not JSON (${(cause as Error).message})`, { cause });
    }
    const o = v as Record<string, unknown>;
    if (o && typeof o.prompt === 'string' && typeof o.response === 'string') {
      out.push({ prompt: o.prompt, response: o.response, ...(typeof o.id === 'string' ? { id: o.id } : {}), ...(typeof o.domain === 'string' ? { domain: o.domain } : {}) });
    } else if (o && typeof o.text === 'string') {
      out.push({ text: o.text });
    } else {
      throw new IfpruneError('corrupt', `${name} line ${i + 1}: expected {"prompt": ..., "response": ...} or {"text": ...}`);
    }
  }
  if (out.length === 0) throw new IfpruneError('bad_option', `${name} holds no examples`);
  return out;
}

/** `n` examples spread evenly over `all` (all of them when there are at most n). */
export function spreadSample<T>(all: T[], n: number): T[] {
  if (all.length <= n) return all;
  return Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]!);
}

export interface CoSelectionOptions {
  density?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs each example through the dense engine and returns one CoSelection per layer (neuron ids in the
 * engine's file order). Examples longer than the engine's context are cut to it.
 */
export async function collectCoSelection(engine: Engine, tokenizer: Tokenizer, examples: CalibrationExample[], opts: CoSelectionOptions = {}): Promise<CoSelection[]> {
  const c = engine.config;
  const density = opts.density ?? DEFAULT_REORDER_DENSITY;
  if (!(density > 0 && density < 1)) throw new IfpruneError('bad_option', `reorder density ${density} must be in (0, 1)`);
  const k = Math.max(1, Math.round(density * c.hiddenDim));
  const stats = Array.from({ length: c.nLayers }, () => new CoSelection(c.hiddenDim));
  for (const [e, ex] of examples.entries()) {
    opts.signal?.throwIfAborted();
    let ids: number[];
    let from: number; // first position counted
    let to: number; // last position counted
    if ('text' in ex) {
      ids = tokenizer.encode(ex.text, { bos: true }).slice(0, engine.contextLength);
      from = 1;
      to = ids.length - 1;
    } else {
      const p = tokenizer.encode(ex.prompt, { bos: true }).length;
      ids = tokenizer.encode(ex.prompt + ex.response, { bos: true }).slice(0, engine.contextLength);
      from = Math.max(0, p - 1);
      to = ids.length - 2;
    }
    if (to < from) continue; // nothing to score (an empty response or text)
    const importance = new NeuronImportance(c.nLayers, c.hiddenDim, [[from, to]]);
    engine.reset();
    engine.forwardObserved(ids, importance.observe, opts.signal);
    for (let l = 0; l < c.nLayers; l++) stats[l]!.add(topK(importance.sums[0]![l]!, k));
    opts.onProgress?.(e + 1, examples.length);
    if ((e & 7) === 7) await new Promise((r) => setTimeout(r, 0)); // let progress output and signals through
  }
  return stats;
}
