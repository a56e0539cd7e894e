// Exports every runtime build shares with its JS host (and the test build): memory for the host to write
// into, the error channel, and the need list. Strings cross as UTF-8 in buffers the runtime allocates
// with heap.alloc (never moved or collected): a "str" is a pointer to [u32 byte length | bytes].
import { errCode, errMessage, clearError } from './error';
import { needs, clearNeeds } from './io';

/** Allocates n bytes (16-byte aligned, never collected) for the host to fill; rt_free releases them. */
export function rt_alloc(n: usize): usize {
  return heap.alloc(n);
}

export function rt_free(p: usize): void {
  if (p != 0) heap.free(p);
}

let strBuf: usize = 0;
/** A str ([u32 length | UTF-8 bytes]) holding s, valid until the next call that returns a str. */
export function toStr(s: string): usize {
  const bytes = String.UTF8.encode(s);
  const n = bytes.byteLength;
  if (strBuf != 0) heap.free(strBuf);
  strBuf = heap.alloc(4 + <usize>n);
  store<u32>(strBuf, n);
  memory.copy(strBuf + 4, changetype<usize>(bytes), n);
  return strBuf;
}

/** Decodes n UTF-8 bytes at p (host-written) into a string. */
export function fromUtf8(p: usize, n: usize): string {
  return String.UTF8.decodeUnsafe(p, n, false);
}

export function rt_error_code(): usize {
  return toStr(errCode);
}

export function rt_error_message(): usize {
  return toStr(errMessage);
}

export function rt_need_count(): i32 {
  return needs.length;
}
export function rt_need_file(i: i32): i32 {
  return needs[i].file;
}
export function rt_need_offset(i: i32): f64 {
  return <f64>needs[i].offset;
}
export function rt_need_length(i: i32): u32 {
  return needs[i].length;
}
export function rt_need_dest(i: i32): usize {
  return needs[i].dest;
}
export function rt_clear_needs(): void {
  clearNeeds();
}

export function rt_clear_error(): void {
  clearError();
}
