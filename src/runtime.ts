/**
 * The JS host of the wasm runtime (build/ifprune.{relaxed,simd,scalar}.wasm, assembly/runtime.ts): everything a
 * model does — parse the file, tokenize, predict, plan loads, cache neurons, run the forward pass, sample,
 * match stop strings — happens in wasm. This file only does I/O and glue: it reads the byte ranges the
 * runtime asks for from a ByteSource (file, HTTP Range, R2, memory) straight into wasm memory, resumes
 * it, and presents the public Model interface (src/types.ts). A new host is this loop in another
 * language: see docs/architecture.md, "Writing a host".
 */
import { ThreadPool, checkThreads, type ThreadSupport } from './threads.ts';
import { IfpruneError, type IfpruneErrorCode } from './errors.ts';
import type { ByteSource } from './sources/types.ts';
import { MAX_REQUEST_BYTES, readRanges, type RangeRead, type RangeSource } from './sources/ranges.ts';
import type { ModelConfig } from './formats/model-spec.ts';
import type { Tokenizer, StreamDecoder, EncodeOptions, DecodeOptions } from './tokenizer/index.ts';
import type { GenerateOptions, Generation, InstructOptions, Instruction, LoadReport, Model, OpenOptions, PolicyName, Stats, Token } from './types.ts';
import { Mutex, abortedWhileQueued } from './queue.ts';

/** Phase status codes (assembly/rt/io.ts). */
const DONE = 0;
const NEED_IO = 1;
const FAILED = -1;
const STEP_MORE = 1;

/** Longest stretch of synchronous compute before generation lets the host's event loop run (timers,
 * AbortSignals, I/O, a UI): without it a signal fired by a timer or Ctrl-C could not land until the end. */
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (...a: any[]) => number;
type RuntimeExports = Record<string, Fn> & { memory: WebAssembly.Memory };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true }); // a leading U+FEFF is text, not a BOM

/** One instance of the runtime module: the exports plus string and array transfer. */
class Runtime {
  readonly ex: RuntimeExports;
  constructor(instance: WebAssembly.Instance) {
    this.ex = instance.exports as unknown as RuntimeExports;
  }

  /** pool: the threads build's shared memory and worker (src/threads.ts). */
  static async create(module: WebAssembly.Module, pool?: ThreadPool): Promise<Runtime> {
    const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    if (!names.has('rt_open')) {
      throw new IfpruneError('no_wasm', 'the module passed as { module } is not the ifprune runtime (it lacks rt_open): pass build/ifprune.relaxed.wasm, ifprune.simd.wasm or ifprune.scalar.wasm (the platform entry points load it for you)');
    }
    let rt: Runtime | undefined;
    const instance = await WebAssembly.instantiate(module, {
      env: {
        now: () => performance.now(),
        abort: (msg: number, file: number, line: number, col: number) => {
          const s = (p: number) => (p && rt ? rt.utf16(p) : '?');
          throw new IfpruneError('corrupt', `the wasm runtime stopped on an internal check (${s(msg)} at ${s(file)}:${line}:${col}); please report this with the model file`);
        },
        trace: () => {},
        seed: () => Date.now(),
        ...(pool ? { memory: pool.memory, ...pool.imports } : {}),
      },
    });
    rt = new Runtime(instance);
    if (pool && !rt.ex.rt_set_workers(1)) throw rt.error();
    return rt;
  }

  get memory(): ArrayBuffer {
    return this.ex.memory.buffer;
  }

  /** Copies bytes into a fresh runtime buffer; returns [ptr, length] (free with rt_free). */
  putBytes(b: Uint8Array): [number, number] {
    const p = this.ex.rt_alloc(Math.max(1, b.length)) >>> 0;
    new Uint8Array(this.memory, p, b.length).set(b);
    return [p, b.length];
  }

  /** Runs f with a string copied into wasm memory as UTF-8 (ptr, length). */
  withString<T>(s: string, f: (p: number, n: number) => T): T {
    const [p, n] = this.putBytes(enc.encode(s));
    try {
      return f(p, n);
    } finally {
      this.ex.rt_free(p);
    }
  }

