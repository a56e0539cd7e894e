import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { memorySource } from '../src/sources/memory.ts';
import { GGUFValueType as T, parseGGUF, type GGUFFile } from '../src/formats/gguf.ts';
import { writeGGUF } from '../src/formats/gguf-write.ts';
import { openModel } from '../src/formats/model.ts';
import { parseTokenizerBin } from '../src/formats/tokenizer-bin.ts';
import {
  CHUNK_TARGET_BYTES, IFPRUNE_FORMAT, IFPRUNE_KEYS, IFPRUNE_VERSION, bundleTensorName, checkIfpruneVersion, chooseChunkBytes, chunkSpan,
  isIfpruneFile, readIfpruneInfo, summarizeLayout, verifyTensorBytes, type IfpruneInfo,
} from '../src/formats/ifprune.ts';
import { QUANT } from '../src/formats/quant.ts';
import { xxh64, xxh64Words } from '../src/formats/xxh64.ts';
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import { makeRandomModel } from '../tools/random-model.ts';
import { assertThrowsCode } from './helpers.ts';

// --- xxh64

const hash = suite('xxh64');

/** Byte i = (i·131 + 7) mod 256; values from libxxhash 0.8.1 (XXH64(data, n, seed)) via ctypes. */
const DATA = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 255);
const SEED = 0x9e3779b185ebca87n;
const VECTORS: [n: number, seed0: string, seedP1: string][] = [
  [0, 'ef46db3751d8e999', '6ec6d05f61c7e7a7'], [1, 'a96c7f0ce858bbb7', '0c810166b30122a5'], [3, 'bed43740ee6332bb', '7b4f2f575536d889'],
  [4, 'fa212ae44b3bb23d', '18f6c5e78f966cfa'], [5, 'd339dcc9ac8e6776', '7adf1357510adb46'], [7, '2744460dd675d2c0', '88b4ae4c1e174322'],
  [8, '994b676b71ce94dd', 'b7e496bbfb8404d4'], [9, '572b84c18b983af8', '9664444be47090aa'], [15, '09e6451ed2ff8b1d', 'bbfab07ac728b2a5'],
  [16, '94ad0095e72b24d5', 'b6316b2094429fc8'], [31, '6711d55e306b5d8f', 'bf6b022699bb8376'], [32, '07f7b8e3bc5d6e25', '3abf045074466999'],
  [33, '09f85eeb4e1cbe9f', '884e59f42fb1ce66'], [63, 'b7c9968c066cb6a5', 'fb6a31df721c899e'], [64, '50d4159a0411632e', '1968f92919382d6f'],
  [65, 'd277176bff863efc', '612ed73059bac317'], [100, '9ddada11d3dc2d8f', '049465b864c1577b'], [255, '15a6db05d4e83df4', 'c9cbf8c8f72749a7'],
  [300, 'c68e7ef39b5ca10e', '6a1147fbc2a75f88'],
];
const hex = (x: bigint) => x.toString(16).padStart(16, '0');

hash('matches libxxhash for lengths 0..300 around every stripe and tail boundary, seed 0 and a 64-bit seed', () => {
  for (const [n, want0, wantS] of VECTORS) {
    assert.is(hex(xxh64(DATA.subarray(0, n))), want0, `n=${n} seed 0`);
    assert.is(hex(xxh64(DATA.subarray(0, n), SEED)), wantS, `n=${n} seed P1`);
  }
  assert.is(hex(xxh64(new TextEncoder().encode('abc'))), '44bc2cf5ad770999');
});

hash('gives the same hash at every byte alignment (unaligned views are copied, not misread)', () => {
  const buf = new Uint8Array(400);
  for (let off = 0; off < 8; off++) {
    buf.set(DATA, off);
    for (const [n, want] of VECTORS) assert.is(hex(xxh64(buf.subarray(off, off + n))), want, `offset ${off}, n=${n}`);
  }
});

hash('xxh64Words writes (lo, hi) in BigUint64Array order', () => {
  const out = new BigUint64Array(2);
  xxh64Words(DATA.subarray(0, 100), new Uint32Array(out.buffer), 2);
  assert.is(hex(out[1]!), '9ddada11d3dc2d8f');
  assert.is(out[0], 0n);
});

hash.run();

// --- fixtures: stories260K converted to bundled f32 and q8_0

const STORIES_BIN = readFileSync(new URL('../models/stories260K/stories260K.bin', import.meta.url));
const TOK = readFileSync(new URL('../models/stories260K/tok512.bin', import.meta.url));

