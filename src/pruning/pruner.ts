/**
 * The pruning side of a loaded model: picks neurons for a prompt with a policy and makes them the
 * engine's active FFN, either by fetching them (selective models: NeuronLoader) or by packing them from
 * the weights already in memory (dense models: Engine.setNeuronMask).
 */
import { IfpruneError } from '../errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { Instruction, LoadReport, PolicyName } from '../types.ts';
import { policyScores, requireCalibration, type Calibration } from './eval.ts';
import type { NeuronLoader } from './loader.ts';
import { planLoad, type BundleLayout } from './plan.ts';
import { neuronsAt, selectLayers } from './select.ts';

export const RUNTIME_POLICIES: readonly PolicyName[] = ['dense', 'static', 'prompt', 'learned'];

export class Pruner {
  constructor(
    private readonly engine: Engine,
    readonly calibration: Calibration,
    /** Present for selective models. */
    private readonly loader: NeuronLoader | null,
    readonly layout: BundleLayout | null,
    private readonly gapBytes: number,
  ) {}

  get selective(): boolean {
    return this.loader !== null;
  }

  /** The default policy: the learned predictor if the file has one, else static, else prompt. */
  defaultPolicy(): PolicyName {
    return this.calibration.learned ? 'learned' : this.calibration.static ? 'static' : 'prompt';
  }

  check(policy: PolicyName, density: number): void {
    if (!RUNTIME_POLICIES.includes(policy)) throw new IfpruneError('bad_option', `policy "${policy}" is not one of ${RUNTIME_POLICIES.join(', ')}`);
    if (!(density > 0 && density <= 1)) throw new IfpruneError('bad_option', `density = ${density}: expected a number in (0, 1]`);
    requireCalibration(policy, this.calibration);
  }

  /** All rows of every layer. */
  all(): Int32Array[] {
    const c = this.engine.config;
    return Array.from({ length: c.nLayers }, () => Int32Array.from({ length: c.hiddenDim }, (_, j) => j));
  }

  /** Neurons from scores (static/learned/prompt), k per layer, after the always-on set. */
  select(policy: PolicyName, density: number, promptIds: number[], promptScores?: Float32Array[]): Int32Array[] {
    const nff = this.engine.config.hiddenDim;
    if (policy === 'dense' || density >= 1) return this.all();
    const scores = policyScores(policy, { promptIds, prompt: promptScores }, this.calibration);
    return selectLayers(scores, neuronsAt(density, nff), this.calibration.shared);
  }

  instruction(policy: PolicyName, density: number, neurons: Int32Array[], promptIds: number[], predictMs: number): Instruction {
    const plan = this.layout ? planLoad(this.layout, neurons, this.gapBytes) : { requests: 0, readBytes: 0, selectedBytes: 0 };
    return { policy, density, neurons, promptIds, predictMs, plan: { requests: plan.requests, readBytes: plan.readBytes, selectedBytes: plan.selectedBytes } };
  }

  /** Makes `sets` the active FFN. */
  async activate(sets: Int32Array[], signal?: AbortSignal): Promise<LoadReport> {
    if (this.loader) return this.loader.load(sets, signal);
    const t0 = performance.now();
    const dense = sets.every((s) => s.length === this.engine.config.hiddenDim);
    sets.forEach((s, l) => this.engine.setNeuronMask(l, dense ? null : s));
    const rows = sets.reduce((n, s) => n + s.length, 0);
    return { rows, cacheHits: rows, rowsRead: 0, requests: 0, bytesRead: 0, ms: performance.now() - t0 };
  }

  /** Mean share of neurons kept per layer. */
  density(sets: Int32Array[]): number {
    return sets.reduce((s, a) => s + a.length, 0) / sets.length / this.engine.config.hiddenDim;
  }
}
