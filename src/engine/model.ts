/**
 * A loaded model: the engine plus tokenizer, sampler and stop strings, behind the public `Model`
 * interface (src/types.ts). Generation is one loop: tokenize, prefill the prompt in tiles, then sample
 * and decode one token at a time, streaming complete UTF-8 text.
 */
import { IfpruneError } from '../errors.ts';
import type { ModelConfig } from '../formats/model-spec.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { GenerateOptions, Model, Stats, Token, FinishReason, InstructOptions, Instruction, LoadReport, PolicyName } from '../types.ts';
import type { Pruner } from '../pruning/pruner.ts';
import { NeuronImportance } from '../pruning/activations.ts';
import { TILE, type Engine } from './engine.ts';
import type { KernelBuild } from './simd.ts';
import { Sampler, DEFAULT_SAMPLING } from './sampler.ts';
import { StopMatcher } from './stop.ts';

export const DEFAULT_MAX_TOKENS = 256;

type RunStats = Omit<Stats, 'loadMs' | 'bytesRead' | 'kernels' | 'contextLength' | 'ffnBytesTotal' | 'memoryBytes'>;

function freshStats(): RunStats {
  return {
    promptTokens: 0, generatedTokens: 0, ttftMs: 0, prefillMs: 0, prefillTokPerS: 0, decodeMs: 0, decodeTokPerS: 0, finishReason: 'none',
    density: 1, policy: 'dense', tokenizeMs: 0, predictMs: 0, loadNeuronsMs: 0, neuronBytesRead: 0, neuronRequests: 0, neuronCacheHits: 0,
  };
}

const now = () => performance.now();

/** Longest stretch of synchronous compute before generation lets the host's event loop run (timers,
 * AbortSignals, I/O, a UI): without it a signal fired by a timer or Ctrl-C could not land until the
 * end, because awaiting our own promises only runs microtasks. */
const YIELD_EVERY_MS = 16;
const g = globalThis as { setImmediate?: (f: () => void) => void };
const immediate = (): Promise<void> => new Promise((resolve) => g.setImmediate!(resolve));
/**
 * A full event-loop turn, timers included: setImmediate where it exists (Node, Deno, workerd), twice —
 * an immediate queued from the check phase runs in the next loop iteration, after its timers phase,
 * while a single one may resume before any timer has run; else setTimeout(0).
 */
const macrotask = async (): Promise<void> => {
  if (!g.setImmediate) return new Promise((resolve) => setTimeout(resolve, 0));
  await immediate();
  await immediate();
};

export class EngineModel implements Model {
  readonly config: ModelConfig;
  private busy = false;
  private closed = false;
  private last: RunStats;
  /** Whether some neurons are active (selective models start with none). */
  private loaded: boolean;

  constructor(
    private readonly engine: Engine,
    readonly tokenizer: Tokenizer,
    private readonly pruner: Pruner,
    private readonly info: { loadMs: number; bytesRead: () => number; kernels: KernelBuild; close: () => Promise<void> },
  ) {
    this.config = engine.config;
    this.last = freshStats();
    this.loaded = !pruner.selective;
  }

  stats(): Stats {
    const layout = this.pruner.layout;
    return {
      ...this.last,
      loadMs: this.info.loadMs,
      bytesRead: this.info.bytesRead(),
      kernels: this.info.kernels,
      contextLength: this.engine.contextLength,
      ffnBytesTotal: layout ? layout.offsets.length * layout.rows * layout.rowBytes : 0,
      memoryBytes: this.engine.kernels.mark(),
    };
  }

  async instruct(prompt: string, opts: InstructOptions): Promise<Instruction> {
    const policy = opts.policy ?? this.pruner.defaultPolicy();
    this.pruner.check(policy, opts.density);
    const ids = this.encode(prompt, opts);
    const c = await this.choose(ids, policy, opts.density);
    return this.pruner.instruction(policy, opts.density, c.neurons, ids, c.predictMs);
  }

