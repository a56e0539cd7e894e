// A small JSON writer for results the runtime renders itself (stats, inspect), printing numbers and
// strings exactly as JavaScript's JSON.stringify does for the values we write.

/** A number as JSON.stringify prints it: integers without a fraction, non-finite as null. */
export function jsonNumber(x: f64): string {
  if (!isFinite(x)) return 'null';
  if (x == Math.floor(x) && Math.abs(x) < 1e21) {
    if (x == 0) return '0';
    if (Math.abs(x) < 9007199254740992) return (<i64>x).toString();
  }
  return x.toString();
}

/** s as a JSON string literal (quotes, backslashes and control characters escaped). */
export function jsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += '\\\\';
    else if (c == 0x0a) out += '\\n';
    else if (c == 0x0d) out += '\\r';
    else if (c == 0x09) out += '\\t';
    else if (c == 0x08) out += '\\b';
    else if (c == 0x0c) out += '\\f';
    else if (c < 0x20) {
      const h = c.toString(16);
      out += '\\u' + '0000'.substr(0, 4 - h.length) + h;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // Lone surrogates are escaped as JSON.stringify does (well-formed pairs pass through).
      const hi = c <= 0xdbff && i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && hi >= 0xdc00 && hi <= 0xdfff) {
        out += String.fromCharCode(c, hi);
        i++;
      } else out += '\\u' + c.toString(16);
    } else out += String.fromCharCode(c);
  }
  return out + '"';
}

/** Builds one JSON object (or nested ones) key by key. */
export class JsonWriter {
  private parts: Array<string> = [];
  private first: Array<bool> = [];

  private key(k: string): void {
    const n = this.first.length - 1;
    if (n >= 0) {
      if (!this.first[n]) this.parts.push(',');
      this.first[n] = false;
    }
    if (k.length > 0) this.parts.push(jsonString(k) + ':');
  }

  begin(k: string = ''): void {
    if (this.first.length > 0) this.key(k);
    this.parts.push('{');
    this.first.push(true);
  }

  beginArray(k: string = ''): void {
    if (this.first.length > 0) this.key(k);
    this.parts.push('[');
    this.first.push(true);
  }

  endArray(): void {
    this.first.pop();
    this.parts.push(']');
  }

  num(k: string, v: f64): void {
    this.key(k);
    this.parts.push(jsonNumber(v));
  }

  str(k: string, v: string): void {
    this.key(k);
    this.parts.push(jsonString(v));
  }

  bool(k: string, v: bool): void {
    this.key(k);
    this.parts.push(v ? 'true' : 'false');
  }

  raw(k: string, json: string): void {
    this.key(k);
    this.parts.push(json);
  }

  /** Closes the innermost object; returns the whole text when it was the outermost. */
  end(): string {
    this.first.pop();
    this.parts.push('}');
    return this.first.length == 0 ? this.parts.join('') : '';
  }
}
