// UTF-8 both ways, as the TypeScript tokenizer gets it from TextEncoder and TextDecoder, so the runtime's
// bytes and text equal the oracle's: code points of a UTF-16 string (a lone surrogate encodes as U+FFFD,
// as TextEncoder does), and the WHATWG Encoding Standard's UTF-8 decoder (replacement mode, streaming),
// which TextDecoder('utf-8', { ignoreBOM: true }) implements.

/** U+FFFD, what an invalid or unfinished sequence decodes to (and a lone surrogate encodes as). */
export const REPLACEMENT: i32 = 0xfffd;

/** The code point at UTF-16 index i of s (a surrogate pair as one; a lone surrogate as itself). */
export function codePointAt(s: string, i: i32): i32 {
  const hi = <i32>s.charCodeAt(i);
  if (hi >= 0xd800 && hi <= 0xdbff && i + 1 < s.length) {
    const lo = <i32>s.charCodeAt(i + 1);
    if (lo >= 0xdc00 && lo <= 0xdfff) return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
  }
  return hi;
}

/** UTF-16 units of code point cp (2 above U+FFFF). */
export function unitsOf(cp: i32): i32 {
  return cp > 0xffff ? 2 : 1;
}

/** Appends the UTF-8 bytes of code point cp to out (a surrogate as U+FFFD, as TextEncoder). */
export function appendUtf8(out: Array<u8>, cp: i32): void {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = REPLACEMENT;
  if (cp < 0x80) {
    out.push(<u8>cp);
  } else if (cp < 0x800) {
    out.push(<u8>(0xc0 | (cp >> 6)));
    out.push(<u8>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push(<u8>(0xe0 | (cp >> 12)));
    out.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    out.push(<u8>(0x80 | (cp & 0x3f)));
  } else {
    out.push(<u8>(0xf0 | (cp >> 18)));
    out.push(<u8>(0x80 | ((cp >> 12) & 0x3f)));
    out.push(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    out.push(<u8>(0x80 | (cp & 0x3f)));
  }
}

/** The UTF-8 bytes of s[start, end) (UTF-16 indices), appended to out. */
export function appendUtf8Range(out: Array<u8>, s: string, start: i32, end: i32): void {
  for (let i = start; i < end; ) {
    const cp = codePointAt(s, i);
    appendUtf8(out, cp);
    i += unitsOf(cp);
  }
}

/** The UTF-8 bytes of s. */
export function utf8Bytes(s: string): Array<u8> {
  const out = new Array<u8>();
  appendUtf8Range(out, s, 0, s.length);
  return out;
}

/**
 * A streaming UTF-8 decoder: the Encoding Standard's "UTF-8 decoder" algorithm step by step, with
 * errors as U+FFFD. An unfinished sequence waits for the next write; end() turns it into one U+FFFD.
 * Output per write is at most bytes + 1 UTF-16 units (one U+FFFD for a sequence begun before the write).
 */
export class Utf8Decoder {
  private cp: i32 = 0; // bits of the sequence so far
  private seen: i32 = 0; // continuation bytes seen
  private needed: i32 = 0; // continuation bytes the sequence needs (0: between sequences)
  private lower: i32 = 0x80; // allowed range of the next continuation byte
  private upper: i32 = 0xbf;
  private out: StaticArray<u16> = new StaticArray<u16>(64);
  private n: i32 = 0;

  /** Decodes bytes[start, end) and returns the complete characters. */
  write(bytes: Uint8Array, start: i32, end: i32): string {
    this.reserve(end - start + 1);
    for (let i = start; i < end; i++) {
      const b = <i32>bytes[i];
      if (this.needed == 0) {
        this.lead(b);
        continue;
      }
      if (b < this.lower || b > this.upper) {
        // an invalid continuation: the sequence so far is one error, and b starts afresh
        this.reset();
        this.emit(REPLACEMENT);
        this.lead(b);
        continue;
      }
      this.lower = 0x80;
      this.upper = 0xbf;
      this.cp = (this.cp << 6) | (b & 0x3f);
      if (++this.seen == this.needed) {
        this.emit(this.cp);
        this.reset();
      }
    }
    return this.take();
  }

  /** Ends the stream: an unfinished sequence becomes U+FFFD. */
  end(): string {
    this.reserve(1);
    if (this.needed != 0) {
      this.reset();
      this.emit(REPLACEMENT);
    }
    return this.take();
  }

  /** A byte between sequences: ASCII, a valid lead byte (C2..DF, E0..EF, F0..F4), or an error. */
  private lead(b: i32): void {
    if (b < 0x80) {
      this.emit(b);
    } else if (b >= 0xc2 && b <= 0xdf) {
      this.needed = 1;
      this.cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      if (b == 0xe0) this.lower = 0xa0; // no overlong forms
      if (b == 0xed) this.upper = 0x9f; // no surrogates
      this.needed = 2;
      this.cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      if (b == 0xf0) this.lower = 0x90; // no overlong forms
      if (b == 0xf4) this.upper = 0x8f; // nothing above U+10FFFF
      this.needed = 3;
      this.cp = b & 0x07;
    } else {
      this.emit(REPLACEMENT);
    }
  }

  private reset(): void {
    this.cp = 0;
    this.seen = 0;
    this.needed = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  private reserve(units: i32): void {
    // a write of k bytes emits at most k + 1 units: one U+FFFD per error (each consumes a byte, plus one
    // for a sequence carried in) and two units per 4-byte character
    if (this.out.length < units) this.out = new StaticArray<u16>(units);
  }

  private emit(cp: i32): void {
    if (cp > 0xffff) {
      unchecked((this.out[this.n++] = <u16>(0xd800 + ((cp - 0x10000) >> 10))));
      unchecked((this.out[this.n++] = <u16>(0xdc00 + ((cp - 0x10000) & 0x3ff))));
    } else {
      unchecked((this.out[this.n++] = <u16>cp));
    }
  }

  private take(): string {
    const s = String.UTF16.decodeUnsafe(changetype<usize>(this.out), <usize>this.n << 1);
    this.n = 0;
    return s;
  }
}
