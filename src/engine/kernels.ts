/**
 * The kernel ABI: every export of build/kernels.{simd,scalar}.wasm, declared once as data.
 *
 * Each entry lists the export's arguments (byte offsets into linear memory, element counts, scalars)
 * and the memory regions those arguments name, so the host can check every operand lies inside
 * memory before calling (wasm would otherwise trap, or worse, silently read a neighbour's bytes).
 * `test/kernels-abi.test.ts` compares this table with `WebAssembly.Module.exports()` of both builds.
 *
 * Shapes (row-major; "Q8_0 row of n" = n/32 blocks of 34 bytes, see src/formats/quant.ts):
 *   matvec_*   out (rows) f32       = W (rows, cols) · x (cols)
 *   matmul_*   out (T, rows) f32    = X (T, cols) · Wᵀ          (prefill over a tile of T tokens)
 *   ffn_swiglu_masked_*  out (T, dim) += Σ_j silu(gate_j·x_t)·(up_j·x_t)·down_j over k packed bundles
 *              bundle j = [gate_j | up_j | down_j], 3 rows of dim weights of the bundle type
 *   ffn_swiglu_grouped_*  the same over k bundles in the grouped layout (assembly/grouped.ts), which
 *              bundles_regroup writes from (and reads back to) plain bundles
 * For Q8_0 and Q4_0 weights the activation operand x is already quantized to Q8_0 (quantize_row_q8_0).
 */
import { IfpruneError } from '../errors.ts';
import { QUANT, rowBytes, type QuantType } from '../formats/quant.ts';

type Region = readonly [name: string, offset: number, bytes: number];
type Args = Record<string, number>;

export interface KernelSpec {
  /** Argument names in call order. */
  readonly args: readonly string[];
  /** Memory regions read or written, computed from the arguments. */
  readonly regions: (a: Args) => Region[];
  /** Returns an error message if the shape is invalid (e.g. not a whole number of blocks). */
  readonly shape?: (a: Args) => string | null;
}

const F32 = 4;
const blocksOf = (q: QuantType) => (a: Args, key = 'n') =>
  a[key]! % q.blockElems === 0 ? null : `${key} = ${a[key]} is not a multiple of the ${q.name} block (${q.blockElems})`;

/** Bytes of one row of `n` activations for weights of type q (f32 for float weights, Q8_0 for quantized). */
function actRowBytes(q: QuantType, n: number): number {
  return q.blockElems === 1 ? n * F32 : rowBytes(QUANT.Q8_0, n);
}

function quantRow(q: QuantType, dir: 'q' | 'dq'): KernelSpec {
  return {
    args: ['dst', 'src', 'n'],
    shape: (a) => blocksOf(q)(a),
    regions: (a) => {
      const packed = (a.n! / q.blockElems) * q.blockBytes;
      return dir === 'q'
        ? [['dst', a.dst!, packed], ['src', a.src!, a.n! * F32]]
        : [['dst', a.dst!, a.n! * F32], ['src', a.src!, packed]];
    },
  };
}

function matvec(q: QuantType): KernelSpec {
  return {
    args: ['out', 'w', 'x', 'rows', 'cols'],
    shape: (a) => blocksOf(q)(a, 'cols'),
    regions: (a) => [
      ['out', a.out!, a.rows! * F32],
      ['w', a.w!, a.rows! * rowBytes(q, a.cols!)],
      ['x', a.x!, actRowBytes(q, a.cols!)],
    ],
  };
}

function matmul(q: QuantType): KernelSpec {
  return {
    args: ['out', 'w', 'x', 'rows', 'cols', 'T'],
    shape: (a) => blocksOf(q)(a, 'cols'),
    regions: (a) => [
      ['out', a.out!, a.T! * a.rows! * F32],
      ['w', a.w!, a.rows! * rowBytes(q, a.cols!)],
      ['x', a.x!, a.T! * actRowBytes(q, a.cols!)],
    ],
  };
}

