import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memorySource } from '../src/sources/memory.ts';
import { fileSource } from '../src/sources/file.ts';
import { ByteReader, WINDOW_BYTES, readAt } from '../src/sources/read.ts';
import type { ByteSource } from '../src/sources/types.ts';
import { assertBytes, assertThrowsCode, rng } from './helpers.ts';
import { readRanges, type RangeRead } from '../src/sources/ranges.ts';
import { STORIES_BIN } from './format-fixtures.ts';

const bytes = Uint8Array.from({ length: 100 }, (_, i) => i);

/** A memory source that counts readInto calls. */
function counting(data: Uint8Array): ByteSource & { calls: number } {
  const inner = memorySource(data, 'counted');
  const src = { size: inner.size, name: inner.name, calls: 0, readInto: (o: number, t: Uint8Array) => (src.calls++, inner.readInto(o, t)) };
  return src;
}

// ---
const memory = suite('memorySource');

memory('reads any range inside the bytes', async () => {
  const src = memorySource(bytes);
  assert.is(src.size, 100);
  assert.is(src.name, 'memory');
  const t = new Uint8Array(10);
  await src.readInto(90, t);
  assertBytes(t, bytes.subarray(90, 100), 'tail');
  await src.readInto(100, new Uint8Array(0));
});

memory('a range past the end is truncated, naming source, offset, length and size', async () => {
  const src = memorySource(bytes, 'test.bin');
  const e = await assertThrowsCode(() => src.readInto(95, new Uint8Array(10)), 'truncated');
  for (const s of ['test.bin', '95', '10 bytes', '100-byte']) assert.ok(e.message.includes(s), `${s} in: ${e.message}`);
  await assertThrowsCode(() => src.readInto(-1, new Uint8Array(1)), 'truncated', 'negative offset');
});

memory('honours an aborted signal', async () => {
  const ac = new AbortController();
  ac.abort();
  try {
    await memorySource(bytes).readInto(0, new Uint8Array(1), ac.signal);
    assert.unreachable('should reject');
  } catch (e) {
    assert.is((e as Error).name, 'AbortError');
  }
});

memory.run();

// ---
const readAtSuite = suite('readAt');

readAtSuite('returns a copy of the range', async () => {
  const got = await readAt(memorySource(bytes), 10, 5);
  assertBytes(got, bytes.subarray(10, 15));
  assert.is((await readAt(memorySource(bytes), 100, 0)).length, 0);
});

readAtSuite('checks bounds before allocating (a 2^40-byte read is an error, not a RangeError)', async () => {
  const e = await assertThrowsCode(() => readAt(memorySource(bytes), 0, 2 ** 40, 'tensor data'), 'truncated');
  assert.ok(e.message.startsWith('tensor data'), e.message);
  await assertThrowsCode(() => readAt(memorySource(bytes), 2 ** 60, 1), 'truncated', 'unsafe offset');
});

readAtSuite.run();

// ---
const reader = suite('ByteReader');

reader('reads little-endian scalars and advances pos', async () => {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint8(0, 200);
  v.setInt8(1, -5);
  v.setUint16(2, 0xbeef, true);
  v.setInt16(4, -1234, true);
  v.setUint32(6, 0xdeadbeef, true);
  v.setInt32(10, -123456789, true);
  v.setBigUint64(14, 2n ** 53n - 1n, true);
  v.setFloat32(22, 1.5, true);
  v.setFloat64(26, Math.PI, true);
  v.setBigInt64(34, -(2n ** 62n), true);
  const r = new ByteReader(memorySource(b));
  assert.is(await r.u8('a'), 200);
  assert.is(await r.i8('b'), -5);
  assert.is(await r.u16('c'), 0xbeef);
  assert.is(await r.i16('d'), -1234);
  assert.is(await r.u32('e'), 0xdeadbeef);
  assert.is(await r.i32('f'), -123456789);
  assert.is(await r.u64('g'), Number.MAX_SAFE_INTEGER);
  assert.is(await r.f32('h'), 1.5);
  assert.is(await r.f64('i'), Math.PI);
  assert.is(await r.i64big('j'), -(2n ** 62n));
  assert.is(r.pos, 42);
  assert.is(r.remaining, 22);
});

reader('a uint64 above 2^53 is corrupt when read as a number, exact as a bigint', async () => {
  const b = new Uint8Array(16).fill(0xff);
  const r = new ByteReader(memorySource(b));
  await assertThrowsCode(() => r.u64('tensor count'), 'corrupt');
  const r2 = new ByteReader(memorySource(b));
  assert.is(await r2.u64big('x'), 2n ** 64n - 1n);
});

reader('strings: uint64 or uint32 length prefix, UTF-8', async () => {
  const text = new TextEncoder().encode('héllo ▁world');
  const b = new Uint8Array(8 + text.length + 4 + 2);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(text.length), true);
  b.set(text, 8);
  v.setUint32(8 + text.length, 2, true);
  b.set([0x68, 0x69], 12 + text.length);
  const r = new ByteReader(memorySource(b));
  assert.is(await r.string('key'), 'héllo ▁world');
  assert.is(await r.string('piece', 4), 'hi');
  assert.is(r.remaining, 0);
});

