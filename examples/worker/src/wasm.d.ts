// A .wasm import in a Worker is a compiled WebAssembly.Module (wrangler / workerd "CompiledWasm").
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}
