/**
 * Row decoding (any source type → f32) and encoding (f32 → the output type) for the converter, over one
 * f32 staging buffer. With a compiled kernel module the work runs in the wasm kernels
 * (quantize_row_* / dequantize_row_*); without one, in the TS quantizers of src/formats/quant-values.ts.
 * Both are bit-exact with ggml-quants.c, so the output bytes are the same either way (a test checks).
 *
 *   staging   (stageElems) f32          rows being assembled (a bundle row = [gate | up | down column])
 *   raw       (stageElems · 4) bytes     packed source rows, copied in for the dequantize kernels
 *   out       (stageElems · 4) bytes     packed output of encode()
 */
import { IfpruneError } from '../errors.ts';
import { Kernels, type KernelName } from '../engine/kernels.ts';
import { QUANT, rowBytes, type QuantType } from '../formats/quant.ts';
import {
  dequantizeRowF16, dequantizeRowQ4_0, dequantizeRowQ8_0, f16ToF32, quantizeRowF16, quantizeRowQ4_0, quantizeRowQ8_0,
} from '../formats/quant-values.ts';

type RefFn = (dst: Uint8Array | Float32Array, src: Uint8Array | Float32Array, n: number) => void;

const KERNEL: Record<number, { q?: KernelName; dq?: KernelName; refQ?: RefFn; refDq?: RefFn }> = {
  [QUANT.F16.id]: { q: 'quantize_row_f16', dq: 'dequantize_row_f16', refQ: quantizeRowF16 as RefFn, refDq: dequantizeRowF16 as RefFn },
  [QUANT.Q8_0.id]: { q: 'quantize_row_q8_0', dq: 'dequantize_row_q8_0', refQ: quantizeRowQ8_0 as RefFn, refDq: dequantizeRowQ8_0 as RefFn },
  [QUANT.Q4_0.id]: { q: 'quantize_row_q4_0', dq: 'dequantize_row_q4_0', refQ: quantizeRowQ4_0 as RefFn, refDq: dequantizeRowQ4_0 as RefFn },
};

/** IEEE half → f32 for every bit pattern, built on first use (256 KiB). */
let F16_TABLE: Float32Array | null = null;
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    F16_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16ToF32(h);
  }
  return F16_TABLE;
}

export class RowCodec {
  private readonly k: Kernels | null;
  private readonly stagePtr: number;
  private readonly rawPtr: number;
  private readonly outPtr: number;
  private readonly stageJs: Float32Array | null;
  private readonly outJs: Uint8Array | null;

  private constructor(k: Kernels | null, readonly stageElems: number) {
    this.k = k;
    if (k) {
      this.stagePtr = k.alloc(stageElems * 4);
      this.rawPtr = k.alloc(stageElems * 4);
      this.outPtr = k.alloc(stageElems * 4);
      this.stageJs = null;
      this.outJs = null;
    } else {
      this.stagePtr = this.rawPtr = this.outPtr = 0;
      this.stageJs = new Float32Array(stageElems);
      this.outJs = new Uint8Array(stageElems * 4);
    }
  }

  /** A codec staging up to `stageElems` values; wasm when `module` is given, else the TS references. */
  static async create(stageElems: number, module?: WebAssembly.Module): Promise<RowCodec> {
    return new RowCodec(module ? await Kernels.create(module) : null, stageElems);
  }

  get usesWasm(): boolean {
    return this.k !== null;
  }

  /** The staging buffer (a fresh view: valid until the next call on this codec that allocates, i.e. none after create). */
  stage(): Float32Array {
    return this.k ? this.k.f32(this.stagePtr, this.stageElems) : this.stageJs!;
  }

