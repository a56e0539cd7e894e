// Test-only exports for assembly/rt (sampler) (build: node tools/build.mjs rt-test:sampler). Prefix every export.
export * from '../abi';