function matmulRows(q: QuantType): KernelSpec {
  const m = matmul(q);
  return {
    args: [...m.args, 'r0', 'r1'],
    shape: (a) => m.shape!(a) ?? (0 <= a.r0! && a.r0! <= a.r1! && a.r1! <= a.rows! ? null : `rows ${a.r0}..${a.r1} are not within 0..${a.rows}`),
    regions: m.regions,
  };
}

function regroup(): KernelSpec {
  return {
    args: ['dst', 'src', 'k', 'dim', 'blockBytes', 'toGrouped'],
    shape: (a) =>
      a.dim! % 32 !== 0 ? `dim = ${a.dim} is not a multiple of the block (32)`
      : a.blockBytes !== QUANT.Q8_0.blockBytes && a.blockBytes !== QUANT.Q4_0.blockBytes ? `blockBytes = ${a.blockBytes} is neither Q8_0's (34) nor Q4_0's (18)`
      : null,
    regions: (a) => [
      ['dst', a.dst!, a.k! * 3 * (a.dim! / 32) * a.blockBytes!],
      ['src', a.src!, a.k! * 3 * (a.dim! / 32) * a.blockBytes!],
    ],
  };
}

function ffn(q: QuantType): KernelSpec {
  return {
    args: ['out', 'bundles', 'x', 'k', 'dim', 'T'],
    shape: (a) => blocksOf(q)(a, 'dim'),
    regions: (a) => [
      ['out', a.out!, a.T! * a.dim! * F32],
      ['bundles', a.bundles!, a.k! * 3 * rowBytes(q, a.dim!)],
      ['x', a.x!, a.T! * actRowBytes(q, a.dim!)],
    ],
  };
}

const vec = (...names: string[]) => (a: Args): Region[] => names.map((nm) => [nm, a[nm]!, a.n! * F32] as const);

