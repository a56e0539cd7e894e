/**
 * Run-time choice between the kernel builds: 'relaxed' (SIMD128 plus relaxed SIMD, docs/relaxed-simd.md),
 * 'simd' and 'scalar'. 'auto' picks the first whose probe passes.
 *
 * The SIMD probe is the smallest module using a SIMD instruction (as onnxruntime-web's isSimdSupported):
 *   (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
 * A runtime without SIMD128 fails WebAssembly.validate on it.
 *
 * The relaxed probe must also compute right, since an engine may validate an instruction it gets wrong
 * (Node 20's Liftoff returns twice the right i32x4.relaxed_dot_i8x16_i7x16_add_s): it is instantiated
 * and run once, and passes only if it returns the exact value of the dot the relaxed kernels use:
 *   (module (func (export "f") (result i32)
 *     (i32x4.extract_lane 0 (i32x4.extadd_pairwise_i16x8_s (i16x8.relaxed_dot_i8x16_i7x16_s
 *       (v128.const i8x16 -128 127 -3 5 0 …) (v128.const i8x16 127 127 2 1 0 …))))))
 * = (-128·127 + 127·127) + (-3·2 + 5·1) = -128. Compiling it needs `new WebAssembly.Module(bytes)`, which
 * workerd refuses: there the probe is false (the Worker entry point ships the SIMD build only).
 */
import { IfpruneError } from '../errors.ts';

const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x0a, 0x01, 0x08, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x62, 0x0b, // code: i32.const 0; i8x16.splat; i8x16.popcnt
]);

const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type section: () -> i32
  0x03, 0x02, 0x01, 0x00, // function section
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f"
  0x0a, 0x30, 0x01, 0x2e, 0x00, // code section, one body of 46 bytes, no locals
  0xfd, 0x0c, 0x80, 0x7f, 0xfd, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // v128.const i8x16 -128 127 -3 5 0 …
  0xfd, 0x0c, 0x7f, 0x7f, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // v128.const i8x16 127 127 2 1 0 …
  0xfd, 0x92, 0x02, // i16x8.relaxed_dot_i8x16_i7x16_s
  0xfd, 0x7e, // i32x4.extadd_pairwise_i16x8_s
  0xfd, 0x1b, 0x00, // i32x4.extract_lane 0
  0x0b, // end
]);
const RELAXED_PROBE_RESULT = -128;

/** The kernel builds, fastest first: what 'auto' tries in order. */
export const KERNEL_BUILDS = ['relaxed', 'simd', 'scalar'] as const;
export type KernelBuild = (typeof KERNEL_BUILDS)[number];

export function simdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

let relaxed: boolean | undefined;

/** Relaxed SIMD validates and computes the relaxed kernels' dot exactly (probed once per process). */
export function relaxedSimdSupported(): boolean {
  if (relaxed === undefined) {
    try {
      if (typeof WebAssembly !== 'object' || !WebAssembly.validate(RELAXED_PROBE)) relaxed = false;
      else {
        const { f } = new WebAssembly.Instance(new WebAssembly.Module(RELAXED_PROBE), {}).exports as { f: () => number };
        relaxed = f() === RELAXED_PROBE_RESULT;
      }
    } catch {
      relaxed = false;
    }
  }
  return relaxed;
}

/**
 * The build to use: the best the runtime supports for 'auto', else the requested one. Asking for
 * 'relaxed' where the probe fails is an error with what to do (a module that does not compile would fail
 * later with less to go on); an unknown name is a bad_option.
 */
export function chooseBuild(requested: KernelBuild | 'auto' = 'auto'): KernelBuild {
  if (requested === 'auto') return relaxedSimdSupported() ? 'relaxed' : simdSupported() ? 'simd' : 'scalar';
  if (!(KERNEL_BUILDS as readonly string[]).includes(requested)) {
    throw new IfpruneError('bad_option', `kernels = ${JSON.stringify(requested)}: use 'auto', ${KERNEL_BUILDS.map((b) => `'${b}'`).join(', ')}`);
  }
  if (requested === 'relaxed' && !relaxedSimdSupported()) {
    throw new IfpruneError('no_wasm', "kernels = 'relaxed': this WebAssembly runtime does not run relaxed SIMD correctly (Node 20 needs --experimental-wasm-relaxed-simd; Node 22+, Deno, Chromium and wasmtime have it); use 'auto' or 'simd'");
  }
  return requested;
}
