/**
 * Loads build/rt-test.wasm (the runtime plus test-only exports, assembly/testing.ts) and moves bytes,
 * strings and arrays in and out of its memory, for the test/rt-*.test.ts suites that hold the wasm
 * runtime to the TypeScript oracles.
 */
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type RtExports = Record<string, any> & { memory: WebAssembly.Memory };

export class Rt {
  readonly ex: RtExports;
  constructor(instance: WebAssembly.Instance) {
    this.ex = instance.exports as RtExports;
  }

  static async create(file = 'build/rt-test.wasm'): Promise<Rt> {
    const module = new WebAssembly.Module(readFileSync(join(root, file)));
    let rt: Rt | undefined;
    const instance = await WebAssembly.instantiate(module, {
      env: {
        abort(msg: number, fileName: number, line: number, col: number) {
          const s = (p: number) => (p && rt ? rt.utf16(p) : '?');
          throw new Error(`wasm abort: ${s(msg)} at ${s(fileName)}:${line}:${col}`);
        },
        trace() {},
        seed: () => 42,
        now: () => performance.now(),
      },
    });
    rt = new Rt(instance);
    return rt;
  }

  get u8(): Uint8Array {
    return new Uint8Array(this.ex.memory.buffer);
  }

  /** Copies bytes into a fresh rt_alloc buffer; returns its pointer (free with rt_free). */
  put(data: Uint8Array | Float32Array | Int32Array): number {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const p = this.ex.rt_alloc(Math.max(1, bytes.length)) >>> 0;
    this.u8.set(bytes, p);
    return p;
  }

  /** A UTF-8 string in a fresh buffer: [ptr, byteLength]. */
  putString(s: string): [number, number] {
    const b = new TextEncoder().encode(s);
    return [this.put(b), b.length];
  }

  bytes(p: number, n: number): Uint8Array {
    return this.u8.slice(p >>> 0, (p >>> 0) + n);
  }

  f32(p: number, n: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer.slice(p >>> 0, (p >>> 0) + n * 4));
  }

  i32(p: number, n: number): Int32Array {
    return new Int32Array(this.ex.memory.buffer.slice(p >>> 0, (p >>> 0) + n * 4));
  }

  /** Reads a runtime "str": [u32 byte length | UTF-8 bytes]. */
  str(p: number): string {
    p >>>= 0;
    const n = new DataView(this.ex.memory.buffer).getUint32(p, true);
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.u8.subarray(p + 4, p + 4 + n));
  }

  /** An AssemblyScript managed string (UTF-16, length at p - 4), for abort messages. */
  utf16(p: number): string {
    const n = new Uint32Array(this.ex.memory.buffer, p - 4, 1)[0]! >>> 1;
    return String.fromCharCode(...new Uint16Array(this.ex.memory.buffer, p, n));
  }

  /** The runtime's last error as `code: message` ('' when none). */
  error(): string {
    const code = this.str(this.ex.rt_error_code());
    return code ? `${code}: ${this.str(this.ex.rt_error_message())}` : '';
  }

  errorCode(): string {
    return this.str(this.ex.rt_error_code());
  }
}
