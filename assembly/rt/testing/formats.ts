// Test-only exports for assembly/rt (formats) (build: node tools/build.mjs rt-test:formats). Prefix every export with fmt_.
export * from '../abi';
import { toF32 } from '../tensors';
export function fmt_to_f32(type: i32, src: usize, dst: usize, n: i32): bool { return toF32(type, src, dst, n); }
import { TensorLoader } from '../tensors';
import { ModelSpec } from '../spec';
export function fmt_loader_smoke(): i32 { const l = new TensorLoader(new ModelSpec(), null, 'x'); l.add('a', 0); l.request(); return l.finish() ? 1 : 0; }
