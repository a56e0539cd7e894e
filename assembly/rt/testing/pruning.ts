// Test-only exports for assembly/rt (pruning) (build: node tools/build.mjs rt-test:pruning). Prefix every export.
export * from '../abi';
