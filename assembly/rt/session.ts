// A model session: the whole runtime behind one object, driven by any host through phases that return
// DONE, NEED_IO or FAILED (assembly/rt/io.ts). The host's only work is I/O: when a phase returns NEED_IO
// it reads every listed need (file, offset, length → wasm address) and calls resume().
//
//   openHeader()           (optional) the header phase alone: header window(s) → parse → ifprune info
//   open()                 header window(s) → parse (GGUF or llama2.c) → tokenizer (the file's, or a
//                          llama2.c tokenizer.bin as FILE_TOKENIZER) → plan the core (embeddings, attention,
//                          norms, classifier; every FFN weight unless selective) and the predictor →
//                          read, verify, convert → ready
//   instruct(prompt, …)    tokenize, choose neurons with a policy (the 'prompt' policy first loads every
//                          neuron and runs a dense pass), and plan their load (requests, bytes)
//   load()                 the chosen neurons: fetch the rows the neuron cache lacks (selective) or pack
//                          them from memory (dense), then make them each layer's active FFN
//   begin(prompt, g)       a generation: tokenize, (with a density) choose and load neurons
//   step()                 one prefill tile or one sampled token; `emitted` holds the text to print
//
// The semantics (defaults, stop rules, stats, error codes and messages) are those of the TypeScript
// Model they replace (src/engine/model.ts, src/pruning/pruner.ts, src/index.ts).
import { fail, failed, failContext, clearError } from './error';
import { DONE, NEED_IO, FAILED, FILE_MODEL, FILE_TOKENIZER, need, needs, clearNeeds } from './io';
import { ModelSpec, IfpruneInfo } from './spec';
import { parseModelHeader, parseTokenizerBin, headerNeed } from './model-file';
import { readIfpruneInfo } from './ifprune';
import { TensorLoader } from './tensors';
import { Tokenizer, StreamDecoder } from './tokenizer';
import { Sampler, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_TOP_K, DEFAULT_SEED } from './sampler';
import { StopMatcher } from './stop';
import { Engine, TILE } from './engine';
import { Predictor, StaticRanking } from './predictor';
import { neuronsAt, selectLayers, allNeurons } from './select';
import { planLoad } from './plan';
import { NeuronCache } from './neurons';
import { now } from './clock';
import { JsonWriter, jsonNumber } from './json';

export const STEP_END: i32 = 0;
export const STEP_MORE: i32 = 1;

/** First header window: most headers fit (a 32k-token vocabulary with scores is ~0.6 MB). */
const HEADER_WINDOW: u64 = 256 << 10;
export const DEFAULT_MAX_TOKENS: i32 = 256;
/** Default read-through gap between needed neuron rows, in rows (src/pruning/plan.ts DEFAULT_GAP_ROWS). */
export const DEFAULT_GAP_ROWS: i32 = 0;

export class OpenOptions {
  fileName: string = 'model';
  /** KV-cache positions (0: the model's context, at most DEFAULT_CONTEXT). */
  contextLength: i32 = 0;
  /** 'dense', 'selective' or 'auto' (selective for ifprune bundled files). */
  ffn: string = 'dense';
  /** Bytes of wasm memory the model may use in all (0: no limit). */
  memoryBudget: f64 = 0;
  /** Read-through gap between needed neuron rows in bytes (-1: the default). */
  gapBytes: i32 = -1;
  /** > 0: a llama2.c tokenizer.bin of this size is given as FILE_TOKENIZER. */
  tokenizerFileSize: u64 = 0;
  tokenizerName: string = 'tokenizer.bin';
  /** 'relaxed', 'simd' or 'scalar': the build the host loaded (reported in stats). */
  kernels: string = ASC_FEATURE_RELAXED_SIMD ? 'relaxed' : ASC_FEATURE_SIMD ? 'simd' : 'scalar';
}

export class GenOptions {
  maxTokens: i32 = DEFAULT_MAX_TOKENS;
  /** NaN / -1: the default. */
  temperature: f64 = NaN;
  topP: f64 = NaN;
  topK: i32 = -1;
  seed: f64 = NaN;
  stop: Array<string> = [];
  /** -1: the tokenizer's rule; 0 no BOS; 1 BOS. */
  bos: i32 = -1;
  /** Read special-token text in the prompt (chat markers) as those tokens (Tokenizer.encode). */
  special: bool = false;
  /** NaN: no pruning request (a selective model with nothing loaded loads every neuron). */
  density: f64 = NaN;
  /** '': the default policy. */
  policy: string = '';
}

export class EmittedToken {
  constructor(public id: i32, public text: string) {}
}

