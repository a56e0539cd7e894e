/**
 * XXH64 (Yann Collet, xxHash spec "XXH64 algorithm description", seed 0 by default), in plain
 * TypeScript over 32-bit halves: JS has no fast 64-bit integer multiply (BigInt allocates), so each
 * 64-bit product is built from Math.imul for the low words and one exact f64 split for the carry.
 *
 * ifprune uses it for the per-chunk hashes of its model files (docs/format.md "Integrity"): a fast,
 * well-specified, widely implemented 64-bit non-cryptographic hash, so a flipped byte is caught with
 * probability 1 - 2^-64 and any GGUF tool can recompute the values (xxhsum -H1, python xxhash).
 *
 * A 64-bit value is two uint32 words (hi, lo); the result is returned as a bigint only at the end.
 */

// Primes, as (hi, lo) 32-bit halves; each lo also as 16-bit halves for the exact carry computation.
const P1H = 0x9e3779b1, P1L = 0x85ebca87; // PRIME64_1 0x9E3779B185EBCA87
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f; // PRIME64_2 0xC2B2AE3D27D4EB4F
const P3H = 0x165667b1, P3L = 0x9e3779f9; // PRIME64_3 0x165667B19E3779F9
const P4H = 0x85ebca77, P4L = 0xc2b2ae63; // PRIME64_4 0x85EBCA77C2B2AE63
const P5H = 0x27d4eb2f, P5L = 0x165667c5; // PRIME64_5 0x27D4EB2F165667C5

// Result registers of the 64-bit helpers below (module-level so the helpers allocate nothing).
let rh = 0;
let rl = 0;

/** (rh, rl) = (ah, al) * (bh, bl) mod 2^64. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  al >>>= 0;
  bl >>>= 0;
  // high 32 bits of al * bl, exactly: al = a1·2^16 + a0, so al·bl = a1·bl·2^16 + a0·bl, each < 2^48.
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const t = a1 * bl + Math.floor((a0 * bl) / 65536); // < 2^49, exact
  const carry = Math.floor(t / 65536); // = floor(al·bl / 2^32) mod 2^32 (t < 2^49 so this is < 2^33)
  rl = Math.imul(al, bl) >>> 0;
  rh = (carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (rh, rl) = (ah, al) + (bh, bl) mod 2^64. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  rl = lo >>> 0;
  rh = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

/** (rh, rl) = rotl64((h, l), n), 0 < n < 64, n ≠ 32. */
function rotl(h: number, l: number, n: number): void {
  if (n > 32) {
    const t = h;
    h = l;
    l = t;
    n -= 32;
  }
  rh = ((h << n) | (l >>> (32 - n))) >>> 0;
  rl = ((l << n) | (h >>> (32 - n))) >>> 0;
}

/** XXH64_round: acc = rotl(acc + input·P2, 31)·P1; result in (rh, rl). */
function round(acch: number, accl: number, inh: number, inl: number): void {
  mul(inh, inl, P2H, P2L);
  add(acch, accl, rh, rl);
  rotl(rh, rl, 31);
  mul(rh, rl, P1H, P1L);
}

/** XXH64_mergeRound: acc = (acc ^ round(0, val))·P1 + P4; result in (rh, rl). */
function mergeRound(acch: number, accl: number, vh: number, vl: number): void {
  round(0, 0, vh, vl);
  mul((acch ^ rh) >>> 0, (accl ^ rl) >>> 0, P1H, P1L);
  add(rh, rl, P4H, P4L);
}

/** 2^-16, exact: x · R16 is x / 65536. */
const R16 = 1 / 65536;
/** Scratch for inputs whose byteOffset is not a multiple of 4 (a Uint32Array needs alignment). */
let scratch = new Uint32Array(1024);

/**
 * XXH64 of `bytes` with a 64-bit `seed` (default 0), as an unsigned bigint. Any byteOffset works
 * (wasm memory views included); unaligned inputs are copied once into an aligned scratch buffer.
 */
export function xxh64(bytes: Uint8Array, seed: bigint = 0n): bigint {
  const out = new Uint32Array(2);
  xxh64Words(bytes, out, 0, Number((seed >> 32n) & 0xffffffffn), Number(seed & 0xffffffffn));
  return (BigInt(out[1]!) << 32n) | BigInt(out[0]!);
}

