// Test-only exports for assembly/rt (engine) (build: node tools/build.mjs rt-test:engine). Prefix every export.
export * from '../abi';
