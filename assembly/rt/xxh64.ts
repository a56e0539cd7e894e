// XXH64 over bytes in wasm memory (the chunk hashes of ifprune files; TS oracle src/formats/xxh64.ts).
// TODO(formats helper): implement; see the xxHash spec (read to learn, write our own).
export function xxh64(ptr: usize, len: usize, seed: u64 = 0): u64 {
  return 0;
}