  /** Reads a runtime "str": [u32 byte length | UTF-8]. */
  str(p: number): string {
    p >>>= 0;
    const n = new DataView(this.memory).getUint32(p, true);
    const bytes = new Uint8Array(this.memory, p + 4, n);
    // browsers' TextDecoder refuses a view of shared memory (the threads build): decode a copy
    return dec.decode(this.memory instanceof ArrayBuffer ? bytes : bytes.slice());
  }

  json<T>(p: number): T {
    return JSON.parse(this.str(p)) as T;
  }

  i32s(p: number, n: number): Int32Array {
    return new Int32Array(this.memory.slice(p >>> 0, (p >>> 0) + n * 4));
  }

  /** An AssemblyScript string (UTF-16, byte length at p - 4): abort messages. */
  utf16(p: number): string {
    const n = new Uint32Array(this.memory, p - 4, 1)[0]! >>> 1;
    return String.fromCharCode(...new Uint16Array(this.memory, p, n));
  }

  /** The runtime's error as an IfpruneError. */
  error(): IfpruneError {
    const code = this.str(this.ex.rt_error_code()) as IfpruneErrorCode;
    const message = this.str(this.ex.rt_error_message());
    this.ex.rt_clear_error();
    return new IfpruneError(code || 'corrupt', message || 'the wasm runtime failed without a message');
  }

  /**
   * Drives a phase to completion: while it returns NEED_IO, reads every listed range from its file
   * straight into wasm memory (merged and several in flight, through readRanges) and resumes.
   */
  async drive(status: number, files: (ByteSource | undefined)[], signal?: AbortSignal): Promise<{ requests: number; bytes: number }> {
    const io = { requests: 0, bytes: 0 };
    const ex = this.ex;
    while (status === NEED_IO) {
      if (signal?.aborted) throw new IfpruneError('aborted', 'loading was aborted');
      const byFile = new Map<number, RangeRead[]>();
      const n = ex.rt_need_count();
      for (let i = 0; i < n; i++) {
        const file = ex.rt_need_file(i);
        const list = byFile.get(file) ?? [];
        list.push({ offset: ex.rt_need_offset(i), length: ex.rt_need_length(i) >>> 0, target: new Uint8Array(this.memory, ex.rt_need_dest(i) >>> 0, ex.rt_need_length(i) >>> 0) });
        byFile.set(file, list);
      }
      for (const [file, ranges] of byFile) {
        const src = files[file];
        if (!src) throw new IfpruneError('bad_option', `the runtime asked for file ${file}, which this host was not given`);
        const r = await readRanges(src as RangeSource, ranges, { gapBytes: 0, maxRequestBytes: MAX_REQUEST_BYTES }, signal);
        io.requests += r.requests;
        io.bytes += r.bytes;
      }
      status = ex.rt_resume();
      if (status === FAILED) {
        const error = this.error();
        // The runtime rejected bytes of this batch: a source that keeps copies must not serve them again.
        if (error.code === 'hash_mismatch') for (const [file, ranges] of byFile) await Promise.resolve((files[file] as RangeSource).forget?.(ranges)).catch(() => {});
        throw error;
      }
    }
    if (status === FAILED) throw this.error();
    return io;
  }
}

interface ModelJson {
  format: 'gguf' | 'llama2c';
  config: ModelConfig;
  tokenizer: { model: 'llama' | 'gpt2'; vocabSize: number; bosId: number; eosId: number };
  selective: boolean;
  defaultPolicy: PolicyName;
  layout?: { rowBytes: number; rows: number; offsets: number[] };
}

const FFN_MODES = { dense: 0, selective: 1, auto: 2 } as const;

/**
 * Opens a model on the wasm runtime: `module` is the compiled runtime (build/ifprune.*.wasm), `source`
 * the model bytes, `tokenizer` a llama2.c tokenizer.bin for checkpoints without a vocabulary.
 */
