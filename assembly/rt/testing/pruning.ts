// Test-only exports for assembly/rt (pruning); prefix every export with the part's prefix.
export const __pruning_placeholder: i32 = 0;
