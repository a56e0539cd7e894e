// Text the WASI command prints the way the Node CLI (src/cli/*.ts) prints it: JavaScript's number to
// string, toFixed, en-US digit grouping, byte sizes, and the escaping of control characters in names
// read from files (JSON is assembly/rt/json.ts). AssemblyScript's own f64.toString() differs from
// JavaScript's only by a trailing ".0" on whole numbers (checked: 1.0 → "1.0", 1e21 → "1e+21",
// 1e-7 → "1e-7", 0.1 + 0.2 → "0.30000000000000007"), so jsNumber() strips it.

/** String(x) as JavaScript writes it: "1", "0.5", "1e-7", "NaN", "-Infinity" ("0" for -0). */
export function jsNumber(x: f64): string {
  if (x == 0) return '0';
  return stripPointZero(x.toString());
}

/** The shortest decimal that reads back as the same float32 when x is one, else String(x)
 * (src/cli/inspect.ts formatNumber: 1e-5, not 0.000009999999747378752). */
export function formatNumber(x: f64): string {
  if (!isFinite(x) || x == Math.floor(x) || <f64><f32>x != x) return jsNumber(x);
  // AssemblyScript's f32.toString() prints the shortest digits that round-trip as float32.
  return stripPointZero((<f32>x).toString());
}

function stripPointZero(s: string): string {
  return s.endsWith('.0') ? s.substring(0, s.length - 2) : s;
}

/** x.toFixed(digits) for |x| < 1e15 (stats and percentages; halves round away from zero). */
export function toFixed(x: f64, digits: i32): string {
  if (!isFinite(x)) return jsNumber(x);
  let scale: f64 = 1;
  for (let i = 0; i < digits; i++) scale *= 10;
  const neg = x < 0;
  const n = <u64>Math.round(Math.abs(x) * scale);
  let s = n.toString();
  if (digits > 0) {
    while (s.length <= digits) s = '0' + s;
    s = s.substring(0, s.length - digits) + '.' + s.substring(s.length - digits);
  }
  return neg && n != 0 ? '-' + s : s;
}

/** x.toLocaleString('en-US') for whole numbers: 1,234,567. */
export function grouped(x: f64): string {
  const neg = x < 0;
  const digits = (<u64>Math.round(Math.abs(x))).toString();
  let out = '';
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && (digits.length - i) % 3 == 0) out += ',';
    out += digits.charAt(i);
  }
  return neg ? '-' + out : out;
}

/** src/cli/inspect.ts formatBytes: "512 B", "1.50 KiB", "12.3 MiB". */
export function formatBytes(n: f64): string {
  const units: string[] = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = n;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u == 0 ? jsNumber(n) + ' B' : toFixed(x, x < 10 ? 2 : 1) + ' ' + units[u];
}

function hex2(c: i32): string {
  const h = '0123456789abcdef';
  return h.charAt((c >> 4) & 15) + h.charAt(c & 15);
}

/** Control characters (C0, DEL, C1) as escapes (src/cli/args.ts escapeText): \n, \r, \t, \xNN. */
export function escapeText(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      out += s.substring(from, i);
      out += c == 10 ? '\\n' : c == 13 ? '\\r' : c == 9 ? '\\t' : '\\x' + hex2(c);
      from = i + 1;
    }
  }
  return from == 0 ? s : out + s.substring(from);
}

/** Compact JSON (assembly/rt/json.ts) re-laid out as JSON.stringify(value, null, 2) writes it:
 * one member per line, two spaces per level, `"key": value`, empty objects and arrays as {} and []. */
export function indentJson(s: string): string {
  const parts = new Array<string>();
  let depth = 0;
  let from = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (c == 0x5c) i++; // skip the escaped character
      else if (c == 0x22) inString = false;
      continue;
    }
    if (c == 0x22) {
      inString = true;
      continue;
    }
    let put = '';
    if (c == 0x7b || c == 0x5b) {
      const close = c == 0x7b ? 0x7d : 0x5d;
      if (i + 1 < s.length && s.charCodeAt(i + 1) == close) {
        i++;
        continue;
      }
      depth++;
      put = String.fromCharCode(c) + '\n' + '  '.repeat(depth);
    } else if (c == 0x7d || c == 0x5d) {
      depth--;
      put = '\n' + '  '.repeat(depth) + String.fromCharCode(c);
    } else if (c == 0x2c) {
      put = ',\n' + '  '.repeat(depth);
    } else if (c == 0x3a) {
      put = ': ';
    } else continue;
    parts.push(s.substring(from, i));
    parts.push(put);
    from = i + 1;
  }
  parts.push(s.substring(from));
  return parts.join('');
}