/**
 * XXH64 without bigints, for hot loops: writes the hash's low word to out[at] and its high word to
 * out[at + 1] (the layout of a BigUint64Array viewed as a Uint32Array on a little-endian host).
 *
 * The 32-byte stripe loop is the hot part, so its four XXH64_round calls are written out with local
 * variables: the same code through the helper functions above runs at ~150 MB/s, inlined at ~700
 * MB/s (Node 20, x86-64). In each lane the high word of the 32x32-bit product il·P2L is
 * floor((il_hi16·P2L + floor(il_lo16·P2L / 2^16)) / 2^16): every term is below 2^49, so exact in f64.
 */
export function xxh64Words(bytes: Uint8Array, out: Uint32Array, at = 0, seedHi = 0, seedLo = 0): void {
  const len = bytes.length;
  let w: Uint32Array;
  if ((bytes.byteOffset & 3) === 0) {
    w = new Uint32Array(bytes.buffer, bytes.byteOffset, len >>> 2);
  } else {
    if (scratch.length * 4 < len) scratch = new Uint32Array((len + 3) >>> 2);
    new Uint8Array(scratch.buffer, 0, len).set(bytes);
    w = scratch;
  }
  const sh = seedHi >>> 0;
  const sl = seedLo >>> 0;
  let p = 0;
  let hh: number;
  let hl: number;

  if (len >= 32) {
    // v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1
    add(sh, sl, P1H, P1L);
    add(rh, rl, P2H, P2L);
    let v1h = rh, v1l = rl;
    add(sh, sl, P2H, P2L);
    let v2h = rh, v2l = rl;
    let v3h = sh, v3l = sl;
    add(sh, sl, ~P1H >>> 0, ~P1L >>> 0); // seed + ~P1 + 1 = seed - P1
    add(rh, rl, 0, 1);
    let v4h = rh, v4l = rl;
    let il: number, ih: number, al: number, ah: number, xl: number, xh: number;
    const stripes = len >>> 5;
    for (let s = 0, i = 0; s < stripes; s++, i += 8) {
      // lane 1: v1 = rotl(v1 + input·P2, 31)·P1 (XXH64_round, inlined: see the note above)
      il = w[i + 0]!;
      ih = w[i + 1]!;
      al = v1l + (Math.imul(il, P2L) >>> 0);
      ah = v1h + Math.floor(((il >>> 16) * P2L + Math.floor((il & 0xffff) * P2L * R16)) * R16) + Math.imul(ih, P2L) + Math.imul(il, P2H) + (al > 0xffffffff ? 1 : 0);
      al >>>= 0;
      xl = ((al << 31) | (ah >>> 1)) >>> 0;
      xh = ((ah << 31) | (al >>> 1)) >>> 0;
      v1l = Math.imul(xl, P1L) >>> 0;
      v1h = (Math.floor(((xl >>> 16) * P1L + Math.floor((xl & 0xffff) * P1L * R16)) * R16) + Math.imul(xh, P1L) + Math.imul(xl, P1H)) >>> 0;
      // lane 2: v2 = rotl(v2 + input·P2, 31)·P1 (XXH64_round, inlined: see the note above)
      il = w[i + 2]!;
      ih = w[i + 3]!;
      al = v2l + (Math.imul(il, P2L) >>> 0);
      ah = v2h + Math.floor(((il >>> 16) * P2L + Math.floor((il & 0xffff) * P2L * R16)) * R16) + Math.imul(ih, P2L) + Math.imul(il, P2H) + (al > 0xffffffff ? 1 : 0);
      al >>>= 0;
      xl = ((al << 31) | (ah >>> 1)) >>> 0;
      xh = ((ah << 31) | (al >>> 1)) >>> 0;
      v2l = Math.imul(xl, P1L) >>> 0;
      v2h = (Math.floor(((xl >>> 16) * P1L + Math.floor((xl & 0xffff) * P1L * R16)) * R16) + Math.imul(xh, P1L) + Math.imul(xl, P1H)) >>> 0;
      // lane 3: v3 = rotl(v3 + input·P2, 31)·P1 (XXH64_round, inlined: see the note above)
      il = w[i + 4]!;
      ih = w[i + 5]!;
      al = v3l + (Math.imul(il, P2L) >>> 0);
      ah = v3h + Math.floor(((il >>> 16) * P2L + Math.floor((il & 0xffff) * P2L * R16)) * R16) + Math.imul(ih, P2L) + Math.imul(il, P2H) + (al > 0xffffffff ? 1 : 0);
      al >>>= 0;
      xl = ((al << 31) | (ah >>> 1)) >>> 0;
      xh = ((ah << 31) | (al >>> 1)) >>> 0;
      v3l = Math.imul(xl, P1L) >>> 0;
      v3h = (Math.floor(((xl >>> 16) * P1L + Math.floor((xl & 0xffff) * P1L * R16)) * R16) + Math.imul(xh, P1L) + Math.imul(xl, P1H)) >>> 0;
      // lane 4: v4 = rotl(v4 + input·P2, 31)·P1 (XXH64_round, inlined: see the note above)
      il = w[i + 6]!;
      ih = w[i + 7]!;
      al = v4l + (Math.imul(il, P2L) >>> 0);
      ah = v4h + Math.floor(((il >>> 16) * P2L + Math.floor((il & 0xffff) * P2L * R16)) * R16) + Math.imul(ih, P2L) + Math.imul(il, P2H) + (al > 0xffffffff ? 1 : 0);
      al >>>= 0;
      xl = ((al << 31) | (ah >>> 1)) >>> 0;
      xh = ((ah << 31) | (al >>> 1)) >>> 0;
      v4l = Math.imul(xl, P1L) >>> 0;
      v4h = (Math.floor(((xl >>> 16) * P1L + Math.floor((xl & 0xffff) * P1L * R16)) * R16) + Math.imul(xh, P1L) + Math.imul(xl, P1H)) >>> 0;
    }
    p = stripes * 32;
    // h = rotl(v1,1) + rotl(v2,7) + rotl(v3,12) + rotl(v4,18)
    rotl(v1h, v1l, 1);
    hh = rh; hl = rl;
    rotl(v2h, v2l, 7);
    add(hh, hl, rh, rl);
    hh = rh; hl = rl;
    rotl(v3h, v3l, 12);
    add(hh, hl, rh, rl);
    hh = rh; hl = rl;
    rotl(v4h, v4l, 18);
    add(hh, hl, rh, rl);
    hh = rh; hl = rl;
    mergeRound(hh, hl, v1h, v1l);
    mergeRound(rh, rl, v2h, v2l);
    mergeRound(rh, rl, v3h, v3l);
    mergeRound(rh, rl, v4h, v4l);
    hh = rh; hl = rl;
  } else {
    add(sh, sl, P5H, P5L);
    hh = rh; hl = rl;
  }

  // h += len (len < 2^53: split into words)
  add(hh, hl, Math.floor(len / 4294967296), len >>> 0);
  hh = rh; hl = rl;

  // XXH64_finalize: 8-byte, then 4-byte, then 1-byte steps (w[k] is bytes k*4..k*4+3, little-endian)
  const u8 = w === scratch ? new Uint8Array(scratch.buffer, 0, len) : bytes;
  while (p + 8 <= len) {
    round(0, 0, w[(p >>> 2) + 1]!, w[p >>> 2]!);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 27);
    mul(rh, rl, P1H, P1L);
    add(rh, rl, P4H, P4L);
    hh = rh; hl = rl;
    p += 8;
  }
  if (p + 4 <= len) {
    mul(0, w[p >>> 2]!, P1H, P1L);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 23);
    mul(rh, rl, P2H, P2L);
    add(rh, rl, P3H, P3L);
    hh = rh; hl = rl;
    p += 4;
  }
  while (p < len) {
    mul(0, u8[p]!, P5H, P5L);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 11);
    mul(rh, rl, P1H, P1L);
    hh = rh; hl = rl;
    p += 1;
  }

  // XXH64_avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32
  hl = (hl ^ (hh >>> 1)) >>> 0;
  mul(hh, hl, P2H, P2L);
  hh = rh; hl = rl;
  hl = (hl ^ ((hl >>> 29) | (hh << 3))) >>> 0;
  hh = (hh ^ (hh >>> 29)) >>> 0;
  mul(hh, hl, P3H, P3L);
  hh = rh; hl = rl;
  out[at] = (hl ^ hh) >>> 0;
  out[at + 1] = hh;
}