/** The Stats of src/types.ts (times in ms). */
export class Stats {
  loadMs: f64 = 0;
  bytesRead: f64 = 0;
  promptTokens: i32 = 0;
  generatedTokens: i32 = 0;
  ttftMs: f64 = 0;
  prefillMs: f64 = 0;
  prefillTokPerS: f64 = 0;
  decodeMs: f64 = 0;
  decodeTokPerS: f64 = 0;
  kernels: string = '';
  contextLength: i32 = 0;
  finishReason: string = 'none';
  density: f64 = 1;
  policy: string = 'dense';
  tokenizeMs: f64 = 0;
  predictMs: f64 = 0;
  loadNeuronsMs: f64 = 0;
  neuronBytesRead: f64 = 0;
  neuronRequests: i32 = 0;
  neuronCacheHits: i32 = 0;
  ffnBytesTotal: f64 = 0;
  memoryBytes: f64 = 0;

  /** A fresh run's stats, keeping the pruning state (density, policy) of the last load. */
  fresh(): Stats {
    const s = new Stats();
    s.loadMs = this.loadMs;
    s.bytesRead = this.bytesRead;
    s.kernels = this.kernels;
    s.contextLength = this.contextLength;
    s.ffnBytesTotal = this.ffnBytesTotal;
    s.memoryBytes = this.memoryBytes;
    s.density = this.density;
    s.policy = this.policy;
    return s;
  }

  toJson(): string {
    const w = new JsonWriter();
    w.begin();
    w.num('loadMs', this.loadMs);
    w.num('bytesRead', this.bytesRead);
    w.num('promptTokens', <f64>this.promptTokens);
    w.num('generatedTokens', <f64>this.generatedTokens);
    w.num('ttftMs', this.ttftMs);
    w.num('prefillMs', this.prefillMs);
    w.num('prefillTokPerS', this.prefillTokPerS);
    w.num('decodeMs', this.decodeMs);
    w.num('decodeTokPerS', this.decodeTokPerS);
    w.str('kernels', this.kernels);
    w.num('contextLength', <f64>this.contextLength);
    w.str('finishReason', this.finishReason);
    w.num('density', this.density);
    w.str('policy', this.policy);
    w.num('tokenizeMs', this.tokenizeMs);
    w.num('predictMs', this.predictMs);
    w.num('loadNeuronsMs', this.loadNeuronsMs);
    w.num('neuronBytesRead', this.neuronBytesRead);
    w.num('neuronRequests', <f64>this.neuronRequests);
    w.num('neuronCacheHits', <f64>this.neuronCacheHits);
    w.num('ffnBytesTotal', this.ffnBytesTotal);
    w.num('memoryBytes', this.memoryBytes);
    return w.end();
  }
}

/** The neurons chosen for one prompt and what loading them from scratch costs (src/types.ts Instruction). */
export class Instruction {
  policy: string = 'dense';
  density: f64 = 1;
  neurons: Array<Int32Array> = [];
  promptIds: Array<i32> = [];
  predictMs: f64 = 0;
  requests: i32 = 0;
  readBytes: f64 = 0;
  selectedBytes: f64 = 0;

  /** {policy, density, promptIds, predictMs, plan: {requests, readBytes, selectedBytes}} (neurons apart). */
  toJson(): string {
    const w = new JsonWriter();
    w.begin();
    w.str('policy', this.policy);
    w.num('density', this.density);
    w.beginArray('promptIds');
    for (let i = 0; i < this.promptIds.length; i++) w.num('', this.promptIds[i]);
    w.endArray();
    w.num('predictMs', this.predictMs);
    w.begin('plan');
    w.num('requests', this.requests);
    w.num('readBytes', this.readBytes);
    w.num('selectedBytes', this.selectedBytes);
    w.end();
    return w.end();
  }
}

/** What one load of neurons did (src/types.ts LoadReport). */
export class LoadResult {
  rows: i32 = 0;
  cacheHits: i32 = 0;
  rowsRead: i32 = 0;
  requests: i32 = 0;
  bytesRead: f64 = 0;
  ms: f64 = 0;

  toJson(): string {
    const w = new JsonWriter();
    w.begin();
    w.num('rows', this.rows);
    w.num('cacheHits', this.cacheHits);
    w.num('rowsRead', this.rowsRead);
    w.num('requests', this.requests);
    w.num('bytesRead', this.bytesRead);
    w.num('ms', this.ms);
    return w.end();
  }
}

// Phases: what resume() continues.
const P_IDLE = 0;
const P_HEADER = 1;
const P_TOKENIZER = 2;
const P_CORE = 3;
const P_NEURONS = 4;

// What follows a neuron load (activate → P_NEURONS → afterActivate).
const A_LOAD = 0; // load(): done
const A_INSTRUCT_DENSE = 1; // instruct() with the prompt policy: every neuron loaded, now the dense pass
const A_BEGIN_DENSE = 2; // begin() with the prompt policy: the dense pass, then load the chosen ones
const A_BEGIN = 3; // begin(): the chosen neurons are active, generation can start

// Generation state.
const G_NONE = 0;
const G_PREFILL = 1;
const G_DECODE = 2;
const G_DONE = 3;

