// Test-only exports for assembly/rt (sampler); prefix every export with the part's prefix.
export const __sampler_placeholder: i32 = 0;
