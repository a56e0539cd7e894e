// Threads (the threads build only: ASC_FEATURE_THREADS, build/ifprune.threads.wasm). The host runs one
// worker: a kernel module (build/kernels.threads.wasm) instantiated on this runtime's shared memory. In a
// prefill step (T > 1) the engine hands the worker a share of each large kernel and runs its own share
// meanwhile:
//   matmul (Q8_0 / Q4_0 weights)   rows split at a multiple of 4: the worker's rows [split, rows) write
//                                  their own columns of out, so the result is exactly the one-thread one
//   masked FFN (Q8_0 / Q4_0)       bundles split at a group boundary: the worker sums its bundles into a
//                                  buffer of its own (zeroed first), which the engine then adds to x
//                                  (the same terms summed in another order: within f32 rounding)
// Decode (T = 1) stays on one thread: a step's kernels are too short for the hand-over (tens of µs each).
// The worker's kernel module keeps its static scratch below 64 KiB, where this module (built with
// --memoryBase 65536) has nothing.
//
// Hand-over: par_start(...) stores the job in the host's control block and wakes the worker; par_wait()
// returns once it is done (the host spins on an atomic: short waits, and a browser's main thread may not
// block).

// @ts-ignore: decorator
@external('env', 'ifp_par_start')
declare function ifp_par_start(kind: i32, type: i32, out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, a: i32, b: i32): void;
// @ts-ignore: decorator
@external('env', 'ifp_par_wait')
declare function ifp_par_wait(): void;

export const PAR_MATMUL: i32 = 1;
export const PAR_FFN: i32 = 2;
export const PAR_FFN_GROUPED: i32 = 3;

/** Whether the host started a worker (rt_set_workers). */
let workers: i32 = 0;

/** Smallest share worth handing over: rows of a matmul, bundles of a masked FFN. */
export const PAR_MIN_ROWS: i32 = 64;

/** The number of workers the engine may use (0 or 1); false outside the threads build. */
export function setWorkers(n: i32): bool {
  if (!ASC_FEATURE_THREADS) return n == 0;
  if (n < 0 || n > 1) return false;
  workers = n;
  return true;
}

// @ts-ignore: decorator
@inline export function parallel(): bool {
  return ASC_FEATURE_THREADS && workers > 0;
}

/** Hands the worker a job (see above); the engine then runs its own share and calls parWait. */
export function parStart(kind: i32, type: i32, out: usize, w: usize, x: usize, rows: i32, cols: i32, T: i32, a: i32, b: i32): void {
  if (ASC_FEATURE_THREADS) ifp_par_start(kind, type, out, w, x, rows, cols, T, a, b);
}

export function parWait(): void {
  if (ASC_FEATURE_THREADS) ifp_par_wait();
}