export class Session {
  opts: OpenOptions;
  fileSize: u64;
  phase: i32 = P_IDLE;
  spec: ModelSpec | null = null;
  info: IfpruneInfo | null = null;
  tokenizer: Tokenizer | null = null;
  engine: Engine | null = null;
  predictor: Predictor | null = null;
  staticRanking: StaticRanking | null = null;
  cache: NeuronCache | null = null;
  selective: bool = false;
  /** Whether some neurons are active (selective models start with none). */
  loaded: bool = false;
  coreBytes: f64 = 0;
  stats: Stats = new Stats();
  /** The last instruct()'s result, and the last load's report. */
  instruction: Instruction = new Instruction();
  loadResult: LoadResult = new LoadResult();
  /** Tokens step() produced for the host to print. */
  emitted: Array<EmittedToken> = [];

  /** The header window (kept until the core is read: it serves the tensors it holds). */
  private headerBuf: usize = 0;
  private headerLen: u64 = 0;
  /** openHeader(): the header phase ends at DONE instead of going on to the tokenizer and the core. */
  private headerOnly: bool = false;
  private tokBuf: usize = 0;
  private loader: TensorLoader | null = null;
  private tOpen: f64 = 0;
  private gapBytes: i32 = 0;
  // neuron loads
  private afterActivate: i32 = A_LOAD;
  private pendingSets: Array<Int32Array> = [];
  private tLoad: f64 = 0;
  // instruct / begin in progress
  private pIds: Array<i32> = [];
  private pPolicy: string = '';
  private pDensity: f64 = 1;
  private pT0: f64 = 0;
  private pDenseMs: f64 = 0;
  private prefilled: bool = false;
  // generation
  private g: i32 = G_NONE;
  private gen: GenOptions = new GenOptions();
  private sampler: Sampler | null = null;
  private stop: StopMatcher | null = null;
  private decoder: StreamDecoder | null = null;
  private ids: usize = 0; // the prompt ids as i32 in wasm memory
  private idsCap: i32 = 0;
  private nIds: i32 = 0;
  private prefillAt: i32 = 0;
  private logits: usize = 0;
  private t0: f64 = 0;
  private tPrefill: f64 = 0;
  private decodeStart: f64 = 0;
  private decodeSteps: i32 = 0;

  constructor(fileSize: u64, opts: OpenOptions) {
    this.fileSize = fileSize;
    this.opts = opts;
  }

  // ---- open ------------------------------------------------------------------------------------

  /**
   * The header phase alone: read the header window(s), parse the model header (GGUF or llama2.c) and the
   * ifprune info, then DONE with `spec` and `info` set; nothing past the header is read. open() goes on
   * from there (the host may set opts.tokenizerFileSize in between, once it knows the file is a llama2.c
   * checkpoint); inspect stops there. Any file goes to the header parser (an empty one is 'bad_magic',
   * as src/formats/model.ts detectFormat says).
   */
  openHeader(): i32 {
    clearError();
    clearNeeds();
    this.tOpen = now();
    this.headerOnly = true;
    return this.readHeader();
  }

  /** Opens the model: the header phase (unless openHeader() has done it), the tokenizer, the core. */
  open(): i32 {
    clearError();
    clearNeeds();
    const o = this.opts;
    if (this.engine !== null) return this.failed('bad_option', o.fileName + ' is already open');
    if (o.ffn != 'dense' && o.ffn != 'selective' && o.ffn != 'auto') return this.failed('bad_option', "ffn = " + o.ffn + ": expected 'dense', 'selective' or 'auto'");
    if (!(o.memoryBudget >= 0) || o.memoryBudget != Math.floor(o.memoryBudget)) return this.failed('bad_option', 'memoryBudget = ' + o.memoryBudget.toString() + ': expected a positive number of bytes');
    if (o.contextLength < 0) return this.failed('bad_option', 'contextLength = ' + o.contextLength.toString() + ': expected a positive integer');
    this.headerOnly = false;
    if (this.spec !== null) return this.afterSpec(); // openHeader() read the header
    this.tOpen = now();
    if (this.fileSize == 0) return this.failed('truncated', o.fileName + ' is empty (0 bytes): expected a GGUF or llama2.c model file');
    return this.readHeader();
  }

  /** Asks for the first header window (a 0-byte file goes straight to the parser, which refuses it). */
  private readHeader(): i32 {
    this.spec = null;
    this.info = null;
    this.headerLen = min<u64>(this.fileSize, HEADER_WINDOW);
    this.headerBuf = heap.alloc(<usize>this.headerLen);
    this.phase = P_HEADER;
    if (this.headerLen == 0) return this.resume();
    need(FILE_MODEL, 0, <u32>this.headerLen, this.headerBuf);
    return NEED_IO;
  }