  /** staging[at .. at + n) = decode(raw), raw holding n values of `type` (whole blocks). */
  decode(type: QuantType, raw: Uint8Array, n: number, at: number): void {
    if (at + n > this.stageElems) throw new IfpruneError('bad_option', `decode: ${at} + ${n} values exceed the ${this.stageElems}-value staging buffer`);
    const packed = rowBytes(type, n);
    if (raw.length < packed) throw new IfpruneError('bad_option', `decode: ${n} ${type.name} values need ${packed} bytes, got ${raw.length}`);
    const stage = this.stage();
    if (type.id === QUANT.F32.id) {
      new Uint8Array(stage.buffer, stage.byteOffset + at * 4, n * 4).set(raw.subarray(0, packed));
      return;
    }
    if (type.id === QUANT.BF16.id) {
      const dv = new DataView(raw.buffer, raw.byteOffset, packed);
      const u32 = new Uint32Array(stage.buffer, stage.byteOffset + at * 4, n);
      for (let i = 0; i < n; i++) u32[i] = dv.getUint16(2 * i, true) << 16;
      return;
    }
    const entry = KERNEL[type.id];
    if (!entry) throw new IfpruneError('unsupported', `cannot decode tensor type ${type.name}`);
    if (this.k) {
      this.k.u8(this.rawPtr, packed).set(raw.subarray(0, packed));
      this.k.callRaw(entry.dq!, this.stagePtr + at * 4, this.rawPtr, n);
    } else {
      entry.refDq!(stage.subarray(at, at + n), raw, n);
    }
  }

  /** Encodes staging[0 .. n) as `type`; the bytes are valid until the next encode. */
  encode(type: QuantType, n: number): Uint8Array {
    const packed = rowBytes(type, n);
    const stage = this.stage();
    if (type.id === QUANT.F32.id) return new Uint8Array(stage.buffer, stage.byteOffset, n * 4);
    const entry = KERNEL[type.id];
    if (!entry?.q) throw new IfpruneError('unsupported', `cannot encode tensor type ${type.name}; output types are F32, F16, Q8_0 and Q4_0`);
    if (this.k) {
      this.k.callRaw(entry.q, this.outPtr, this.stagePtr, n);
      return this.k.u8(this.outPtr, packed);
    }
    const out = this.outJs!.subarray(0, packed);
    entry.refQ!(out, stage.subarray(0, n), n);
    return out;
  }
}

/**
 * Reads column `col` of `rows` consecutive packed rows (each `rowStride` bytes of `type`) from `raw`
 * into dst[at], dst[at + 1], ...: a down-projection column for a neuron bundle. Values are exactly
 * what the dequantize kernels give (d·q rounded once to f32).
 */
export function readColumn(type: QuantType, raw: Uint8Array, rowStride: number, rows: number, col: number, dst: Float32Array, at: number): void {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (type.id) {
    case QUANT.F32.id:
      for (let i = 0; i < rows; i++) dst[at + i] = dv.getFloat32(i * rowStride + 4 * col, true);
      return;
    case QUANT.F16.id: {
      const t = f16Table();
      for (let i = 0; i < rows; i++) dst[at + i] = t[dv.getUint16(i * rowStride + 2 * col, true)]!;
      return;
    }
    case QUANT.BF16.id: {
      const u32 = new Uint32Array(dst.buffer, dst.byteOffset + at * 4, rows);
      for (let i = 0; i < rows; i++) u32[i] = dv.getUint16(i * rowStride + 2 * col, true) << 16;
      return;
    }
    case QUANT.Q8_0.id: {
      const t = f16Table();
      const blk = (col >>> 5) * QUANT.Q8_0.blockBytes;
      const j = col & 31;
      for (let i = 0; i < rows; i++) {
        const o = i * rowStride + blk;
        dst[at + i] = t[dv.getUint16(o, true)]! * dv.getInt8(o + 2 + j);
      }
      return;
    }
    case QUANT.Q4_0.id: {
      const t = f16Table();
      const blk = (col >>> 5) * QUANT.Q4_0.blockBytes;
      const j = col & 31;
      const byte = 2 + (j & 15);
      const shift = j < 16 ? 0 : 4;
      for (let i = 0; i < rows; i++) {
        const o = i * rowStride + blk;
        dst[at + i] = t[dv.getUint16(o, true)]! * (((raw[o + byte]! >> shift) & 0x0f) - 8);
      }
      return;
    }
    default:
      throw new IfpruneError('unsupported', `cannot read a column of tensor type ${type.name}`);
  }
}
