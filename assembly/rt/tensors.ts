// Reading whole tensors into wasm memory, sans I/O: plan (allocate, list the byte ranges as needs),
// then, once the host has read them, verify each against the file's chunk hashes and convert the ones
// not kept as stored to f32. Used by the engine (weights) and the predictor (its tensors).
import { TensorInfo, ModelSpec, IfpruneInfo } from './spec';
import { fail } from './error';
import { need, FILE_MODEL } from './io';
import { verifyTensorBytes } from './ifprune';
import { fitsInMemory } from './plan';
import { GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, typeName, blockElems, rowBytes } from './quant';
import { dequantize_row_f16, dequantize_row_q8_0, dequantize_row_q4_0 } from '../quant';

/** Longest single read asked of the host (wasmtime-py refuses one iovec ≥ 128 MiB; PLATFORMS.md §5.8). */
export const MAX_NEED_BYTES: u64 = 16 << 20;

export class TensorJob {
  constructor(public t: TensorInfo, public dest: usize, public staging: usize, public to: i32) {}
}

export class TensorLoader {
  jobs: Array<TensorJob> = [];
  /** Bytes the planned tensors occupy in the file. */
  fileBytes: u64 = 0;
  /** Bytes allocated in wasm memory for them (kept form). */
  memBytes: u64 = 0;

  constructor(public spec: ModelSpec, public info: IfpruneInfo | null, public fileName: string) {}

  /**
   * Plans tensor `name`, kept as type `to` (its own type, or GGML_F32 to convert F16/BF16/Q8_0/Q4_0 to
   * f32). Returns the 16-byte-aligned address it will occupy, or 0 with fail() (missing, unknown type).
   */
  add(name: string, to: i32): usize {
    if (!this.spec.tensors.has(name)) {
      fail('corrupt', this.fileName + ': tensor ' + name + ' is missing');
      return 0;
    }
    const t = this.spec.tensors.get(name);
    if (blockElems(t.type) == 0) {
      fail('unsupported', this.fileName + ': tensor ' + name + ' has GGML type ' + typeName(t.type) + '; ifprune reads F32, F16, BF16, Q8_0 and Q4_0. Re-quantize the model to one of these.');
      return 0;
    }
    const n = t.elements();
    const keptBytes: u64 = to == t.type ? t.bytes : <u64>(n * 4);
    if (!fitsInMemory(<f64>keptBytes + (to == t.type ? 0 : <f64>t.bytes))) {
      fail('out_of_memory', this.fileName + ': tensor ' + name + ' needs ' + keptBytes.toString() + ' bytes of wasm memory, more than a 32-bit wasm memory can hold');
      return 0;
    }
    const dest = heap.alloc(<usize>max<u64>(keptBytes, 16));
    const staging: usize = to == t.type ? 0 : heap.alloc(<usize>max<u64>(t.bytes, 16));
    this.jobs.push(new TensorJob(t, dest, staging, to));
    this.fileBytes += t.bytes;
    this.memBytes += keptBytes;
    return dest;
  }

  /** Lists every planned tensor's bytes as needs (in pieces of at most MAX_NEED_BYTES). */
  request(): void {
    for (let i = 0; i < this.jobs.length; i++) {
      const j = this.jobs[i];
      const into = j.staging != 0 ? j.staging : j.dest;
      for (let off: u64 = 0; off < j.t.bytes; off += MAX_NEED_BYTES) {
        const len = min<u64>(MAX_NEED_BYTES, j.t.bytes - off);
        need(FILE_MODEL, j.t.offset + off, <u32>len, into + <usize>off);
      }
    }
  }

  /** After the host read the needs: verifies every tensor and converts the staged ones; frees staging. */
  finish(): bool {
    for (let i = 0; i < this.jobs.length; i++) {
      const j = this.jobs[i];
      const into = j.staging != 0 ? j.staging : j.dest;
      if (!verifyTensorBytes(this.info, j.t.name, 0, into, <usize>j.t.bytes)) return false;
      if (j.staging != 0) {
        if (!toF32(j.t.type, j.staging, j.dest, <i32>j.t.elements())) {
          return fail('unsupported', this.fileName + ': tensor ' + j.t.name + ' has type ' + typeName(j.t.type) + ', which cannot be converted to F32');
        }
        heap.free(j.staging);
        j.staging = 0;
      }
    }
    this.jobs.length = 0;
    return true;
  }
}

/** n values of GGML type `type` at src → f32 at dst (the one stored-values-to-f32 conversion). */
export function toF32(type: i32, src: usize, dst: usize, n: i32): bool {
  if (type == GGML_F32) memory.copy(dst, src, <usize>n * 4);
  else if (type == GGML_F16) dequantize_row_f16(dst, src, n);
  else if (type == GGML_Q8_0) dequantize_row_q8_0(dst, src, n);
  else if (type == GGML_Q4_0) dequantize_row_q4_0(dst, src, n);
  else if (type == GGML_BF16) {
    for (let i = 0; i < n; i++) store<u32>(dst + (<usize>i << 2), (<u32>load<u16>(src + (<usize>i << 1))) << 16);
  } else return false;
  return true;
}

/** Bytes of `rows` rows of `cols` elements of type t. */
export function matrixBytes(t: i32, rows: i64, cols: i64): i64 {
  return rows * rowBytes(t, cols);
}
