/**
 * Reading helpers over any ByteSource: a bounds-checked `readAt`, and `ByteReader`, the buffered
 * little-endian cursor every format parser (gguf.ts, llama2c.ts, safetensors.ts) walks its header with.
 *
 * Header parsing makes many tiny reads (a 4-byte type, an 8-byte length, a 5-byte key ...). Over HTTP
 * or R2 each read would be a request, so ByteReader coalesces them: it fetches the source in windows of
 * at least WINDOW_BYTES (1 MiB, wllama's minimum read for the same reason) and serves small reads from
 * the window. A read larger than the window is fetched whole.
 *
 * Every read checks the end of the source first and fails with IfpruneError('truncated') naming what was
 * being read, where, and the source size; nothing is allocated from an unchecked length.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';

/** Minimum bytes fetched per refill of a ByteReader window. */
export const WINDOW_BYTES = 1 << 20;

/** Whether this host stores numbers little-endian (every wasm host does), so LE bytes can back a typed array. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8 = new TextDecoder('utf-8');

/** "the 1185376-byte file models/x.gguf" (also said of a URL or an R2 object: what matters is the size). */
export function describeSource(src: Pick<ByteSource, 'size' | 'name'>): string {
  return `the ${src.size}-byte file ${src.name}`;
}

/**
 * Throws IfpruneError('truncated') unless [offset, offset + length) lies inside the source.
 * `what` names the structure being read, for the message.
 */
export function checkRange(src: Pick<ByteSource, 'size' | 'name'>, offset: number, length: number, what = 'read'): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new IfpruneError('truncated', `${what}: invalid range offset ${offset}, length ${length} in ${describeSource(src)}`);
  }
  if (offset + length > src.size) {
    throw new IfpruneError(
      'truncated',
      `${what}: ${length} bytes at byte ${offset} run past the end of ${describeSource(src)} ` +
        `(${offset + length - src.size} bytes missing); the file is incomplete or not what it claims to be`,
    );
  }
}

/** Reads [offset, offset + length) into a new Uint8Array; bounds are checked before anything is allocated. */
export async function readAt(src: ByteSource, offset: number, length: number, what = 'read', signal?: AbortSignal): Promise<Uint8Array> {
  checkRange(src, offset, length, what);
  const out = new Uint8Array(length);
  if (length > 0) await src.readInto(offset, out, signal);
  return out;
}

/**
 * A little-endian cursor over a ByteSource with a read-ahead window. All reads are async (they may have
 * to refill the window) and advance `pos`.
 *
 * Messages: set `context` to the structure being walked ("GGUF metadata key 12") and pass each read a
 * short `what` ("value type"); a failure reads "GGUF metadata key 12: value type (4 bytes) at byte 812
 * runs past the end of the 1185376-byte file x.gguf".
 */
export class ByteReader {
  /** Absolute offset of the next read. */
  pos: number;
  /** What is being parsed, prefixed to error messages. */
  context = '';
  private buf = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(
    readonly src: ByteSource,
    offset = 0,
    private readonly signal?: AbortSignal,
    private readonly window = WINDOW_BYTES,
  ) {
    this.pos = offset;
  }

  /** Bytes between `pos` and the end of the source. */
  get remaining(): number {
    return this.src.size - this.pos;
  }

  /** An IfpruneError with the reader's context and position. */
  error(code: 'truncated' | 'corrupt' | 'unsupported', message: string, at = this.pos): IfpruneError {
    const where = `${this.context ? this.context + ': ' : ''}${message}`;
    return new IfpruneError(code, code === 'truncated' ? where : `${where} (at byte ${at} of ${this.src.name})`);
  }