  /**
   * The neurons `policy` picks for prompt `ids`. The prompt policy needs a dense pass over the prompt
   * first (`dense`: its logits, time and the load of every neuron), which leaves the prompt in the KV cache.
   */
  private async choose(ids: number[], policy: PolicyName, density: number, signal?: AbortSignal): Promise<{ neurons: Int32Array[]; predictMs: number; dense?: { logits: Float32Array; ms: number; load: LoadReport } }> {
    const t0 = now();
    if (policy !== 'prompt' || density >= 1) return { neurons: this.pruner.select(policy, density, ids), predictMs: now() - t0 };
    const dense = await this.promptScores(ids, signal);
    const neurons = this.pruner.select(policy, density, ids, dense.scores);
    return { neurons, predictMs: now() - t0 - dense.ms - dense.load.ms, dense };
  }

  async load(instruction: Instruction, signal?: AbortSignal): Promise<LoadReport> {
    if (this.busy) throw new IfpruneError('bad_option', 'cannot load neurons while generating');
    const r = await this.pruner.activate(instruction.neurons, signal);
    this.loaded = true;
    this.last.density = this.pruner.density(instruction.neurons);
    this.last.policy = instruction.policy;
    return r;
  }

  /**
   * GRIFFIN-style scores: mean |h| over the prompt in a dense pass (every neuron active first). Leaves
   * the prompt in the KV cache and returns its last logits (a copy), so generation can go on from it.
   */
  private async promptScores(ids: number[], signal?: AbortSignal): Promise<{ scores: Float32Array[]; logits: Float32Array; ms: number; load: LoadReport }> {
    const load = await this.pruner.activate(this.pruner.all(), signal);
    this.loaded = true;
    const t0 = now();
    const imp = new NeuronImportance(this.config.nLayers, this.config.hiddenDim, [[1, Infinity]]); // after BOS
    this.engine.reset();
    const logits = Float32Array.from(this.engine.forwardObserved(ids, imp.observe, signal));
    return { scores: imp.means(0), logits, ms: now() - t0, load };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.info.close();
  }

  /** Token ids of a prompt as generate() would feed them (BOS per the tokenizer or opts.bos). */
  encode(prompt: string, opts: Pick<GenerateOptions, 'bos'> = {}): number[] {
    const ids = this.tokenizer.encode(prompt, { bos: opts.bos });
    return ids.length > 0 ? ids : [this.tokenizer.bosId];
  }

  generate(prompt: string, opts: GenerateOptions = {}): AsyncIterable<Token> {
    if (typeof prompt !== 'string') throw new IfpruneError('bad_option', `prompt must be a string, got ${typeof prompt}`);
    const maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new IfpruneError('bad_option', `maxTokens = ${maxTokens}: expected an integer ≥ 0`);
    // Validates temperature / topP / topK / seed before anything runs.
    const sampler = new Sampler(
      {
        temperature: opts.temperature ?? DEFAULT_SAMPLING.temperature,
        topP: opts.topP ?? DEFAULT_SAMPLING.topP,
        topK: opts.topK ?? DEFAULT_SAMPLING.topK,
        seed: opts.seed ?? DEFAULT_SAMPLING.seed,
      },
      this.config.vocabSize,
    );
    const stop = new StopMatcher(opts.stop ?? []);
    return this.run(prompt, maxTokens, sampler, stop, opts);
  }

