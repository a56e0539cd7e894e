// @ts-self-types="./deno-wasm.d.ts"
// The runtime builds as Deno source-phase imports: each default export is a WebAssembly.Module, loaded
// with the module graph, so no --allow-read is needed for them (a fetch or readFile of the .wasm would
// need one). V8 compiles lazily: importing the three builds costs next to nothing. This file is JavaScript
// because TypeScript 5.9 cannot parse `import source`; tools/bundle.mjs rewrites the paths to the
// copies beside dist/deno/index.js.
import source relaxed from '../../build/ifprune.relaxed.wasm';
import source simd from '../../build/ifprune.simd.wasm';
import source scalar from '../../build/ifprune.scalar.wasm';
import source threads from '../../build/ifprune.threads.wasm';
import source threadKernels from '../../build/kernels.threads.wasm';

export const RUNTIME_MODULES = { relaxed, simd, scalar };
/** threads: 2 (src/threads.ts): the runtime on a shared memory and its worker's kernels. */
export const THREAD_MODULES = { runtime: threads, kernels: threadKernels };