  /**
   * Makes [pos, pos + n) available in the window and returns its offset in `buf`; throws 'truncated'
   * (with `what`) if the source ends first.
   */
  private async need(n: number, what: string): Promise<number> {
    if (n > this.remaining) {
      throw this.error('truncated', `${what} (${n} bytes) at byte ${this.pos} runs past the end of ${describeSource(this.src)}`);
    }
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.length) return rel;
    const len = Math.min(Math.max(n, this.window), this.remaining);
    const buf = new Uint8Array(len);
    await this.src.readInto(this.pos, buf, this.signal);
    this.buf = buf;
    this.view = new DataView(buf.buffer);
    this.bufStart = this.pos;
    return 0;
  }

  /** Throws 'truncated' unless `n` more bytes exist, without reading them (use before allocating by a count). */
  ensureRemaining(n: number, what: string): void {
    if (!(n <= this.remaining)) {
      throw this.error('truncated', `${what} at byte ${this.pos} runs past the end of ${describeSource(this.src)} (${this.remaining} bytes left)`);
    }
  }

  async u8(what: string): Promise<number> {
    const o = await this.need(1, what);
    this.pos += 1;
    return this.buf[o]!;
  }
  async i8(what: string): Promise<number> {
    const o = await this.need(1, what);
    this.pos += 1;
    return this.view.getInt8(o);
  }
  async u16(what: string): Promise<number> {
    const o = await this.need(2, what);
    this.pos += 2;
    return this.view.getUint16(o, true);
  }
  async i16(what: string): Promise<number> {
    const o = await this.need(2, what);
    this.pos += 2;
    return this.view.getInt16(o, true);
  }
  async u32(what: string): Promise<number> {
    const o = await this.need(4, what);
    this.pos += 4;
    return this.view.getUint32(o, true);
  }
  async i32(what: string): Promise<number> {
    const o = await this.need(4, what);
    this.pos += 4;
    return this.view.getInt32(o, true);
  }
  async u64big(what: string): Promise<bigint> {
    const o = await this.need(8, what);
    this.pos += 8;
    return this.view.getBigUint64(o, true);
  }
  async i64big(what: string): Promise<bigint> {
    const o = await this.need(8, what);
    this.pos += 8;
    return this.view.getBigInt64(o, true);
  }
  /** A uint64 used as a count, length or offset: returned as a number, 'corrupt' if above 2^53 - 1. */
  async u64(what: string): Promise<number> {
    const at = this.pos;
    const v = await this.u64big(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.error('corrupt', `${what} is ${v}, larger than any file can hold (2^53 - 1)`, at);
    return Number(v);
  }
  async f32(what: string): Promise<number> {
    const o = await this.need(4, what);
    this.pos += 4;
    return this.view.getFloat32(o, true);
  }
  async f64(what: string): Promise<number> {
    const o = await this.need(8, what);
    this.pos += 8;
    return this.view.getFloat64(o, true);
  }

  /** `n` raw bytes as a new Uint8Array (a copy: safe to keep or to back a typed array). */
  async bytes(n: number, what: string): Promise<Uint8Array> {
    this.ensureRemaining(n, `${what} (${n} bytes)`);
    if (n > this.window) {
      const out = await readAt(this.src, this.pos, n, what, this.signal);
      this.pos += n;
      return out;
    }
    const o = await this.need(n, what);
    this.pos += n;
    return this.buf.slice(o, o + n);
  }

  /** `n` bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
  async utf8(n: number, what: string): Promise<string> {
    this.ensureRemaining(n, `${what} (${n} bytes)`);
    if (n > this.window) return utf8.decode(await this.bytes(n, what));
    const o = await this.need(n, what);
    this.pos += n;
    return decodeUtf8(this.buf, o, o + n);
  }

  /** A length-prefixed UTF-8 string: uint64 length (GGUF) or uint32, then the bytes. */
  async string(what: string, lengthBytes: 4 | 8 = 8): Promise<string> {
    // Fast path, no awaits: prefix and text already in the window (a vocabulary is ~10^5 of these).
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + lengthBytes <= this.buf.length) {
      const n = lengthBytes === 8 ? Number(this.view.getBigUint64(rel, true)) : this.view.getUint32(rel, true);
      const start = rel + lengthBytes;
      if (start + n <= this.buf.length) {
        this.pos += lengthBytes + n;
        return decodeUtf8(this.buf, start, start + n);
      }
    }
    const at = this.pos;
    const n = lengthBytes === 8 ? await this.u64(`${what} length`) : await this.u32(`${what} length`);
    if (n > this.remaining) {
      throw this.error('truncated', `${what}: string length ${n} at byte ${at} runs past the end of ${describeSource(this.src)}`);
    }
    return this.utf8(n, what);
  }

  skip(n: number, what: string): void {
    this.ensureRemaining(n, what);
    this.pos += n;
  }

  /** Moves `pos` up to the next multiple of `alignment` (a power of two). */
  align(alignment: number): void {
    this.pos = alignUp(this.pos, alignment);
  }
}

/** UTF-8 → string; short ASCII (most vocabulary pieces and keys) skips TextDecoder, which costs more per call. */
function decodeUtf8(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = b[i]!;
      if (c >= 0x80) return utf8.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b.subarray(start, end));
}

/** Rounds `n` up to a multiple of `alignment` (any positive integer). */
export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
