/** A .wasm file imported as a module is a compiled WebAssembly.Module (workerd, wrangler; worker.ts). */
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