export async function openRuntime(module: WebAssembly.Module, source: ByteSource, opts: OpenOptions & { tokenizerSource?: ByteSource; threadSupport?: ThreadSupport } = {}): Promise<Model> {
  const t0 = performance.now();
  if (opts.ffn !== undefined && !(opts.ffn in FFN_MODES)) throw new IfpruneError('bad_option', `ffn = ${String(opts.ffn)}: expected 'dense', 'selective' or 'auto'`);
  if (opts.memoryBudget !== undefined && !(Number.isSafeInteger(opts.memoryBudget) && opts.memoryBudget > 0)) {
    throw new IfpruneError('bad_option', `memoryBudget = ${opts.memoryBudget}: expected a positive number of bytes`);
  }
  if (opts.contextLength !== undefined && !(Number.isInteger(opts.contextLength) && opts.contextLength >= 1)) {
    throw new IfpruneError('bad_option', `contextLength = ${opts.contextLength}: expected a positive integer`);
  }
  if (opts.gapBytes !== undefined && !(Number.isInteger(opts.gapBytes) && opts.gapBytes >= 0)) {
    throw new IfpruneError('bad_option', `gapBytes = ${opts.gapBytes}: expected an integer ≥ 0`);
  }
  checkThreads(opts.threads, opts.threadSupport !== undefined);
  if (opts.threads === 2 && !WebAssembly.Module.imports(module).some((i) => i.name === 'ifp_par_start')) {
    throw new IfpruneError('bad_option', 'threads: 2 runs on the threads build of the runtime (build/ifprune.threads.wasm); leave the module option out, or pass that one');
  }
  const pool = opts.threads === 2 ? await ThreadPool.start(opts.threadSupport!) : undefined;
  let rt: Runtime;
  try {
    rt = await Runtime.create(module, pool);
  } catch (e) {
    await pool?.close();
    throw e;
  }
  const files = [source, opts.tokenizerSource];
  const status = rt.withString(source.name, (p, n) =>
    rt.ex.rt_open(source.size, p, n, opts.contextLength ?? 0, FFN_MODES[opts.ffn ?? 'dense'], opts.memoryBudget ?? 0, opts.gapBytes ?? source.readThroughBytes ?? -1, opts.tokenizerSource?.size ?? 0),
  );
  try {
    await rt.drive(status, files, opts.signal);
  } catch (e) {
    await pool?.close();
    throw e;
  }
  const info = rt.json<ModelJson>(rt.ex.rt_model_json());
  return new RuntimeModel(rt, files, info, performance.now() - t0, pool);
}

class RuntimeModel implements Model {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /** One call at a time: generate, instruct and load wait their turn here. */
  private readonly queue = new Mutex();
  private closed = false;
  private readonly loadMs: number;

  constructor(
    private readonly rt: Runtime,
    private readonly files: (ByteSource | undefined)[],
    private readonly info: ModelJson,
    loadMs: number,
    private readonly pool?: ThreadPool,
  ) {
    this.config = info.config;
    this.tokenizer = new RuntimeTokenizer(rt, info.tokenizer);
    this.loadMs = loadMs;
  }

  stats(): Stats {
    const s = this.rt.json<Stats>(this.rt.ex.rt_stats_json());
    return { ...s, loadMs: this.loadMs };
  }

  metadata(key: string, index = -1): string | undefined {
    if (typeof key !== 'string') throw new IfpruneError('bad_option', `metadata(key): key must be a string, got ${typeof key}`);
    if (!Number.isInteger(index)) throw new IfpruneError('bad_option', `metadata(key, index): index = ${index}: expected an integer`);
    const { rt } = this;
    const p = rt.withString(key, (kp, kn) => rt.ex.rt_meta_string(kp, kn, Math.max(-1, Math.min(index, 0x7fffffff))));
    return p === 0 ? undefined : rt.str(p);
  }

  async instruct(prompt: string, opts: InstructOptions): Promise<Instruction> {
    if (typeof prompt !== 'string') throw new IfpruneError('bad_option', `prompt must be a string, got ${typeof prompt}`);
    this.idle('choose neurons');
    const release = await this.queue.acquire();
    try {
      this.idle('choose neurons');
      const { rt } = this;
      const status = rt.withString(prompt, (p, n) => rt.withString(opts.policy ?? '', (pp, pn) => rt.ex.rt_instruct(p, n, opts.density, pp, pn, bosArg(opts.bos), opts.special ? 1 : 0)));
      await rt.drive(status, this.files);
      const ins = rt.json<Omit<Instruction, 'neurons'>>(rt.ex.rt_instruction_json());
      const neurons: Int32Array[] = [];
      for (let l = 0; l < this.config.nLayers; l++) {
        const k = rt.ex.rt_instruction_layer(l);
        neurons.push(rt.i32s(rt.ex.rt_ids(), k));
      }
      return { ...ins, neurons };
    } finally {
      release();
    }
  }

