// The sans-I/O boundary. The runtime never reads a file: when a phase needs bytes it lists Needs and
// returns NEED_IO; the host reads each range (file, HTTP Range, R2 get, memory, WASI fd_pread) into wasm
// memory at `dest` and calls the phase's resume. The runtime then verifies the bytes (chunk hashes)
// before using them.

/** Status of a runtime phase: done, waiting for the host to read the listed needs, or failed (see error.ts). */
export const DONE: i32 = 0;
export const NEED_IO: i32 = 1;
export const FAILED: i32 = -1;

/** Which file a need reads: the model, or a llama2.c tokenizer.bin given beside it. */
export const FILE_MODEL: i32 = 0;
export const FILE_TOKENIZER: i32 = 1;

export class Need {
  constructor(public file: i32, public offset: u64, public length: u32, public dest: usize) {}
}

export const needs = new Array<Need>();

export function need(file: i32, offset: u64, length: u32, dest: usize): void {
  needs.push(new Need(file, offset, length, dest));
}

export function clearNeeds(): void {
  needs.length = 0;
}

/** Bytes the host has read for the runtime so far, per file (stats: bytesRead). */
export let bytesRequested: u64 = 0;
export function countRequested(n: u64): void {
  bytesRequested += n;
}
