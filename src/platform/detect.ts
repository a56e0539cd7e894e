/**
 * Which JavaScript runtime this is, and what it can do: the one runtime-detection function (hono's
 * getRuntimeKey) and the one frozen capabilities object (transformers.js `apis`). The platform entry
 * points export both; nothing else in ifprune sniffs globals.
 *
 * Order matters: Deno and Bun also define `process.versions.node` (Node compatibility), and a Worker
 * with nodejs_compat may too, so they are recognised before Node.
 */
import { relaxedSimdSupported, simdSupported } from '../engine/simd.ts';

export type RuntimeKey = 'deno' | 'bun' | 'workerd' | 'node' | 'browser' | 'other';

interface Globals {
  Deno?: { version?: { deno?: string } };
  Bun?: unknown;
  navigator?: { userAgent?: string };
  process?: { versions?: { node?: string } };
  window?: unknown;
  document?: unknown;
  WorkerGlobalScope?: unknown;
  crossOriginIsolated?: boolean;
  caches?: unknown;
  Worker?: unknown;
  SharedArrayBuffer?: unknown;
}

export function getRuntimeKey(): RuntimeKey {
  const g = globalThis as unknown as Globals;
  if (typeof g.Deno?.version?.deno === 'string') return 'deno';
  if (g.Bun !== undefined) return 'bun';
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  if (typeof g.process?.versions?.node === 'string') return 'node';
  if (g.window !== undefined || g.document !== undefined || g.WorkerGlobalScope !== undefined) return 'browser';
  return 'other';
}

export interface Capabilities {
  runtime: RuntimeKey;
  /** WebAssembly SIMD128 validates (the simd runtime build can run; else the scalar one). */
  simd: boolean;
  /** Relaxed SIMD validates and computes the relaxed kernels' dot right (the relaxed build runs; false on
   * workerd, which cannot compile the probe, and on Node 20 without --experimental-wasm-relaxed-simd). */
  relaxedSimd: boolean;
  /** WebAssembly.compile(bytes) is allowed (false on workerd: the module must be imported). */
  compileBytes: boolean;
  /** WebAssembly.compileStreaming exists (browsers, Deno, Node; not workerd). */
  compileStreaming: boolean;
  /** SharedArrayBuffer is usable (browsers: only when crossOriginIsolated). */
  sharedMemory: boolean;
  /** Threads can be started (Worker / worker_threads; not workerd). */
  workers: boolean;
  /** The Cache API (`caches`) is there to keep a model between visits. */
  cacheApi: boolean;
  /** Local files can be opened by path (Node, Deno, Bun). */
  fileSystem: boolean;
}

function detect(): Capabilities {
  const g = globalThis as unknown as Globals;
  const runtime = getRuntimeKey();
  const server = runtime === 'node' || runtime === 'deno' || runtime === 'bun';
  return {
    runtime,
    simd: simdSupported(),
    relaxedSimd: relaxedSimdSupported(),
    compileBytes: runtime !== 'workerd',
    compileStreaming: typeof WebAssembly === 'object' && typeof WebAssembly.compileStreaming === 'function' && runtime !== 'workerd',
    sharedMemory: typeof g.SharedArrayBuffer === 'function' && (runtime !== 'browser' || g.crossOriginIsolated === true),
    workers: server || (runtime === 'browser' && typeof g.Worker === 'function'),
    cacheApi: g.caches !== undefined && g.caches !== null,
    fileSystem: server,
  };
}

/** Measured once, when the entry point is first imported. */
export const capabilities: Readonly<Capabilities> = Object.freeze(detect());