export const KERNELS = {
  // --- quantization (bit-exact with ggml-quants.c quantize_row_*_ref; f16 round-to-nearest-even)
  quantize_row_q8_0: quantRow(QUANT.Q8_0, 'q'),
  quantize_row_q4_0: quantRow(QUANT.Q4_0, 'q'),
  quantize_row_f16: quantRow(QUANT.F16, 'q'),
  dequantize_row_q8_0: quantRow(QUANT.Q8_0, 'dq'),
  dequantize_row_q4_0: quantRow(QUANT.Q4_0, 'dq'),
  dequantize_row_f16: quantRow(QUANT.F16, 'dq'),
  // --- matrix-vector (decode)
  matvec_f32: matvec(QUANT.F32),
  matvec_f16: matvec(QUANT.F16),
  matvec_q8_0_q8_0: matvec(QUANT.Q8_0),
  matvec_q4_0_q8_0: matvec(QUANT.Q4_0),
  // --- matrix-matrix (prefill)
  matmul_f32: matmul(QUANT.F32),
  matmul_f16: matmul(QUANT.F16),
  matmul_q8_0_q8_0: matmul(QUANT.Q8_0),
  matmul_q4_0_q8_0: matmul(QUANT.Q4_0),
  /** rows r0..r1 - 1 of the matmul (one thread's share; out keeps its stride of rows) */
  matmul_rows_q8_0_q8_0: matmulRows(QUANT.Q8_0),
  matmul_rows_q4_0_q8_0: matmulRows(QUANT.Q4_0),
  // --- masked SwiGLU FFN over packed neuron bundles (T = 1 for decode)
  ffn_swiglu_masked_f32: ffn(QUANT.F32),
  ffn_swiglu_masked_q8_0: ffn(QUANT.Q8_0),
  ffn_swiglu_masked_q4_0: ffn(QUANT.Q4_0),
  ffn_swiglu_grouped_q8_0: ffn(QUANT.Q8_0),
  ffn_swiglu_grouped_q4_0: ffn(QUANT.Q4_0),
  /** dst = the k plain bundles at src in the grouped layout (toGrouped = 1), or back (0) */
  bundles_regroup: regroup(),
  // --- elementwise and attention (f32)
  /** out = x / sqrt(mean(x²) + eps) * w */
  rmsnorm_f32: { args: ['out', 'x', 'w', 'n', 'eps'], regions: vec('out', 'x', 'w') },
  /** in place on x (nHeads, headSize); rotates the first ropeDim dims of each head; neox=0: pairs
   * (2i, 2i+1) as llama2.c / GGUF llama; neox=1: pairs (i, i + ropeDim/2) as NeoX / Qwen2 / HF. */
  rope_f32: {
    args: ['x', 'nHeads', 'headSize', 'ropeDim', 'pos', 'freqBase', 'neox'],
    shape: (a) =>
      a.ropeDim! % 2 !== 0 || a.ropeDim! > a.headSize! ? `ropeDim = ${a.ropeDim} must be even and ≤ headSize = ${a.headSize}` : a.neox! > 1 ? `neox = ${a.neox} must be 0 or 1` : null,
    regions: (a) => [['x', a.x!, a.nHeads! * a.headSize! * F32]],
  },
  /** in place: x = softmax(x) */
  softmax_f32: { args: ['x', 'n'], regions: vec('x') },
  /** in place: x = x * sigmoid(x) */
  silu_f32: { args: ['x', 'n'], regions: vec('x') },
  /** out += x (the residual) */
  add_f32: { args: ['out', 'x', 'n'], regions: vec('out', 'x') },
  /** out *= x elementwise (SwiGLU: silu(gate) · up) */
  mul_f32: { args: ['out', 'x', 'n'], regions: vec('out', 'x') },
  /** index of the first maximum of x (n ≥ 1) */
  argmax_f32: { args: ['x', 'n'], shape: (a) => (a.n! < 1 ? 'n must be ≥ 1' : null), regions: vec('x') },
  /** Grouped-query attention of one new token. q (nHeads, headSize); kCache, vCache (nPos, nKvHeads·headSize)
   * for positions 0..nPos-1 (the new token's k, v already written at nPos-1); att scratch (nPos);
   * out (nHeads, headSize). Query head h reads kv head floor(h / (nHeads / nKvHeads)); scores scaled by 1/√headSize. */
  attention_f32: {
    args: ['out', 'q', 'kCache', 'vCache', 'att', 'nHeads', 'nKvHeads', 'headSize', 'nPos'],
    shape: (a) => (a.nKvHeads! < 1 || a.nHeads! % a.nKvHeads! !== 0 ? `nHeads = ${a.nHeads} is not a multiple of nKvHeads = ${a.nKvHeads}` : a.nPos! < 1 ? 'nPos must be ≥ 1' : null),
    regions: (a) => [
      ['out', a.out!, a.nHeads! * a.headSize! * F32],
      ['q', a.q!, a.nHeads! * a.headSize! * F32],
      ['kCache', a.kCache!, a.nPos! * a.nKvHeads! * a.headSize! * F32],
      ['vCache', a.vCache!, a.nPos! * a.nKvHeads! * a.headSize! * F32],
      ['att', a.att!, a.nPos! * F32],
    ],
  },
  /** Memory-bandwidth probe: sum of n f32 (streaming read). */
  mem_read_f32: { args: ['x', 'n'], regions: vec('x') },
} as const satisfies Record<string, KernelSpec>;

export type KernelName = keyof typeof KERNELS;

type Fn<A extends readonly string[]> = (...args: { [K in keyof A]: number }) => number;
/** The typed call surface: one function per kernel, arguments in table order. */
export type KernelFns = { [K in KernelName]: Fn<(typeof KERNELS)[K]['args']> };

/** Exports that are not kernels. */
export const NON_KERNEL_EXPORTS = ['memory', 'heap_base', 'HAS_SIMD', 'QK', 'Q8_0_BLOCK_BYTES', 'Q4_0_BLOCK_BYTES'] as const;

const PAGE = 65536;
/** Arguments that are f32 scalars; every other argument is an offset or a count. */
const FLOAT_ARGS = new Set(['eps', 'freqBase']);

/**
 * An instantiated kernel module plus a bump arena over its memory. `fn.*` checks shapes and bounds
 * and throws IfpruneError('out_of_bounds' | 'bad_option') instead of letting wasm trap; `raw.*`
 * skips the checks (for hot loops whose operands were checked once when planned).
 */
