/** The runtime builds, imported with the module graph (deno-wasm.js). */
export declare const RUNTIME_MODULES: { readonly relaxed: WebAssembly.Module; readonly simd: WebAssembly.Module; readonly scalar: WebAssembly.Module };
/** The threads build and its worker's kernels (open's threads: 2). */
export declare const THREAD_MODULES: { readonly runtime: WebAssembly.Module; readonly kernels: WebAssembly.Module };