reader('a string length past the end says what, where and how big the file is', async () => {
  const b = new Uint8Array(40);
  new DataView(b.buffer).setBigUint64(12, 4_000_000_000n, true);
  const r = new ByteReader(memorySource(b, 'm.gguf'), 12);
  r.context = 'GGUF metadata key 3';
  const e = await assertThrowsCode(() => r.string('key'), 'truncated');
  assert.is(e.message, 'GGUF metadata key 3: key: string length 4000000000 at byte 12 runs past the end of the 40-byte file m.gguf');
});

reader('every read checks the end', async () => {
  const src = memorySource(new Uint8Array(3), 'x');
  for (const m of ['u32', 'i32', 'f32', 'u64', 'f64', 'u64big', 'i64big'] as const) {
    const e = await assertThrowsCode(() => new ByteReader(src)[m]('field'), 'truncated', m);
    assert.ok(e.message.includes('field'), e.message);
  }
  await assertThrowsCode(() => new ByteReader(src).bytes(4, 'blob'), 'truncated', 'bytes');
  await assertThrowsCode(() => new ByteReader(src).utf8(2 ** 50, 'text'), 'truncated', 'utf8');
  assert.throws(() => new ByteReader(src).skip(4, 'pad'), (e: Error & { code: string }) => e.code === 'truncated');
});

reader('coalesces many small reads into one window read', async () => {
  const src = counting(new Uint8Array(4000));
  const r = new ByteReader(src);
  for (let i = 0; i < 1000; i++) await r.u32('n');
  assert.is(src.calls, 1);
  assert.ok(WINDOW_BYTES >= 1 << 20);
});

reader('refills the window across its edge and reads big blocks whole', async () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => i * 7);
  const src = counting(data);
  const r = new ByteReader(src, 0, undefined, 16);
  r.pos = 14;
  assert.is(await r.u32('straddling'), new DataView(data.buffer).getUint32(14, true));
  assertBytes(await r.bytes(100, 'block'), data.subarray(18, 118), 'big block');
  assertBytes(await r.bytes(3, 'small'), data.subarray(118, 121), 'after');
  assert.is(r.pos, 121);
});

reader.run();

// ---
const file = suite('fileSource');

file('reads the same bytes as readFileSync', async () => {
  const src = await fileSource(STORIES_BIN);
  const whole = new Uint8Array(readFileSync(STORIES_BIN));
  assert.is(src.size, whole.length);
  assert.is(src.name, STORIES_BIN);
  const t = new Uint8Array(5000);
  await src.readInto(123457, t);
  assertBytes(t, whole.subarray(123457, 128457));
  await src.readInto(whole.length - 3, t.subarray(0, 3));
  assertBytes(t.subarray(0, 3), whole.subarray(whole.length - 3));
  await src.close!();
});

file('a range past the end is truncated', async () => {
  const src = await fileSource(STORIES_BIN);
  await assertThrowsCode(() => src.readInto(src.size - 2, new Uint8Array(4)), 'truncated');
  await assertThrowsCode(() => src.readIntoSync!(src.size - 2, new Uint8Array(4)), 'truncated');
  await src.close!();
});

file('readIntoSync reads what readInto reads; readRanges takes that path and fills every target as the async one does', async () => {
  const src = await fileSource(STORIES_BIN);
  const whole = new Uint8Array(readFileSync(STORIES_BIN));
  const t = new Uint8Array(7777);
  src.readIntoSync!(4321, t);
  assertBytes(t, whole.subarray(4321, 4321 + 7777));
  // scattered ranges, some merged through gaps into staged requests, some read straight into their target
  const r = rng(5);
  const ranges = (): RangeRead[] => Array.from({ length: 300 }, (_, i) => ({ offset: i * 3000 + Math.floor(r() * 1000), length: 1 + Math.floor(r() * 900), target: new Uint8Array(0) })).map((x) => ({ ...x, target: new Uint8Array(x.length) }));
  const a = ranges();
  const b = a.map((x) => ({ ...x, target: new Uint8Array(x.length) }));
  let asyncReads = 0;
  const asyncOnly = { readInto: (o: number, tg: Uint8Array, sig?: AbortSignal) => (asyncReads++, src.readInto(o, tg, sig)) };
  const opts = { gapBytes: 1500, maxRequestBytes: 1 << 20 };
  const got = await readRanges(src, a, opts);
  const want = await readRanges(asyncOnly, b, opts);
  assert.equal(got, want);
  assert.ok(asyncReads > 1 && asyncReads === want.requests, `the async path made ${asyncReads} reads`);
  a.forEach((x, i) => {
    assertBytes(x.target, whole.subarray(x.offset, x.offset + x.length), `range ${i}`);
    assertBytes(b[i]!.target, x.target, `range ${i}, async`);
  });
  // an aborted signal stops the sync path before it reads
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  let stopped: unknown;
  await readRanges(src, ranges(), opts, ac.signal).catch((e) => (stopped = e));
  assert.is((stopped as Error)?.message, 'stop');
  await src.close!();
});

file('a missing file is not_found, a directory is refused', async () => {
  const e = await assertThrowsCode(() => fileSource('/nonexistent/model.gguf'), 'not_found');
  assert.ok(e.message.includes('/nonexistent/model.gguf'), e.message);
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-src-'));
  try {
    await assertThrowsCode(() => fileSource(dir), 'bad_option');
    writeFileSync(join(dir, 'empty.bin'), new Uint8Array(0));
    const src = await fileSource(join(dir, 'empty.bin'));
    assert.is(src.size, 0);
    await src.close!();
  } finally {
    rmSync(dir, { recursive: true });
  }
});

file.run();
