// Test-only exports for assembly/rt (formats); prefix every export with the part's prefix.
export const __formats_placeholder: i32 = 0;