export class Kernels {
  readonly raw: KernelFns;
  readonly fn: KernelFns;
  readonly memory: WebAssembly.Memory;
  readonly simd: boolean;
  private top: number;

  private constructor(instance: WebAssembly.Instance) {
    const ex = instance.exports as Record<string, unknown>;
    this.memory = ex.memory as WebAssembly.Memory;
    this.simd = Boolean((ex.HAS_SIMD as WebAssembly.Global).value);
    this.top = align((ex.heap_base as () => number)() >>> 0, 64);
    const raw: Record<string, (...a: number[]) => number> = {};
    const fn: Record<string, (...a: number[]) => number> = {};
    for (const [name, spec] of Object.entries(KERNELS) as [string, KernelSpec][]) {
      let f = ex[name] as ((...a: number[]) => number) | undefined;
      if (typeof f !== 'function') {
        // Reported on use rather than at load so a partial build can still run the kernels it has;
        // test/kernels-abi.test.ts requires every export to be present.
        f = () => {
          throw new IfpruneError('no_wasm', `kernel module lacks export "${name}": rebuild it (npm run build)`);
        };
      }
      raw[name] = f;
      fn[name] = (...args: number[]) => {
        this.check(name, spec, args);
        return f(...args);
      };
    }
    this.raw = raw as KernelFns;
    this.fn = fn as KernelFns;
  }

  static async create(module: WebAssembly.Module): Promise<Kernels> {
    const instance = await WebAssembly.instantiate(module, {});
    return new Kernels(instance);
  }

  private check(name: string, spec: KernelSpec, args: number[]): void {
    if (args.length !== spec.args.length) {
      throw new IfpruneError('bad_option', `${name} takes ${spec.args.length} arguments (${spec.args.join(', ')}), got ${args.length}`);
    }
    const a: Args = {};
    spec.args.forEach((k, i) => (a[k] = args[i]!));
    for (const [k, v] of Object.entries(a)) {
      if (FLOAT_ARGS.has(k) ? !Number.isFinite(v) : !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) {
        throw new IfpruneError('bad_option', `${name}: ${k} = ${v} is not ${FLOAT_ARGS.has(k) ? 'a finite number' : 'a non-negative integer'}`);
      }
    }
    const bad = spec.shape?.(a);
    if (bad) throw new IfpruneError('bad_option', `${name}: ${bad}`);
    const size = this.memory.buffer.byteLength;
    for (const [rn, off, bytes] of spec.regions(a)) {
      if (!(off >= 0 && bytes >= 0 && Number.isInteger(off) && off + bytes <= size)) {
        throw new IfpruneError(
          'out_of_bounds',
          `${name}: operand ${rn} [${off}, ${off + bytes}) lies outside wasm memory of ${size} bytes; allocate it with Kernels.alloc first`,
        );
      }
    }
  }

  /** A checked call by name, for code that picks the kernel at run time (by weight type). */
  call(name: KernelName, ...args: number[]): number {
    return (this.fn[name] as (...a: number[]) => number)(...args);
  }

  /** An unchecked call by name (operands checked once when planned). */
  callRaw(name: KernelName, ...args: number[]): number {
    return (this.raw[name] as (...a: number[]) => number)(...args);
  }

  /** Reserves `bytes` (aligned to `alignment`, default 64) from the arena, growing memory as needed. */
  alloc(bytes: number, alignment = 64): number {
    if (!(bytes >= 0) || !Number.isInteger(bytes)) throw new IfpruneError('bad_option', `alloc: invalid size ${bytes}`);
    const off = align(this.top, alignment);
    const end = off + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.memory.grow(pages);
      } catch (cause) {
        throw new IfpruneError('out_of_memory', `could not grow wasm memory to ${end} bytes (${(end / 2 ** 20).toFixed(1)} MiB); the runtime's limit is lower. Use a smaller model, a lower density or a Q4_0 file.`, { cause });
      }
    }
    this.top = end;
    return off;
  }

  /** The arena position, to release everything allocated after it with `release`. */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }

  /** Fresh views (memory growth detaches old ones: never cache these across an alloc). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, n);
  }
}

function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}
