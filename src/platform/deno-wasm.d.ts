/** The runtime builds, imported with the module graph (deno-wasm.js). */
export declare const RUNTIME_MODULES: { readonly relaxed: WebAssembly.Module; readonly simd: WebAssembly.Module; readonly scalar: WebAssembly.Module };
