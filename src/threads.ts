/**
 * A worker thread for the runtime (`open(model, { threads: 2 })`): the threads build of the runtime
 * (build/ifprune.threads.wasm) runs on a shared memory, and one worker runs a kernel module
 * (build/kernels.threads.wasm) on the same memory. In a prefill step the engine hands the worker half of
 * each large kernel (assembly/rt/parallel.ts) and runs the other half meanwhile; decode stays on one
 * thread. Platform-neutral: a platform supplies ThreadSupport (Node: worker_threads, src/platform/node.ts).
 *
 * The hand-over is a control block of 16 i32 in a SharedArrayBuffer:
 *   0 SEQ    jobs posted (the runtime stores, then wakes the worker)    1 DONE   jobs finished (the worker)
 *   2 KIND   1 matmul rows, 2 masked FFN, 3 masked FFN over a grouped set    3 TYPE   GGML type (8 Q8_0, 2 Q4_0)
 *   4..11    out, w, x, rows, cols, T, a, b (the kernel's arguments; pointers as u32)
 *   12 QUIT  the worker leaves its loop                                   13 ERROR  the last job threw
 * The runtime waits by spinning on DONE: shares take milliseconds, and a browser's main thread could not
 * block anyway.
 */
import { IfpruneError } from './errors.ts';

/** What a platform gives the runtime to run a worker thread. */
export interface ThreadSupport {
  /** build/ifprune.threads.wasm, compiled. */
  runtime: WebAssembly.Module;
  /** build/kernels.threads.wasm, compiled. */
  kernels: WebAssembly.Module;
  /** Starts a worker that evaluates `prelude + WORKER_LOOP` with `data` (the platform's prelude defines
   * `data` and `ready()`); resolves once it has called ready(). */
  spawn(data: WorkerData): Promise<{ terminate(): unknown }>;
}

export interface WorkerData {
  kernels: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
}

const SEQ = 0;
const DONE = 1;
const ARGS = 2;
const QUIT = 12;
const ERROR = 13;

/** The most threads open() accepts: the runtime and one worker. */
export const MAX_THREADS = 2;

/** Pages the shared memory starts with (it grows as the runtime allocates) and may grow to (4 GiB). */
const INITIAL_PAGES = 256;
const MAXIMUM_PAGES = 65536;

/** Checks of the control block a worker makes before it sleeps (~0.1-0.3 ms). */
const SPIN_BEFORE_WAIT = 20000;

/** A stalled worker (it died, or the machine is frozen) fails the step after this long, not never. */
const WAIT_LIMIT_MS = 60_000;

/**
 * The worker's loop, a classic script body run after the platform's prelude (which defines `data`, a
 * WorkerData, and `ready()`).
 */
export const WORKER_LOOP = `
const ctl = new Int32Array(data.control);
const ex = new WebAssembly.Instance(data.kernels, { env: { memory: data.memory, abort() { throw new Error('kernel abort'); } } }).exports;
const MATMUL = { 8: ex.matmul_rows_q8_0_q8_0, 2: ex.matmul_rows_q4_0_q8_0 };
const FFN = { 8: ex.ffn_swiglu_masked_q8_0, 2: ex.ffn_swiglu_masked_q4_0 };
const FFN_GROUPED = { 8: ex.ffn_swiglu_grouped_q8_0, 2: ex.ffn_swiglu_grouped_q4_0 };
ready();
let seen = 0;
for (;;) {
  // In prefill the next job follows within microseconds: spin a little before sleeping (a futex wake-up
  // costs tens of µs per job).
  for (let i = 0; i < ${SPIN_BEFORE_WAIT} && Atomics.load(ctl, ${SEQ}) === seen; i++);
  Atomics.wait(ctl, ${SEQ}, seen);
  seen = Atomics.load(ctl, ${SEQ});
  if (Atomics.load(ctl, ${QUIT}) !== 0) break;
  try {
    const kind = ctl[2], type = ctl[3], out = ctl[4] >>> 0, w = ctl[5] >>> 0, x = ctl[6] >>> 0, rows = ctl[7], cols = ctl[8], T = ctl[9];
    if (kind === 1) MATMUL[type](out, w, x, rows, cols, T, ctl[10], ctl[11]);
    else {
      new Float32Array(data.memory.buffer, out, T * cols).fill(0);
      (kind === 3 ? FFN_GROUPED : FFN)[type](out, w, x, rows, cols, T);
    }
  } catch (e) {
    Atomics.store(ctl, ${ERROR}, 1);
  }
  Atomics.store(ctl, ${DONE}, seen);
}
`;

