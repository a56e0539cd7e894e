// The ifprune runtime for JS hosts (build/ifprune.{simd,scalar}.wasm): the whole sans-I/O engine —
// model parsing, tokenizer, predictor, load plans, forward pass, sampling, stop strings — behind a few
// exports. The host's only job is I/O: read the byte ranges the runtime lists (rt_need_*) and resume.
// See docs/architecture.md, "Writing a host".
export * from './rt/abi';
