/**
 * Run-time choice between the SIMD and the scalar kernel build.
 *
 * The probe is the smallest module using a SIMD instruction (as onnxruntime-web's isSimdSupported):
 *   (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
 * A runtime without SIMD128 fails WebAssembly.validate on it.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x62, 0x0b, // code: i32.const 0; i8x16.splat; i8x16.popcnt
]);

export type KernelBuild = 'simd' | 'scalar';

export function simdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/** The build to use: the requested one, or the best the runtime supports. */
export function chooseBuild(requested: KernelBuild | 'auto' = 'auto'): KernelBuild {
  if (requested !== 'auto') return requested;
  return simdSupported() ? 'simd' : 'scalar';
}