/**
 * ThreadSupport.spawn for platforms with Web Workers (Deno, browsers): a module worker from a blob URL that
 * takes its WorkerData in the first message (a compiled module, a shared memory and a SharedArrayBuffer
 * all cross to a worker by structured clone).
 */
export async function spawnWebWorker(data: WorkerData): Promise<{ terminate(): unknown }> {
  const g = globalThis as unknown as { Worker?: new (url: string, o: { type: 'module' }) => WebWorker };
  if (!g.Worker) throw new Error('this platform has no Worker');
  const source = `self.onmessage = (e) => {\nself.onmessage = null;\nconst data = e.data;\nconst ready = () => self.postMessage('ready');\n${WORKER_LOOP}\n};\n`;
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  const w = new g.Worker(url, { type: 'module' });
  try {
    await new Promise<void>((resolve, reject) => {
      w.onmessage = () => resolve();
      w.onerror = (e) => reject(new Error(e.message ?? 'the worker failed to start'));
      w.postMessage(data);
    });
  } catch (e) {
    w.terminate();
    throw e;
  } finally {
    URL.revokeObjectURL(url);
  }
  return w;
}

interface WebWorker {
  onmessage: ((e: unknown) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
  postMessage(data: unknown): void;
  terminate(): void;
}

/** The runtime's side: the shared memory, the imports the threads build calls, and the worker. */
export class ThreadPool {
  private seq = 0;
  private closed = false;

  private constructor(
    readonly memory: WebAssembly.Memory,
    private readonly ctl: Int32Array,
    private readonly worker: { terminate(): unknown },
  ) {}

  static async start(support: ThreadSupport): Promise<ThreadPool> {
    const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
    const control = new SharedArrayBuffer(16 * 4);
    let worker: { terminate(): unknown };
    try {
      worker = await support.spawn({ kernels: support.kernels, memory, control });
    } catch (cause) {
      throw new IfpruneError('unsupported', `threads: could not start a worker thread (${(cause as Error)?.message ?? cause}); open with threads: 1`, { cause });
    }
    return new ThreadPool(memory, new Int32Array(control), worker);
  }

  /** env imports of the threads build. */
  get imports(): Record<string, (...a: number[]) => void> {
    return {
      ifp_par_start: (...args: number[]) => this.start(args),
      ifp_par_wait: () => this.wait(),
    };
  }

  private start(args: number[]): void {
    if (this.closed) throw new IfpruneError('bad_option', 'the model was closed during a generation: its worker thread is gone');
    const { ctl } = this;
    for (let i = 0; i < 10; i++) ctl[ARGS + i] = args[i]! | 0;
    this.seq = (this.seq + 1) | 0;
    Atomics.store(ctl, SEQ, this.seq);
    Atomics.notify(ctl, SEQ);
  }

  private wait(): void {
    const { ctl } = this;
    const t0 = performance.now();
    for (let i = 0; Atomics.load(ctl, DONE) !== this.seq; i++) {
      if ((i & 0xffff) === 0xffff && performance.now() - t0 > WAIT_LIMIT_MS) {
        throw new IfpruneError('timeout', `threads: the worker thread did not finish its share within ${WAIT_LIMIT_MS / 1000} s; open with threads: 1`);
      }
    }
    if (Atomics.load(ctl, ERROR) !== 0) {
      Atomics.store(ctl, ERROR, 0);
      throw new IfpruneError('corrupt', 'threads: a kernel failed in the worker thread; please report this with the model file (threads: 1 runs without it)');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    await this.worker.terminate();
  }
}

/** opts.threads checked: 1 (default) or 2, and 2 only where the platform can start a worker. */
export function checkThreads(threads: number | undefined, workersAvailable: boolean): number {
  const n = threads ?? 1;
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_THREADS)) {
    throw new IfpruneError('bad_option', `threads = ${String(threads)}: expected 1 or 2 (the runtime and one worker thread)`);
  }
  if (n > 1 && !workersAvailable) {
    throw new IfpruneError('unsupported', `threads = ${n}: this platform entry point cannot start worker threads (Node's can: import from 'ifprune' on Node); open with threads: 1`);
  }
  return n;
}