async function convertStories(type: 'f32' | 'q8_0', layout: 'bundled' | 'standard' = 'bundled'): Promise<{ bytes: Uint8Array; file: GGUFFile; info: IfpruneInfo }> {
  const spec = await openModel(memorySource(STORIES_BIN, 'stories260K.bin'));
  const sink = memorySink();
  await convert(spec, sink, { type, layout, tokenizer: parseTokenizerBin(TOK, spec.config.vocabSize) });
  const bytes = sink.bytes();
  const file = await parseGGUF(memorySource(bytes, 'out.gguf'));
  return { bytes, file, info: readIfpruneInfo(file, 'out.gguf')! };
}

// --- readIfpruneInfo

const read = suite('readIfpruneInfo');

read('reads layout, type, source, hashes of every tensor and the bundle shapes', async () => {
  const { file, info } = await convertStories('q8_0');
  assert.is(info.layout, 'bundled');
  assert.is(info.type, 'q8_0');
  assert.equal(info.version, { major: IFPRUNE_FORMAT.major, minor: IFPRUNE_FORMAT.minor });
  assert.is(info.source!.name, 'stories260K.bin');
  assert.is(info.source!.format, 'llama2c');
  assert.is(info.source!.bytes, STORIES_BIN.length);
  const { createHash } = await import('node:crypto');
  assert.is(info.source!.sha256, createHash('sha256').update(STORIES_BIN).digest('hex'));
  assert.is(info.chunks.size, file.tensors.length);
  assert.is(info.bundles.length, 5);
  const b = info.bundles[0]!;
  assert.equal([b.name, b.type.name, b.dim, b.nFF, b.partBytes, b.rowBytes], [bundleTensorName(0), 'Q8_0', 64, 172, 68, 204]);
  assert.is(info.chunks.get(b.name)!.chunkBytes, b.rowBytes, 'one hash per bundle row');
  assert.equal(info.perms, [null, null, null, null, null]);
});

read('returns null for a plain GGUF', async () => {
  const plain = readFileSync(new URL('../models/stories260K/stories260K.gguf', import.meta.url));
  const file = await parseGGUF(memorySource(plain, 'stories260K.gguf'));
  assert.is(isIfpruneFile(file.metadata), false);
  assert.is(readIfpruneInfo(file), null);
});

/** The file with metadata `key` replaced (or removed when value is undefined), re-encoded. */
function withKey(bytes: Uint8Array, file: GGUFFile, key: string, type: number, value: unknown): Uint8Array {
  const metadata = { ...file.metadata };
  const kvTypes = { ...file.kvTypes };
  if (value === undefined) {
    delete metadata[key];
    delete kvTypes[key];
  } else {
    metadata[key] = value as never;
    kvTypes[key] = { type: type as never };
  }
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: bytes.subarray(t.offset, t.offset + t.bytes) }));
  return writeGGUF({ metadata, kvTypes }, tensors);
}

read('refuses a newer format major, naming the ifprune release that reads it', async () => {
  const { bytes, file } = await convertStories('f32');
  let next = withKey(bytes, file, IFPRUNE_KEYS.versionMajor, T.UINT32, IFPRUNE_FORMAT.major + 1);
  let f = await parseGGUF(memorySource(next, 'next.gguf'));
  f = await parseGGUF(memorySource(withKey(next, f, IFPRUNE_KEYS.versionReader, T.STRING, '0.9.0'), 'next.gguf'));
  const e = await assertThrowsCode(() => readIfpruneInfo(f, 'next.gguf'), 'bad_version');
  assert.match(e.message, `format ${IFPRUNE_FORMAT.major + 1}.0`);
  assert.match(e.message, 'ifprune 0.9.0 or newer');
  assert.match(e.message, `this ifprune (${IFPRUNE_VERSION})`);
  // a newer minor is fine
  next = withKey(bytes, file, IFPRUNE_KEYS.versionMinor, T.UINT32, IFPRUNE_FORMAT.minor + 7);
  assert.is(readIfpruneInfo(await parseGGUF(memorySource(next, 'minor.gguf')))!.version.minor, IFPRUNE_FORMAT.minor + 7);
  assert.throws(() => checkIfpruneVersion({ [IFPRUNE_KEYS.versionMajor]: 'one' }, 'x'), /UINT32/);
});

