// Reading file headers from wasm memory, sans I/O (the AS counterpart of src/sources/read.ts): a
// bounds-checked little-endian cursor over the first `len` bytes of a `fileSize`-byte file, and the
// WHATWG UTF-8 decoder the TS parsers get from TextDecoder.
//
// A read can end three ways: it fits in the buffer (the value); it runs past the end of the FILE
// (fail('truncated'), as the TS ByteReader); or it runs past the end of the BUFFER but not of the file:
// then the reader is `short` and `needEnd` is the byte the item being read ends at, so the caller can
// return "need more" and the host can retry with at least needEnd bytes. After either stop, every read
// returns 0 / '' and changes nothing: callers check `stopped` after each read whose value they use.
import { fail } from './error';
import { jsonString } from './json';

/** Largest integer an f64 (a JS number) holds exactly: counts, lengths and offsets above it are 'corrupt'. */
export const MAX_SAFE_INTEGER: f64 = 9007199254740991;

export class Reader {
  /** Absolute offset of the next read. */
  pos: u64 = 0;
  /** What is being parsed ("GGUF metadata key 12 \"general.name\""), prefixed to messages. */
  context: string = '';
  /** A read stopped: failed (see error.ts) or short. */
  stopped: bool = false;
  /** The stop was the end of the buffer, not an error: `needEnd` bytes of the file are needed. */
  short: bool = false;
  needEnd: u64 = 0;
  /** Bytes of the file in the buffer (at most fileSize). */
  len: u64;

  constructor(public base: usize, len: u64, public fileSize: u64, public fileName: string) {
    this.len = min<u64>(len, fileSize);
  }

  /** Bytes between pos and the end of the file. */
  remaining(): u64 {
    return this.fileSize - this.pos;
  }

  /** "the 1185376-byte file x.gguf" */
  describe(): string {
    return 'the ' + this.fileSize.toString() + '-byte file ' + this.fileName;
  }

  /** Records an error with the reader's context (and, unless truncated, where) and stops; returns false. */
  error(code: string, message: string, at: u64 = this.pos): bool {
    this.stopped = true;
    const where = (this.context.length > 0 ? this.context + ': ' : '') + message;
    return fail(code, code == 'truncated' ? where : where + ' (at byte ' + at.toString() + ' of ' + this.fileName + ')');
  }

  /** Whether n bytes at pos are in the buffer; otherwise stops ('truncated' past the file's end, short past the buffer's). */
  has(n: u64, what: string): bool {
    if (this.stopped) return false;
    if (n > this.remaining()) {
      return this.error('truncated', what + ' (' + n.toString() + ' bytes) at byte ' + this.pos.toString() + ' runs past the end of ' + this.describe());
    }
    if (n > this.len - this.pos) {
      this.stopped = true;
      this.short = true;
      this.needEnd = this.pos + n;
      return false;
    }
    return true;
  }

  /** Fails 'truncated' unless `n` more bytes exist in the file, without reading them (bounds a count
   * before anything is allocated by it). f64 as in the TS, so huge products compare the same way. */
  ensureRemaining(n: f64, what: string): bool {
    if (this.stopped) return false;
    if (!(n <= <f64>this.remaining())) {
      return this.error('truncated', what + ' at byte ' + this.pos.toString() + ' runs past the end of ' + this.describe() + ' (' + this.remaining().toString() + ' bytes left)');
    }
    return true;
  }

  /** Address of the next n bytes (advancing pos), or 0 when they are not in the buffer (see has). */
  take(n: u64, what: string): usize {
    if (!this.has(n, what)) return 0;
    const p = this.base + <usize>this.pos;
    this.pos += n;
    return p;
  }

  u8(what: string): u32 {
    const p = this.take(1, what);
    return p == 0 ? 0 : <u32>load<u8>(p);
  }
  u32(what: string): u32 {
    const p = this.take(4, what);
    return p == 0 ? 0 : load<u32>(p);
  }
  i32(what: string): i32 {
    const p = this.take(4, what);
    return p == 0 ? 0 : load<i32>(p);
  }
  /** A uint64's bits. */
  u64bits(what: string): u64 {
    const p = this.take(8, what);
    return p == 0 ? 0 : load<u64>(p);
  }
  /** A uint64 used as a count, length or offset: 'corrupt' above 2^53 - 1 (as the TS, where it becomes a number). */
  u64(what: string): u64 {
    const at = this.pos;
    const v = this.u64bits(what);
    if (!this.stopped && <f64>v > MAX_SAFE_INTEGER) {
      this.error('corrupt', what + ' is ' + v.toString() + ', larger than any file can hold (2^53 - 1)', at);
      return 0;
    }
    return v;
  }

  /** A uint64-length-prefixed UTF-8 string (invalid sequences become U+FFFD, as TextDecoder). */
  string(what: string): string {
    const at = this.pos;
    const n = this.u64(what + ' length');
    if (this.stopped) return '';
    if (n > this.remaining()) {
      this.error('truncated', what + ': string length ' + n.toString() + ' at byte ' + at.toString() + ' runs past the end of ' + this.describe());
      return '';
    }
    const p = this.take(n, what);
    return p == 0 ? '' : decodeUtf8(p, <usize>n);
  }
}

