// Test-only exports for assembly/rt (engine); prefix every export with the part's prefix.
export const __engine_placeholder: i32 = 0;