read('rejects missing or mis-sized chunk hashes, mis-shaped bundles, bad permutations and unknown hash algorithms', async () => {
  const { bytes, file } = await convertStories('f32');
  const cases: [string, number, unknown, string, string][] = [
    [IFPRUNE_KEYS.chunkHashes('output_norm.weight'), T.UINT64, undefined, 'corrupt', 'no chunk hashes'],
    [IFPRUNE_KEYS.chunkBytes('blk.0.ffn_bundle'), T.UINT64, 768n * 2n, 'corrupt', 'one 768-byte row'],
    [IFPRUNE_KEYS.chunkBytes('token_embd.weight'), T.UINT64, 100n, 'corrupt', 'whole number'],
    [IFPRUNE_KEYS.layout, T.STRING, 'standard', 'corrupt', 'but the file has blk.0.ffn_bundle'],
    [IFPRUNE_KEYS.layout, T.STRING, 'sideways', 'corrupt', 'bundled or standard'],
    [IFPRUNE_KEYS.hashAlgorithm, T.STRING, 'md5', 'unsupported', 'upgrade ifprune'],
    [IFPRUNE_KEYS.perm(2), T.ARRAY, new Uint32Array(172), 'corrupt', 'permutation'],
    [IFPRUNE_KEYS.chunkBytes('nonexistent.weight'), T.UINT64, 32n, 'corrupt', 'names a tensor the file does not have'],
    ['llama.feed_forward_length', T.UINT32, 173, 'corrupt', 'expected [192, 173]'],
  ];
  for (const [key, type, value, code, msg] of cases) {
    let b = withKey(bytes, file, key, type, value);
    let f = await parseGGUF(memorySource(b, 'bad.gguf'));
    if (type === T.ARRAY) {
      f.kvTypes[key] = { type: T.ARRAY, itemType: T.UINT32 };
      b = writeGGUF(f, f.tensors.map((t) => ({ ...t, data: b.subarray(t.offset, t.offset + t.bytes) })));
      f = await parseGGUF(memorySource(b, 'bad.gguf'));
    }
    const e = await assertThrowsCode(() => readIfpruneInfo(f, 'bad.gguf'), code, key);
    assert.match(e.message, msg, key);
  }
});

read.run();

// --- chunkSpan

const span = suite('chunkSpan');

span('widens a byte range to whole chunks; bundle rows are chunks, so row ranges map to themselves', async () => {
  const { info } = await convertStories('q8_0');
  const row = info.bundles[1]!.rowBytes; // 204
  assert.equal(chunkSpan(info, 'blk.1.ffn_bundle', 3 * row, 5 * row), { offset: 3 * row, length: 5 * row, firstChunk: 3, chunkCount: 5 });
  assert.equal(chunkSpan(info, 'blk.1.ffn_bundle', 3 * row + 1, 2), { offset: 3 * row, length: row, firstChunk: 3, chunkCount: 1 });
  const embd = info.chunks.get('token_embd.weight')!; // 512 rows of 68 bytes (963 would fit in 64 KiB): one chunk
  assert.is(embd.chunkBytes, 512 * 68);
  assert.is(info.chunks.get('blk.0.attn_q.weight')!.chunkBytes, 64 * 68);
  assert.equal(chunkSpan(info, 'token_embd.weight', 100, 10), { offset: 0, length: embd.bytes, firstChunk: 0, chunkCount: 1 });
  assert.equal(chunkSpan(info, 'token_embd.weight', 7, 0).chunkCount, 0);
  await assertThrowsCode(() => chunkSpan(info, 'token_embd.weight', embd.bytes - 1, 2), 'bad_option');
  await assertThrowsCode(() => chunkSpan(info, 'no.such.tensor', 0, 1), 'not_found');
});

span('chooseChunkBytes: one row for bundles, whole rows up to 64 KiB otherwise, at least one row', () => {
  assert.is(chooseChunkBytes({ name: 'blk.3.ffn_bundle', type: QUANT.Q8_0, dims: [3 * 576, 1536] }), 3 * 18 * 34);
  assert.is(chooseChunkBytes({ name: 'token_embd.weight', type: QUANT.F32, dims: [576, 49152] }), 576 * 4 * 28);
  assert.is(chooseChunkBytes({ name: 'x.weight', type: QUANT.F32, dims: [32768, 4] }), 32768 * 4);
  assert.is(chooseChunkBytes({ name: 'output_norm.weight', type: QUANT.F32, dims: [64] }), 256);
  assert.is(chooseChunkBytes({ name: 'blk.0.attn_k.weight', type: QUANT.F32, dims: [64, 32] }), 32 * 256);
  assert.ok(CHUNK_TARGET_BYTES === 65536);
});

