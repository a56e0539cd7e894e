// Test-only exports for assembly/rt (tokenizer) (build: node tools/build.mjs rt-test:tokenizer). Prefix every export.
export * from '../abi';
