// XXH64 over bytes in wasm memory: the chunk hashes of ifprune files (docs/format.md "Integrity"; TS
// oracle src/formats/xxh64.ts). Written from the xxHash spec ("XXH64 algorithm description", Yann
// Collet): 32-byte stripes in four lanes, merged, then 8-, 4- and 1-byte tail steps and an avalanche.
// Loads are little-endian and may be unaligned (wasm allows both).

const P1: u64 = 0x9e3779b185ebca87; // PRIME64_1
const P2: u64 = 0xc2b2ae3d27d4eb4f; // PRIME64_2
const P3: u64 = 0x165667b19e3779f9; // PRIME64_3
const P4: u64 = 0x85ebca77c2b2ae63; // PRIME64_4
const P5: u64 = 0x27d4eb2f165667c5; // PRIME64_5

/** XXH64_round: acc = rotl(acc + input·P2, 31)·P1 */
// @ts-ignore: decorator
@inline function round(acc: u64, input: u64): u64 {
  return rotl<u64>(acc + input * P2, 31) * P1;
}

/** XXH64_mergeRound: acc = (acc ^ round(0, val))·P1 + P4 */
// @ts-ignore: decorator
@inline function mergeRound(acc: u64, val: u64): u64 {
  return (acc ^ round(0, val)) * P1 + P4;
}

/** XXH64 of the `len` bytes at `ptr` with a 64-bit seed (ifprune files use seed 0). */
export function xxh64(ptr: usize, len: usize, seed: u64 = 0): u64 {
  const end = ptr + len;
  let p = ptr;
  let h: u64;
  if (len >= 32) {
    let v1 = seed + P1 + P2;
    let v2 = seed + P2;
    let v3 = seed;
    let v4 = seed - P1;
    const lastStripe = end - 32;
    while (p <= lastStripe) {
      // one 32-byte stripe: (4 lanes) u64, lane i → v(i+1)
      v1 = round(v1, load<u64>(p));
      v2 = round(v2, load<u64>(p, 8));
      v3 = round(v3, load<u64>(p, 16));
      v4 = round(v4, load<u64>(p, 24));
      p += 32;
    }
    h = rotl<u64>(v1, 1) + rotl<u64>(v2, 7) + rotl<u64>(v3, 12) + rotl<u64>(v4, 18);
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = seed + P5;
  }
  h += <u64>len;

  // XXH64_finalize: the remaining 0..31 bytes
  while (p + 8 <= end) {
    h = rotl<u64>(h ^ round(0, load<u64>(p)), 27) * P1 + P4;
    p += 8;
  }
  if (p + 4 <= end) {
    h = rotl<u64>(h ^ (<u64>load<u32>(p) * P1), 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h = rotl<u64>(h ^ (<u64>load<u8>(p) * P5), 11) * P1;
    p += 1;
  }

  // XXH64_avalanche
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}