  async load(instruction: Instruction, signal?: AbortSignal): Promise<LoadReport> {
    this.idle('load neurons');
    const release = await this.queue.acquire(signal);
    try {
      this.idle('load neurons');
      const { rt } = this;
      instruction.neurons.forEach((ids, l) => {
        const [p] = rt.putBytes(new Uint8Array(Int32Array.from(ids).buffer));
        rt.ex.rt_load_layer(l, p, ids.length);
        rt.ex.rt_free(p);
      });
      const status = rt.withString(instruction.policy, (p, n) => rt.ex.rt_load(p, n));
      await rt.drive(status, this.files, signal);
      return rt.json<LoadReport>(rt.ex.rt_load_json());
    } finally {
      release();
    }
  }

  generate(prompt: string, opts: GenerateOptions = {}): Generation {
    if (typeof prompt !== 'string') throw new IfpruneError('bad_option', `prompt must be a string, got ${typeof prompt}`);
    const maxTokens = opts.maxTokens ?? 256;
    if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new IfpruneError('bad_option', `maxTokens = ${maxTokens}: expected an integer ≥ 0`);
    for (const [k, v] of [['temperature', opts.temperature], ['topP', opts.topP], ['topK', opts.topK], ['seed', opts.seed], ['density', opts.density]] as const) {
      if (v !== undefined && typeof v !== 'number') throw new IfpruneError('bad_option', `${k} = ${String(v)}: expected a number`);
    }
    if (opts.stop !== undefined && !(Array.isArray(opts.stop) && opts.stop.every((s) => typeof s === 'string'))) throw new IfpruneError('bad_option', 'stop must be an array of strings');
    if (opts.timeoutMs !== undefined && !(typeof opts.timeoutMs === 'number' && opts.timeoutMs > 0)) throw new IfpruneError('bad_option', `timeoutMs = ${String(opts.timeoutMs)}: expected a number of milliseconds > 0`);
    // The runtime validates the sampling options and stop strings now, before anything runs.
    const { rt } = this;
    for (const s of opts.stop ?? []) rt.withString(s, (p, n) => rt.ex.rt_add_stop(p, n));
    if (!rt.ex.rt_check_generate(opts.temperature ?? NaN, opts.topP ?? NaN, opts.topK ?? NaN, opts.seed ?? NaN)) throw rt.error();
    const state: { stats?: Stats; running: boolean } = { running: false };
    const called = performance.now();
    const tokens = this.run(prompt, maxTokens, opts, state, called);
    return { [Symbol.asyncIterator]: () => tokens, stats: () => state.stats ?? (state.running ? this.stats() : undefined) };
  }