  /** Continues the phase that returned NEED_IO, once the host has read every need. */
  resume(): i32 {
    for (let i = 0; i < needs.length; i++) if (needs[i].file == FILE_MODEL) this.stats.bytesRead += <f64>needs[i].length;
    clearNeeds();
    const p = this.phase;
    this.phase = P_IDLE;
    if (p == P_HEADER) return this.afterHeader();
    if (p == P_TOKENIZER) return this.afterTokenizer();
    if (p == P_CORE) return this.afterCore();
    if (p == P_NEURONS) return this.afterNeurons();
    return this.failed('bad_option', 'resume() without a phase waiting for I/O');
  }

  private afterHeader(): i32 {
    const o = this.opts;
    const spec = parseModelHeader(this.headerBuf, <usize>this.headerLen, this.fileSize, o.fileName);
    if (spec === null) {
      if (failed()) return FAILED;
      // The header goes on past the window: read exactly what the parser asks for beyond what we hold
      // (at least doubling, so a long header costs a few reads, not one per item).
      const want = min<u64>(this.fileSize, max<u64>(headerNeed, this.headerLen * 2));
      if (want <= this.headerLen) return this.failed('truncated', o.fileName + ': the header ends past the end of the file');
      this.headerBuf = heap.realloc(this.headerBuf, <usize>want);
      need(FILE_MODEL, this.headerLen, <u32>(want - this.headerLen), this.headerBuf + <usize>this.headerLen);
      this.headerLen = want;
      this.phase = P_HEADER;
      return NEED_IO;
    }
    const info = readIfpruneInfo(spec);
    if (failed()) {
      failContext(o.fileName + ': ');
      return FAILED;
    }
    this.spec = spec;
    this.info = info;
    return this.headerOnly ? DONE : this.afterSpec();
  }

  /** The header is parsed: read the llama2.c tokenizer.bin if one is given, or take the file's tokenizer. */
  private afterSpec(): i32 {
    const o = this.opts;
    const spec = this.spec!;
    if (o.tokenizerFileSize > 0) {
      this.tokBuf = heap.alloc(<usize>o.tokenizerFileSize);
      need(FILE_TOKENIZER, 0, <u32>o.tokenizerFileSize, this.tokBuf);
      this.phase = P_TOKENIZER;
      return NEED_IO;
    }
    const data = spec.tokenizer;
    if (data === null) {
      return this.failed('bad_option', o.fileName + ' is a ' + spec.format + ' checkpoint without a vocabulary; pass its tokenizer (a llama2.c tokenizer.bin) as { tokenizer }' +
        ' (the command line looks for tokenizer.bin or tok*.bin beside the model, or takes --tokenizer FILE)');
    }
    this.tokenizer = Tokenizer.create(data);
    if (this.tokenizer === null) return FAILED;
    return this.planCore();
  }

  private afterTokenizer(): i32 {
    const o = this.opts;
    const data = parseTokenizerBin(this.tokBuf, <usize>o.tokenizerFileSize, this.spec!.config.vocabSize, o.tokenizerName);
    heap.free(this.tokBuf);
    this.tokBuf = 0;
    if (data === null) return FAILED;
    this.tokenizer = Tokenizer.create(data);
    if (this.tokenizer === null) return FAILED;
    return this.planCore();
  }

  private planCore(): i32 {
    const o = this.opts;
    const spec = this.spec!;
    const info = this.info;
    const bundled = info !== null && info.layout == 'bundled';
    this.selective = o.ffn == 'selective' || (o.ffn == 'auto' && bundled);
    if (this.selective && !bundled) {
      return this.failed('bad_option', o.fileName + " is not an ifprune bundled model; selective loading needs one: convert it with `ifprune convert MODEL -o model.gguf`");
    }
    const loader = new TensorLoader(spec, info, o.fileName);
    this.loader = loader;
    const engine = Engine.plan(spec, loader, o.contextLength, this.selective, o.memoryBudget, o.fileName);
    if (engine === null) return FAILED;
    this.engine = engine;
    const engineWeights = loader.memBytes;
    this.staticRanking = StaticRanking.plan(spec, info, loader, o.fileName);
    if (failed()) return FAILED;
    this.predictor = Predictor.plan(spec, info, loader, o.fileName);
    if (failed()) return FAILED;
    this.coreBytes = <f64>engine.coreBytes + <f64>(loader.memBytes - engineWeights);
    if (o.memoryBudget > 0 && this.coreBytes > o.memoryBudget) {
      return this.failed('out_of_memory', o.fileName + ': the core and predictor need ' + mib(this.coreBytes) + ' of wasm memory but the memory budget is ' + mib(o.memoryBudget) +
        '; raise memoryBudget or lower contextLength');
    }
    loader.request();
    this.satisfyFromHeader();
    this.phase = P_CORE;
    if (needs.length == 0) return this.resume();
    return NEED_IO;
  }