/** Rounds n up to a multiple of `alignment` (> 0). */
export function alignUp(n: u64, alignment: u64): u64 {
  return ((n + alignment - 1) / alignment) * alignment;
}

// ---- UTF-8 --------------------------------------------------------------------------------------

let utf16Buf: usize = 0;
let utf16Cap: usize = 0;

/**
 * The WHATWG UTF-8 decoder (what TextDecoder runs): n bytes at p → UTF-16 units in utf16Buf. Each
 * maximal invalid subpart becomes one U+FFFD; when `fatal`, the first one returns -1 instead.
 * Returns the number of units (at most n: every byte yields at most one unit, 4-byte sequences two).
 */
function utf8ToUtf16(p: usize, n: usize, fatal: bool): isize {
  if (utf16Cap < n) {
    if (utf16Buf != 0) heap.free(utf16Buf);
    utf16Cap = max<usize>(n, 256);
    utf16Buf = heap.alloc(utf16Cap << 1);
  }
  let out = utf16Buf;
  let cp: u32 = 0;
  let needed: u32 = 0;
  let seen: u32 = 0;
  let lower: u32 = 0x80;
  let upper: u32 = 0xbf;
  let i: usize = 0;
  while (i < n) {
    const b = <u32>load<u8>(p + i);
    if (needed == 0) {
      i++;
      if (b <= 0x7f) {
        store<u16>(out, b);
        out += 2;
        continue;
      }
      if (b >= 0xc2 && b <= 0xdf) {
        needed = 1;
        cp = b & 0x1f;
      } else if (b >= 0xe0 && b <= 0xef) {
        if (b == 0xe0) lower = 0xa0;
        if (b == 0xed) upper = 0x9f;
        needed = 2;
        cp = b & 0xf;
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b == 0xf0) lower = 0x90;
        if (b == 0xf4) upper = 0x8f;
        needed = 3;
        cp = b & 0x7;
      } else {
        if (fatal) return -1;
        store<u16>(out, 0xfffd);
        out += 2;
      }
      continue;
    }
    if (b < lower || b > upper) {
      // the sequence ends early: one U+FFFD, and this byte starts afresh (not consumed)
      if (fatal) return -1;
      store<u16>(out, 0xfffd);
      out += 2;
      cp = needed = seen = 0;
      lower = 0x80;
      upper = 0xbf;
      continue;
    }
    i++;
    lower = 0x80;
    upper = 0xbf;
    cp = (cp << 6) | (b & 0x3f);
    if (++seen < needed) continue;
    if (cp < 0x10000) {
      store<u16>(out, cp);
      out += 2;
    } else {
      cp -= 0x10000;
      store<u16>(out, 0xd800 | (cp >> 10));
      store<u16>(out, 0xdc00 | (cp & 0x3ff), 2);
      out += 4;
    }
    cp = needed = seen = 0;
  }
  if (needed != 0) {
    if (fatal) return -1;
    store<u16>(out, 0xfffd);
    out += 2;
  }
  return <isize>((out - utf16Buf) >> 1);
}

/** n UTF-8 bytes at p as a string; invalid sequences become U+FFFD (TextDecoder('utf-8')). */
export function decodeUtf8(p: usize, n: usize): string {
  const units = utf8ToUtf16(p, n, false);
  return String.UTF16.decodeUnsafe(utf16Buf, <usize>units << 1);
}

/** n UTF-8 bytes at p as a string, or null when they are not valid UTF-8 (TextDecoder fatal: true). */
export function decodeUtf8Strict(p: usize, n: usize): string | null {
  const units = utf8ToUtf16(p, n, true);
  if (units < 0) return null;
  return String.UTF16.decodeUnsafe(utf16Buf, <usize>units << 1);
}

/** `0x7b 0x22 0x5f 0x5f ("{"__")`, non-printable bytes shown as "."; "nothing (empty file)" for n = 0. */
export function describeBytes(p: usize, n: usize): string {
  if (n == 0) return 'nothing (empty file)';
  const hex = new Array<string>();
  let text = '';
  for (let i: usize = 0; i < n; i++) {
    const b = <u32>load<u8>(p + i);
    hex.push('0x' + (b < 16 ? '0' : '') + b.toString(16));
    text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
  }
  return hex.join(' ') + ' ("' + text + '")';
}

/** Longest name or string from a file that a message quotes whole (longer ones are cut, with "…"). */
export const MAX_QUOTED_CHARS = 80;

/**
 * A key, tensor name or string value read from a file, for an error message: JSON-quoted (control
 * characters escaped: no terminal injection) and cut to MAX_QUOTED_CHARS, so a damaged length field that
 * makes a "name" megabytes long does not make every message (and the memory building it) as long.
 */
export function quoted(s: string): string {
  if (s.length <= MAX_QUOTED_CHARS) return jsonString(s);
  const cut = jsonString(s.substring(0, MAX_QUOTED_CHARS));
  return cut.substring(0, cut.length - 1) + '…" (' + s.length.toString() + ' characters)';
}