  private async *run(prompt: string, maxTokens: number, opts: GenerateOptions, state: { stats?: Stats; running: boolean }, called: number): AsyncGenerator<Token> {
    this.idle('generate');
    // The deadline counts from the call; its timer starts with the first next(), so an unread generation holds none.
    const deadline = opts.timeoutMs === undefined ? undefined : new Deadline(opts.timeoutMs, called, opts.signal);
    const signal = deadline?.signal ?? opts.signal;
    let release: () => void;
    try {
      release = await this.queue.acquire(signal, () => deadline?.error('was waiting for its turn') ?? abortedWhileQueued());
    } catch (e) {
      deadline?.dispose();
      throw e;
    }
    const { rt } = this;
    const ex = rt.ex;
    let ended = false;
    state.running = true;
    try {
      this.idle('generate');
      for (const s of opts.stop ?? []) rt.withString(s, (p, n) => ex.rt_add_stop(p, n));
      const status = rt.withString(prompt, (p, n) =>
        rt.withString(opts.policy ?? '', (pp, pn) =>
          ex.rt_begin(p, n, maxTokens, opts.temperature ?? NaN, opts.topP ?? NaN, opts.topK ?? -1, opts.seed ?? NaN, bosArg(opts.bos), opts.density ?? NaN, pp, pn, opts.special ? 1 : 0),
        ),
      );
      try {
        await rt.drive(status, this.files, signal);
      } catch (e) {
        throw deadline?.expired ? deadline.error('was loading neurons') : e;
      }
      let lastYield = performance.now();
      let produced = false;
      for (;;) {
        let st: number;
        if (deadline?.expired) {
          if (!produced) throw deadline.error('was reading the prompt');
          st = ex.rt_end_by_deadline();
        } else {
          if (signal?.aborted) throw new IfpruneError('aborted', 'generation was aborted');
          st = ex.rt_step();
        }
        if (st === FAILED) throw rt.error();
        const n = ex.rt_emitted_count();
        if (n > 0) produced = true;
        for (let i = 0; i < n; i++) yield { id: ex.rt_emitted_id(i), text: rt.str(ex.rt_emitted_text(i)) };
        if (st !== STEP_MORE) break;
        if (performance.now() - lastYield >= YIELD_EVERY_MS) {
          await macrotask();
          lastYield = performance.now();
        }
      }
      ended = true;
    } catch (e) {
      if (e instanceof IfpruneError && (e.code === 'aborted' || e.code === 'timeout')) ex.rt_abort();
      throw e;
    } finally {
      // A consumer that breaks out of the loop ends the generation where it is.
      if (!ended) ex.rt_abort();
      state.stats = this.stats();
      state.running = false;
      deadline?.dispose();
      release();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close();
    for (const f of this.files) await f?.close?.();
  }

  private idle(what: string): void {
    if (this.closed) throw new IfpruneError('bad_option', `cannot ${what}: the model is closed`);
  }
}

/**
 * A call's timeoutMs: a signal that fires when the deadline passes or the caller's own signal fires
 * (whichever first), and whether it was the deadline.
 */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly onAbort = () => this.controller.abort();
  expired = false;

  constructor(
    private readonly ms: number,
    private readonly start: number,
    private readonly outer?: AbortSignal,
  ) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, Math.max(0, start + ms - performance.now()));
    if (outer?.aborted) this.controller.abort();
    else outer?.addEventListener('abort', this.onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The error for a deadline that passed before the first token; `what` says how far it got. */
  error(what: string): IfpruneError {
    if (!this.expired) return new IfpruneError('aborted', 'generation was aborted');
    return new IfpruneError('timeout', `the deadline of ${this.ms} ms (timeoutMs) passed before the first token, ${Math.round(performance.now() - this.start)} ms after the call, while it ${what}; allow more time, or send fewer requests at once (calls on one model run one at a time)`);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
  }
}

function bosArg(bos: boolean | undefined): number {
  return bos === undefined ? -1 : bos ? 1 : 0;
}

/** The runtime's tokenizer behind the Tokenizer interface (src/tokenizer/index.ts). */
class RuntimeTokenizer implements Tokenizer {
  readonly model: 'llama' | 'gpt2';
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  constructor(
    private readonly rt: Runtime,
    t: ModelJson['tokenizer'],
  ) {
    this.model = t.model;
    this.vocabSize = t.vocabSize;
    this.bosId = t.bosId;
    this.eosId = t.eosId;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const { rt } = this;
    const n = rt.withString(text, (p, len) => rt.ex.rt_encode(p, len, bosArg(opts.bos), opts.special ? 1 : 0));
    if (n < 0) throw rt.error();
    return Array.from(rt.i32s(rt.ex.rt_ids(), n));
  }

  decode(ids: Iterable<number>, opts: DecodeOptions = {}): string {
    const { rt } = this;
    const a = Int32Array.from(ids);
    for (const id of a) if (!(id >= 0 && id < this.vocabSize)) throw new IfpruneError('bad_option', `token id ${id} is outside the vocabulary of ${this.vocabSize}`);
    const [p] = rt.putBytes(new Uint8Array(a.buffer));
    try {
      return rt.str(rt.ex.rt_decode(p, a.length, opts.atStart ?? true));
    } finally {
      rt.ex.rt_free(p);
    }
  }

  streamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const { rt } = this;
    const h = rt.ex.rt_stream_new(opts.atStart ?? true);
    return {
      push: (id: number) => rt.str(rt.ex.rt_stream_push(h, id)),
      flush: () => rt.str(rt.ex.rt_stream_flush(h)),
    };
  }

  isControl(id: number): boolean {
    return this.rt.ex.rt_is_control(id) !== 0;
  }
}