  /**
   * Serves the parts of the listed needs that the header window already holds (small models and the
   * first tensors after a short header) from it, so no byte of the file is read twice.
   */
  private satisfyFromHeader(): void {
    const held = this.headerLen;
    let w = 0;
    for (let i = 0; i < needs.length; i++) {
      const n = needs[i];
      if (n.file == FILE_MODEL && n.offset < held) {
        const have = <u32>min<u64>(<u64>n.length, held - n.offset);
        memory.copy(n.dest, this.headerBuf + <usize>n.offset, have);
        n.offset += have;
        n.dest += have;
        n.length -= have;
      }
      if (n.length > 0) needs[w++] = n;
    }
    needs.length = w;
  }

  private afterCore(): i32 {
    const o = this.opts;
    if (!this.loader!.finish()) return FAILED;
    this.loader = null;
    heap.free(this.headerBuf);
    this.headerBuf = 0;
    const info = this.info;
    const bundles = info !== null ? info.bundles.length : 0;
    this.gapBytes = o.gapBytes >= 0 ? o.gapBytes : bundles > 0 ? DEFAULT_GAP_ROWS * info!.bundles[0].rowBytes : 0;
    if (this.selective) {
      this.cache = new NeuronCache(info!, o.memoryBudget > 0 ? max<f64>(0, o.memoryBudget - this.coreBytes) : 0, this.gapBytes, o.fileName);
    }
    this.loaded = !this.selective;
    const s = this.stats;
    s.loadMs = now() - this.tOpen;
    s.kernels = o.kernels;
    s.contextLength = this.engine!.contextLength;
    if (bundles > 0) s.ffnBytesTotal = <f64>bundles * <f64>info!.bundles[0].nFF * <f64>info!.bundles[0].rowBytes;
    this.updateMemory();
    return DONE;
  }

  private updateMemory(): void {
    this.stats.memoryBytes = this.coreBytes + (this.cache !== null ? this.cache!.memoryBytes() : 0);
  }

  // ---- policies --------------------------------------------------------------------------------

  /** The default policy: the learned predictor if the file has one, else static, else prompt. */
  defaultPolicy(): string {
    return this.predictor !== null ? 'learned' : this.staticRanking !== null ? 'static' : 'prompt';
  }

  /** Validates a policy and density (Pruner.check). */
  check(policy: string, density: f64): bool {
    if (policy != 'dense' && policy != 'static' && policy != 'prompt' && policy != 'learned') return fail('bad_option', 'policy "' + policy + '" is not one of dense, static, prompt, learned');
    if (!(density > 0 && density <= 1)) return fail('bad_option', 'density = ' + jsonNumber(density) + ': expected a number in (0, 1]');
    if (policy == 'static' && this.staticRanking === null) return fail('bad_option', 'the static policy needs calibration statistics: run `ifprune calibrate` on the model first');
    if (policy == 'learned' && this.predictor === null) return fail('bad_option', 'the learned policy needs a trained predictor: run `ifprune calibrate` on the model first');
    return true;
  }

  /** Neurons from a policy's scores, k per layer after the always-on set (Pruner.select). */
  private select(policy: string, density: f64, ids: Array<i32>, promptScores: Array<Float32Array> | null): Array<Int32Array> | null {
    const c = this.engine!.config;
    if (policy == 'dense' || density >= 1) return allNeurons(c.nLayers, c.hiddenDim);
    let scores: Array<Float32Array>;
    if (policy == 'static') scores = this.staticRanking!.scores();
    else if (policy == 'learned') scores = this.predictor!.predict(ids);
    else scores = promptScores!;
    if (failed()) return null;
    const shared = this.info !== null ? this.info!.shared : new Array<Array<i32>>();
    const k = neuronsAt(density, c.hiddenDim);
    if (k < 0) return null;
    return selectLayers(scores, k, shared);
  }

  /** Mean share of neurons kept per layer. */
  private densityOf(sets: Array<Int32Array>): f64 {
    let n: f64 = 0;
    for (let l = 0; l < sets.length; l++) n += <f64>sets[l].length;
    return n / <f64>sets.length / <f64>this.engine!.config.hiddenDim;
  }

  /** Token ids of a prompt as generation feeds them (BOS per the tokenizer or `bos`; special-token text
   * read as those tokens with `special`; empty → [BOS]). */
  encode(prompt: string, bos: i32, special: bool): Array<i32> | null {
    const tok = this.tokenizer!;
    const ids = tok.encode(prompt, bos, special);
    if (failed()) return null;
    if (ids.length == 0) ids.push(tok.bosId);
    return ids;
  }

  // ---- instruct / load -------------------------------------------------------------------------