  private async *run(prompt: string, maxTokens: number, sampler: Sampler, stop: StopMatcher, opts: GenerateOptions): AsyncGenerator<Token> {
    if (this.closed) throw new IfpruneError('bad_option', 'the model is closed');
    if (this.busy) throw new IfpruneError('bad_option', 'this model is already generating; finish or break out of the other generate() loop first (one generation at a time per model)');
    this.busy = true;
    const { engine, tokenizer } = this;
    const signal = opts.signal;
    const t0 = now();
    const s = (this.last = { ...freshStats(), density: this.last.density, policy: this.last.policy });
    try {
      const ids = this.encode(prompt, opts);
      s.tokenizeMs = now() - t0;
      s.promptTokens = ids.length;
      if (ids.length >= engine.contextLength) {
        throw new IfpruneError(
          'context_overflow',
          `the prompt is ${ids.length} tokens but the context holds ${engine.contextLength} (prompt plus at least one new token must fit); ` +
            `shorten the prompt${engine.contextLength < this.config.seqLen ? ` or open the model with a larger contextLength (up to ${this.config.seqLen})` : ''}`,
        );
      }
      if (maxTokens === 0) return void (s.finishReason = 'length');
      // Pruning: choose and load neurons for this prompt (or all of them for a selective model that
      // has none loaded yet). GRIFFIN-style 'prompt' reuses its dense prefill's KV cache and logits.
      let prefilled: Float32Array | null = null;
      const density = opts.density ?? (this.loaded ? undefined : 1);
      if (density !== undefined) {
        const policy: PolicyName = opts.policy ?? (density >= 1 ? 'dense' : this.pruner.defaultPolicy());
        this.pruner.check(policy, density);
        const { neurons, predictMs, dense } = await this.choose(ids, policy, density, signal);
        s.predictMs = predictMs;
        if (dense) {
          prefilled = dense.logits;
          s.prefillMs = dense.ms;
          // The dense pass needed every neuron: its load counts as this generation's loading.
          s.loadNeuronsMs += dense.load.ms;
          s.neuronBytesRead += dense.load.bytesRead;
          s.neuronRequests += dense.load.requests;
        }
        const r = await this.pruner.activate(neurons, signal);
        this.loaded = true;
        s.loadNeuronsMs += r.ms;
        s.neuronBytesRead += r.bytesRead;
        s.neuronRequests += r.requests;
        s.neuronCacheHits = r.cacheHits;
        s.density = this.pruner.density(neurons);
        s.policy = policy;
      }
      const tp = now();
      let lastYield = tp;
      const breathe = async () => {
        if (now() - lastYield < YIELD_EVERY_MS) return;
        await macrotask();
        lastYield = now();
        if (signal?.aborted) throw new IfpruneError('aborted', 'generation was aborted');
      };
      let logits!: Float32Array;
      if (prefilled) logits = prefilled;
      else {
        engine.reset();
        for (let i = 0; i < ids.length; i += TILE) {
          logits = engine.forward(ids.slice(i, i + TILE), signal);
          await breathe();
        }
        s.prefillMs = now() - tp;
      }
      s.prefillTokPerS = ids.length / (s.prefillMs / 1000);
      // The first piece loses SentencePiece's dummy-prefix space only when it starts the text.
      const decoder = tokenizer.streamDecoder({ atStart: ids.every((id) => tokenizer.isControl(id)) });
      let decodeStart = 0;
      let decodeSteps = 0;
      for (;;) {
        if (signal?.aborted) throw new IfpruneError('aborted', 'generation was aborted');
        const next = sampler.sample(logits);
        if (s.generatedTokens === 0) s.ttftMs = now() - t0;
        if (next === tokenizer.eosId || next === tokenizer.bosId) {
          s.finishReason = 'eos';
          break;
        }
        s.generatedTokens++;
        const out = stop.push({ id: next, text: decoder.push(next) });
        for (const tok of out.emit) yield tok;
        if (out.stopped) {
          s.finishReason = 'stop';
          return;
        }
        if (s.generatedTokens >= maxTokens) {
          s.finishReason = 'length';
          break;
        }
        if (engine.pos >= engine.contextLength) {
          s.finishReason = 'context';
          break;
        }
        if (decodeStart === 0) decodeStart = now();
        await breathe();
        logits = engine.forward([next], signal);
        decodeSteps++;
        s.decodeMs = now() - decodeStart;
        s.decodeTokPerS = decodeSteps / (s.decodeMs / 1000);
      }
      // Text of a character cut off by the end of generation is dropped with its incomplete bytes.
      decoder.flush();
      for (const tok of stop.flush()) yield tok;
    } catch (e) {
      if (e instanceof IfpruneError && e.code === 'aborted') s.finishReason = 'aborted';
      throw e;
    } finally {
      this.busy = false;
    }
  }
}
