// The test build (build/rt-test.wasm): the shared ABI plus test-only exports of each runtime part, which
// test/rt-*.test.ts drive against the TypeScript oracles. Not shipped.
export * from './rt/abi';
export * from './rt/testing/formats';
export * from './rt/testing/tokenizer';
export * from './rt/testing/sampler';
export * from './rt/testing/engine';
export * from './rt/testing/pruning';