  /** Chooses neurons for a prompt (result in `instruction`). DONE, or NEED_IO for the prompt policy's
   * load of every neuron (then a dense pass). */
  instruct(prompt: string, density: f64, policy: string, bos: i32, special: bool): i32 {
    clearError();
    if (this.engine === null) return this.failed('bad_option', 'the model is not open');
    const p = policy.length > 0 ? policy : this.defaultPolicy();
    if (!this.check(p, density)) return FAILED;
    const ids = this.encode(prompt, bos, special);
    if (ids === null) return FAILED;
    this.pIds = ids;
    this.pPolicy = p;
    this.pDensity = density;
    this.pT0 = now();
    if (p != 'prompt' || density >= 1) {
      const neurons = this.select(p, density, this.pIds, null);
      if (neurons === null) return FAILED;
      this.finishInstruction(neurons, now() - this.pT0);
      return DONE;
    }
    return this.activate(allNeurons(this.engine!.config.nLayers, this.engine!.config.hiddenDim), A_INSTRUCT_DENSE);
  }

  private finishInstruction(neurons: Array<Int32Array>, predictMs: f64): void {
    const ins = new Instruction();
    ins.policy = this.pPolicy;
    ins.density = this.pDensity;
    ins.neurons = neurons;
    ins.promptIds = this.pIds;
    ins.predictMs = predictMs;
    if (this.info !== null && this.info!.bundles.length > 0) {
      const plan = planLoad(this.info!.bundles, neurons, this.gapBytes);
      ins.requests = plan.requests;
      ins.readBytes = plan.readBytes;
      ins.selectedBytes = plan.selectedBytes;
    }
    this.instruction = ins;
  }

  /** Makes `sets` the active FFN (the last instruction's neurons, or any the host set). Result in loadResult. */
  load(sets: Array<Int32Array>, policy: string): i32 {
    clearError();
    if (this.engine === null) return this.failed('bad_option', 'the model is not open');
    if (this.g == G_PREFILL || this.g == G_DECODE) return this.failed('bad_option', 'cannot load neurons while generating');
    this.pPolicy = policy;
    return this.activate(sets, A_LOAD);
  }

  /** Starts loading `sets` (Pruner.activate); `then` says what follows. */
  private activate(sets: Array<Int32Array>, then: i32): i32 {
    const c = this.engine!.config;
    if (sets.length != c.nLayers) return this.failed('bad_option', 'load: ' + sets.length.toString() + ' neuron sets for ' + c.nLayers.toString() + ' layers');
    this.afterActivate = then;
    this.pendingSets = sets;
    this.tLoad = now();
    if (this.cache !== null) {
      if (!this.cache!.request(sets)) return FAILED;
      this.phase = P_NEURONS;
      if (needs.length == 0) return this.resume();
      return NEED_IO;
    }
    // Dense-opened model: pack (bundled) or mask (split) from the weights in memory.
    let dense = true;
    for (let l = 0; l < sets.length; l++) if (sets[l].length != c.hiddenDim) dense = false;
    let rows = 0;
    for (let l = 0; l < sets.length; l++) {
      if (!this.engine!.setNeuronMask(l, dense ? null : sets[l])) return FAILED;
      rows += sets[l].length;
    }
    const r = new LoadResult();
    r.rows = rows;
    r.cacheHits = rows;
    r.ms = now() - this.tLoad;
    return this.activated(r);
  }

  private afterNeurons(): i32 {
    const cache = this.cache!;
    if (!cache.finish()) return FAILED;
    const sets = this.pendingSets;
    for (let l = 0; l < sets.length; l++) {
      if (!this.engine!.setActiveBundles(l, cache.packed(l), cache.count(l), true)) return FAILED;
    }
    const rep = cache.report;
    const r = new LoadResult();
    r.rows = rep.rows;
    r.cacheHits = rep.cacheHits;
    r.rowsRead = rep.rowsRead;
    r.requests = rep.requests;
    r.bytesRead = rep.bytesRead;
    r.ms = now() - this.tLoad;
    this.updateMemory();
    return this.activated(r);
  }

  /** A load finished: record it, then continue with what asked for it. */
  private activated(r: LoadResult): i32 {
    this.loaded = true;
    this.loadResult = r;
    const then = this.afterActivate;
    if (then == A_LOAD) {
      this.stats.density = this.densityOf(this.pendingSets);
      this.stats.policy = this.pPolicy;
      return DONE;
    }
    if (then == A_INSTRUCT_DENSE || then == A_BEGIN_DENSE) {
      // GRIFFIN-style scores: mean |h| over the prompt after BOS, in a dense pass that leaves the prompt
      // in the KV cache (generation goes on from it).
      const t0 = now();
      const scores = this.promptScores(this.pIds);
      if (scores === null) return FAILED;
      const denseMs = now() - t0;
      const neurons = this.select(this.pPolicy, this.pDensity, this.pIds, scores);
      if (neurons === null) return FAILED;
      if (then == A_INSTRUCT_DENSE) {
        this.finishInstruction(neurons, now() - this.pT0 - denseMs - r.ms);
        return DONE;
      }
      // begin(): the dense pass was this generation's prefill; its load counts as neuron loading.
      const s = this.stats;
      s.predictMs = now() - this.pT0 - denseMs - r.ms;
      s.prefillMs = denseMs;
      s.loadNeuronsMs += r.ms;
      s.neuronBytesRead += r.bytesRead;
      s.neuronRequests += r.requests;
      this.prefilled = true;
      return this.activate(neurons, A_BEGIN);
    }
    // A_BEGIN: the chosen neurons are active.
    const s = this.stats;
    s.loadNeuronsMs += r.ms;
    s.neuronBytesRead += r.bytesRead;
    s.neuronRequests += r.requests;
    s.neuronCacheHits = r.cacheHits;
    s.density = this.densityOf(this.pendingSets);
    s.policy = this.pPolicy;
    this.updateMemory();
    return this.startPrefill();
  }

