// Elementwise ops and attention (f32). See src/engine/kernels.ts for the ABI.
