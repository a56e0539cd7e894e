// The WASI command (build/ifprune.wasi.wasm): `ifprune run|inspect ...` under wasmtime or node:wasi.
console.log('ifprune (WASI): not built yet');