  /** Mean |h| per layer and neuron over the prompt positions after BOS, from a dense pass over `ids`. */
  private promptScores(ids: Array<i32>): Array<Float32Array> | null {
    const engine = this.engine!;
    const c = engine.config;
    const sums = new Array<Float64Array>(c.nLayers);
    for (let l = 0; l < c.nLayers; l++) sums[l] = new Float64Array(c.hiddenDim);
    this.setIds(ids);
    engine.reset();
    engine.observedCount = 0;
    const logits = engine.forwardObserved(this.ids, this.nIds, 1, sums);
    if (logits == 0) return null;
    this.logits = logits;
    const n = <f64>max<i32>(1, engine.observedCount);
    const out = new Array<Float32Array>(c.nLayers);
    for (let l = 0; l < c.nLayers; l++) {
      const m = new Float32Array(c.hiddenDim);
      const s = sums[l];
      for (let j = 0; j < c.hiddenDim; j++) m[j] = <f32>(s[j] / n);
      out[l] = m;
    }
    return out;
  }

  private setIds(ids: Array<i32>): void {
    if (ids.length > this.idsCap) {
      if (this.ids != 0) heap.free(this.ids);
      this.idsCap = max<i32>(ids.length, 64);
      this.ids = heap.alloc(<usize>this.idsCap * 4);
    }
    for (let i = 0; i < ids.length; i++) store<i32>(this.ids + (<usize>i << 2), ids[i]);
    this.nIds = ids.length;
  }

  // ---- generation ------------------------------------------------------------------------------

  /** Starts generating a continuation of `prompt`: DONE (step() next), NEED_IO (neurons to load) or FAILED. */
  begin(prompt: string, g: GenOptions): i32 {
    clearError();
    this.emitted = [];
    if (this.engine === null) return this.failed('bad_option', 'the model is not open');
    if (g.maxTokens < 0) return this.failed('bad_option', 'maxTokens = ' + g.maxTokens.toString() + ': expected an integer ≥ 0');
    const sampler = Sampler.create(
      isNaN(g.temperature) ? DEFAULT_TEMPERATURE : g.temperature,
      isNaN(g.topP) ? DEFAULT_TOP_P : g.topP,
      g.topK < 0 ? <f64>DEFAULT_TOP_K : <f64>g.topK,
      isNaN(g.seed) ? DEFAULT_SEED : g.seed,
      this.engine!.config.vocabSize,
    );
    if (sampler === null) return FAILED;
    this.sampler = sampler;
    const stop = StopMatcher.create(g.stop);
    if (stop === null) return FAILED;
    this.stop = stop;
    this.gen = g;
    const engine = this.engine!;
    this.t0 = now();
    const s = (this.stats = this.stats.fresh());
    this.g = G_PREFILL;
    this.prefilled = false;
    const ids = this.encode(prompt, g.bos, g.special);
    if (ids === null) {
      this.g = G_NONE;
      return FAILED;
    }
    s.tokenizeMs = now() - this.t0;
    s.promptTokens = ids.length;
    if (ids.length >= engine.contextLength) {
      this.g = G_NONE;
      let msg = 'the prompt is ' + ids.length.toString() + ' tokens but the context holds ' + engine.contextLength.toString() + ' (prompt plus at least one new token must fit); shorten the prompt';
      if (engine.contextLength < engine.config.seqLen) msg += ' or open the model with a larger contextLength (up to ' + engine.config.seqLen.toString() + ')';
      return this.failed('context_overflow', msg);
    }
    this.pIds = ids;
    if (g.maxTokens == 0) {
      s.finishReason = 'length';
      this.g = G_DONE;
      return DONE;
    }
    // Pruning: choose and load neurons for this prompt (or all of them for a selective model that has
    // none loaded yet). The 'prompt' policy's dense pass is the prefill.
    let density = g.density;
    if (isNaN(density) && !this.loaded) density = 1;
    if (!isNaN(density)) {
      const policy = g.policy.length > 0 ? g.policy : density >= 1 ? 'dense' : this.defaultPolicy();
      if (!this.check(policy, density)) {
        this.g = G_NONE;
        return FAILED;
      }
      this.pPolicy = policy;
      this.pDensity = density;
      this.pT0 = now();
      if (policy == 'prompt' && density < 1) {
        return this.activate(allNeurons(engine.config.nLayers, engine.config.hiddenDim), A_BEGIN_DENSE);
      }
      const neurons = this.select(policy, density, ids, null);
      if (neurons === null) return FAILED;
      s.predictMs = now() - this.pT0;
      return this.activate(neurons, A_BEGIN);
    }
    return this.startPrefill();
  }

