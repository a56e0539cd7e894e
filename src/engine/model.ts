/**
 * A loaded model: the engine plus tokenizer, sampler and stop strings, behind the public `Model`
 * interface (src/types.ts). Generation is one loop: tokenize, prefill the prompt in tiles, then sample
 * and decode one token at a time, streaming complete UTF-8 text.
 */
import { IfpruneError } from '../errors.ts';
import type { ModelConfig } from '../formats/model-spec.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import type { GenerateOptions, Model, Stats, Token, FinishReason } from '../types.ts';
import { TILE, type Engine } from './engine.ts';
import type { KernelBuild } from './simd.ts';
import { Sampler, DEFAULT_SAMPLING } from './sampler.ts';
import { StopMatcher } from './stop.ts';

export const DEFAULT_MAX_TOKENS = 256;

const now = () => performance.now();

/** Longest stretch of synchronous compute before generation lets the host's event loop run (timers,
 * AbortSignals, I/O, a UI): without it a signal fired by a timer or Ctrl-C could not land until the
 * end, because awaiting our own promises only runs microtasks. */
const YIELD_EVERY_MS = 16;
const g = globalThis as { setImmediate?: (f: () => void) => void };
/** A macrotask turn: setImmediate where it exists (Node, Deno, workerd), else setTimeout(0). */
const macrotask = (): Promise<void> => new Promise((resolve) => (g.setImmediate ? g.setImmediate(resolve) : setTimeout(resolve, 0)));

export class EngineModel implements Model {
  readonly config: ModelConfig;
  private busy = false;
  private closed = false;
  private last: Omit<Stats, 'loadMs' | 'bytesRead' | 'kernels' | 'contextLength'>;

  constructor(
    private readonly engine: Engine,
    readonly tokenizer: Tokenizer,
    private readonly info: { loadMs: number; bytesRead: () => number; kernels: KernelBuild; close: () => Promise<void> },
  ) {
    this.config = engine.config;
    this.last = { promptTokens: 0, generatedTokens: 0, ttftMs: 0, prefillMs: 0, prefillTokPerS: 0, decodeMs: 0, decodeTokPerS: 0, finishReason: 'none' };
  }

  stats(): Stats {
    return { ...this.last, loadMs: this.info.loadMs, bytesRead: this.info.bytesRead(), kernels: this.info.kernels, contextLength: this.engine.contextLength };
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
    const s = (this.last = { promptTokens: 0, generatedTokens: 0, ttftMs: 0, prefillMs: 0, prefillTokPerS: 0, decodeMs: 0, decodeTokPerS: 0, finishReason: 'none' as FinishReason });
    try {
      const ids = this.encode(prompt, opts);
      s.promptTokens = ids.length;
      if (ids.length >= engine.contextLength) {
        throw new IfpruneError(
          'context_overflow',
          `the prompt is ${ids.length} tokens but the context holds ${engine.contextLength} (prompt plus at least one new token must fit); ` +
            `shorten the prompt${engine.contextLength < this.config.seqLen ? ` or open the model with a larger contextLength (up to ${this.config.seqLen})` : ''}`,
        );
      }
      if (maxTokens === 0) return void (s.finishReason = 'length');
      engine.reset();
      const tp = now();
      let lastYield = tp;
      const breathe = async () => {
        if (now() - lastYield < YIELD_EVERY_MS) return;
        await macrotask();
        lastYield = now();
        if (signal?.aborted) throw new IfpruneError('aborted', 'generation was aborted');
      };
      let logits!: Float32Array;
      for (let i = 0; i < ids.length; i += TILE) {
        logits = engine.forward(ids.slice(i, i + TILE), signal);
        await breathe();
      }
      s.prefillMs = now() - tp;
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