span.run();

// --- verifyTensorBytes

const verify = suite('verifyTensorBytes');

verify('accepts every tensor whole and every bundle row alone', async () => {
  const { bytes, file, info } = await convertStories('q8_0');
  for (const t of file.tensors) verifyTensorBytes(info, t.name, 0, bytes.subarray(t.offset, t.offset + t.bytes));
  for (const b of info.bundles) {
    for (let r = 0; r < b.nFF; r += 17) verifyTensorBytes(info, b.name, r * b.rowBytes, bytes.subarray(b.offset + r * b.rowBytes, b.offset + (r + 1) * b.rowBytes));
  }
});

verify('a flipped byte in a bundle row is a hash_mismatch naming the tensor, the chunk offset in the tensor and in the file', async () => {
  const { bytes, info } = await convertStories('q8_0');
  const b = info.bundles[3]!;
  const rows = bytes.slice(b.offset + 10 * b.rowBytes, b.offset + 14 * b.rowBytes); // rows 10..13
  rows[2 * b.rowBytes + 150] ^= 0x04; // row 12
  const e = await assertThrowsCode(() => verifyTensorBytes(info, b.name, 10 * b.rowBytes, rows), 'hash_mismatch');
  assert.match(e.message, `tensor ${b.name}: bytes ${12 * b.rowBytes}..${13 * b.rowBytes} (chunk 12, file offset ${b.offset + 12 * b.rowBytes})`);
});

verify('refuses a range that is not whole chunks, saying which range to read', async () => {
  const { bytes, info } = await convertStories('q8_0');
  const b = info.bundles[0]!;
  const e = await assertThrowsCode(() => verifyTensorBytes(info, b.name, 1, bytes.subarray(b.offset + 1, b.offset + b.rowBytes)), 'bad_option');
  assert.match(e.message, `read [0, ${b.rowBytes})`);
});

verify('verifies bundle rows at several hundred MB/s (SmolLM2-135M-shaped rows, Q8_0)', async () => {
  // One layer of a dim-576, n_ff-1536 model: 1536 rows of 1836 bytes.
  const model = await makeRandomModel({ dim: 576, nLayers: 1, nHeads: 9, nKvHeads: 3, hiddenDim: 1536, vocabSize: 512, type: 'f32' });
  const spec = await openModel(memorySource(model, 'smol1.gguf'));
  const sink = memorySink();
  await convert(spec, sink, { type: 'q8_0', layout: 'bundled' , sourceSha256: '0'.repeat(64) });
  const out = sink.bytes();
  const info = readIfpruneInfo(await parseGGUF(memorySource(out, 'smol1-q8.gguf')))!;
  const b = info.bundles[0]!;
  const rows = out.subarray(b.offset, b.offset + b.bytes);
  let best = 0;
  for (let rep = 0; rep < 20; rep++) {
    const t0 = performance.now();
    verifyTensorBytes(info, b.name, 0, rows);
    best = Math.max(best, b.bytes / ((performance.now() - t0) / 1000));
  }
  // ~400-700 MB/s on an idle x86-64 core; the bound leaves room for a loaded CI machine.
  if (process.env.IFPRUNE_VERBOSE) console.log(`verifyTensorBytes: ${(best / 1e6).toFixed(0)} MB/s`);
  assert.ok(best > 100e6, `verification ran at ${(best / 1e6).toFixed(0)} MB/s`);
});

verify.run();

// --- summarizeLayout

const summary = suite('summarizeLayout');

summary('splits the file into core and bundles and predicts the fraction a density loads', async () => {
  const { bytes, info } = await convertStories('q8_0');
  const s = summarizeLayout(info, bytes.length);
  assert.equal(s.bundleBytesPerLayer, [172 * 204, 172 * 204, 172 * 204, 172 * 204, 172 * 204]);
  assert.equal(s.bytesPerNeuron, [204, 204, 204, 204, 204]);
  assert.is(s.coreBytes, bytes.length - 5 * 172 * 204);
  assert.is(s.fractionAt(1), 1);
  assert.ok(Math.abs(s.fractionAt(0.25) - (s.coreBytes + 0.25 * 5 * 172 * 204) / bytes.length) < 1e-12);
});

summary('IFPRUNE_VERSION is package.json\'s version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.is(IFPRUNE_VERSION, pkg.version);
});

summary.run();