  private startPrefill(): i32 {
    this.g = G_PREFILL;
    this.tPrefill = now();
    this.prefillAt = 0;
    if (!this.prefilled) {
      this.setIds(this.pIds);
      this.engine!.reset();
    }
    this.decodeStart = 0;
    this.decodeSteps = 0;
    // The first piece loses SentencePiece's dummy-prefix space only when it starts the text.
    const tok = this.tokenizer!;
    let atStart = true;
    for (let i = 0; i < this.pIds.length; i++) if (!tok.isControl(this.pIds[i])) atStart = false;
    this.decoder = new StreamDecoder(tok, atStart);
    return DONE;
  }

  /** One unit of generation: a prefill tile (nothing emitted) or one sampled token. STEP_MORE, STEP_END or FAILED. */
  step(): i32 {
    this.emitted = [];
    const s = this.stats;
    if (this.g == G_DONE || this.g == G_NONE) return STEP_END;
    const engine = this.engine!;
    if (this.g == G_PREFILL) {
      if (!this.prefilled && this.prefillAt < this.nIds) {
        const n = min<i32>(TILE, this.nIds - this.prefillAt);
        const logits = engine.forward(this.ids + (<usize>this.prefillAt << 2), n);
        if (logits == 0) return this.stepFailed();
        this.logits = logits;
        this.prefillAt += n;
        if (this.prefillAt < this.nIds) return STEP_MORE;
        s.prefillMs = now() - this.tPrefill;
      }
      s.prefillTokPerS = <f64>this.nIds / (s.prefillMs / 1000);
      this.g = G_DECODE;
    }
    const tok = this.tokenizer!;
    const next = this.sampler!.sample(this.logits);
    if (next < 0) return this.stepFailed();
    if (s.generatedTokens == 0) s.ttftMs = now() - this.t0;
    if (next == tok.eosId || next == tok.bosId) {
      s.finishReason = 'eos';
      return this.finish();
    }
    s.generatedTokens++;
    const out = this.stop!.push(next, this.decoder!.push(next));
    for (let i = 0; i < out.emit.length; i++) this.emitted.push(new EmittedToken(out.emit[i].id, out.emit[i].text));
    if (out.stopped) {
      s.finishReason = 'stop';
      this.g = G_DONE;
      return STEP_END;
    }
    if (s.generatedTokens >= this.gen.maxTokens) {
      s.finishReason = 'length';
      return this.finish();
    }
    if (engine.pos >= engine.contextLength) {
      s.finishReason = 'context';
      return this.finish();
    }
    if (this.decodeStart == 0) this.decodeStart = now();
    store<i32>(this.ids, next);
    const logits = engine.forward(this.ids, 1);
    if (logits == 0) return this.stepFailed();
    this.logits = logits;
    this.decodeSteps++;
    s.decodeMs = now() - this.decodeStart;
    s.decodeTokPerS = <f64>this.decodeSteps / (s.decodeMs / 1000);
    return STEP_MORE;
  }

  /** Ends a generation: text of a character cut off is dropped; held-back text is released. */
  private finish(): i32 {
    this.decoder!.flush();
    const rest = this.stop!.flush();
    for (let i = 0; i < rest.length; i++) this.emitted.push(new EmittedToken(rest[i].id, rest[i].text));
    this.g = G_DONE;
    return STEP_END;
  }

  /**
   * The host's deadline passed mid-generation: it ends as if out of tokens, with finishReason 'timeout',
   * and the text held back (a stop-string prefix, an incomplete character's bytes) is emitted.
   */
  endByDeadline(): i32 {
    this.emitted = [];
    if (this.g != G_PREFILL && this.g != G_DECODE) return STEP_END;
    this.stats.finishReason = 'timeout';
    if (this.decoder === null || this.stop === null) {
      this.g = G_DONE;
      return STEP_END;
    }
    return this.finish();
  }

  /** The host aborted the generation (its signal fired). */
  abort(): void {
    if (this.g == G_PREFILL || this.g == G_DECODE) this.stats.finishReason = 'aborted';
    this.g = G_DONE;
  }

  private stepFailed(): i32 {
    this.g = G_DONE;
    return FAILED;
  }

  statsJson(): string {
    return this.stats.toJson();
  }

  private failed(code: string, message: string): i32 {
    fail(code, message);
    return FAILED;
  }
}

function mib(b: f64): string {
  const v = Math.round((b / 1048576) * 10) / 10;
  let s = v.toString();
  if (s.indexOf('.') < 0) s += '.0';
  return s + ' MiB';
}
