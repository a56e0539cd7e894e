// Test-only exports for assembly/rt (tokenizer); prefix every export with the part's prefix.
export const __tokenizer_placeholder: i32 = 0;
