/**
 * Network faults (issue 12, deliverable 2), against the fault-injecting server of test/fault-server.ts:
 * stalls (timeoutMs), TCP resets, a file replaced while open (If-Match / ETag), a flipped byte (the
 * runtime's chunk hashes), and what a failed or aborted neuron load leaves behind: the next
 * instruction on the same model works, reads what it needs and gives a fresh model's tokens. The model
 * tests open the bundled ifp-demo (ffn 'selective') and generate greedily at density 0.5 with the
 * learned policy. Ignored Range, short bodies, wrong or missing Content-Range, 429/503 with
 * Retry-After and abort are also covered at the source level in test/http.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { httpSource, type HttpSource, type HttpSourceOptions } from '../src/sources/http.ts';
import { readRanges, type RangeRead, type RangeSource } from '../src/sources/ranges.ts';
import { r2Source, type R2BucketLike } from '../src/sources/r2.ts';
import { cachedSource, type CacheLike } from '../src/sources/cache.ts';
import { MODEL_HTTP } from '../src/platform/resolve.ts';
import { openModel } from '../src/formats/model.ts';
import { memorySource } from '../src/sources/memory.ts';
import { open } from '../src/platform/node.ts';
import type { GenerateOptions, Model } from '../src/types.ts';
import { assertBytes, assertThrowsCode, rng } from './helpers.ts';
import { FaultServer, type Fault } from './fault-server.ts';

const DEMO = fileURLToPath(new URL('../models/ifp-demo/ifp-demo.q8_0.gguf', import.meta.url));
const DEMO_BYTES = new Uint8Array(readFileSync(DEMO));
const DATA = (() => {
  const r = rng(12);
  return Uint8Array.from({ length: 1 << 20 }, () => (r() * 256) | 0);
})();

const server = await FaultServer.start({ '/demo.gguf': DEMO_BYTES, '/data.bin': DATA });
const DEMO_URL = server.url('/demo.gguf');
const DATA_URL = server.url('/data.bin');

/** Retries without waiting (the default 30 s timeout: tests of stalls set a short one). */
const FAST: HttpSourceOptions = { ...MODEL_HTTP, backoffMs: 1, maxBackoffMs: 5 };
/** A stall noticed after 1 s: long enough that a loaded CI machine does not time out a request that is flowing. */
const STALL_MS = 1000;
const OPEN = { ffn: 'selective' as const };
const PROMPT = 'def main(argv):';
const GEN: GenerateOptions = { density: 0.5, policy: 'learned', temperature: 0, maxTokens: 8 };

async function ids(model: Model, opts: GenerateOptions = GEN): Promise<number[]> {
  const out: number[] = [];
  for await (const t of model.generate(PROMPT, opts)) out.push(t.id);
  return out;
}

/** A clean server: no faults, an empty log, once the requests of the last test have all arrived. */
async function fresh(): Promise<void> {
  await server.quiet();
  server.reset();
}

/** The ranges of the GETs logged since the last reset, sorted (concurrent requests finish in any order). */
const getRanges = () => server.gets().map((e) => e.range!).sort();

/** What one load read: the runtime's count, the source's (when known) and the ranges the server saw. */
interface LoadIo {
  neuronRequests: number;
  neuronBytesRead: number;
  /** The model's wasm memory after the load (Stats.memoryBytes). */
  memoryBytes: number;
  source?: { requests: number; bytes: number };
  gets: string[];
}

// References: a fresh model's tokens (from the file), and what a fresh model's neuron load reads over HTTP.
const REF = await (async () => {
  const m = await open(DEMO, OPEN);
  const r = await ids(m);
  await m.close();
  return r;
})();
const REF_LOAD: LoadIo = await (async () => {
  const src = await httpSource(DEMO_URL, FAST);
  const m = await open(src, OPEN);
  await fresh();
  const before = src.stats();
  assert.equal(await ids(m), REF, 'over HTTP as from the file');
  const { neuronRequests, neuronBytesRead, memoryBytes } = m.stats();
  const io = { neuronRequests, neuronBytesRead, memoryBytes, source: { requests: src.stats().requests - before.requests, bytes: src.stats().bytes - before.bytes }, gets: getRanges() };
  await m.close();
  return io;
})();

/**
 * Generates on `m` (whose last load failed) and asserts what a fresh model's load would give: the
 * reference tokens, the same neuron requests and bytes (counted by the runtime, and by the source when
 * given: a request the client cancelled may still reach the server later, so the server's log is
 * only checked for every range a fresh load reads).
 */
async function assertLoadsAsFresh(m: Model, label: string, src?: HttpSource): Promise<void> {
  await fresh();
  const before = src?.stats();
  assert.equal(await ids(m), REF, `${label}: tokens`);
  const st = m.stats();
  assert.equal(
    [st.neuronRequests, st.neuronBytesRead, st.neuronCacheHits, st.memoryBytes],
    [REF_LOAD.neuronRequests, REF_LOAD.neuronBytesRead, 0, REF_LOAD.memoryBytes],
    `${label}: the runtime's requests, bytes, cache hits, memory`,
  );
  if (src && before) {
    const after = src.stats();
    assert.equal({ requests: after.requests - before.requests, bytes: after.bytes - before.bytes }, REF_LOAD.source, `${label}: the source's requests and bytes`);
  }
  const seen = new Set(getRanges());
  const missing = REF_LOAD.gets.filter((r) => !seen.has(r));
  assert.equal(missing, [], `${label}: ranges a fresh load reads that the server did not see`);
}

// ---
const stalls = suite('httpSource: stalls and resets');
stalls.before.each(fresh);

stalls('no answer to a GET for timeoutMs: cancelled and retried', async () => {
  const src = await httpSource(DATA_URL, { ...FAST, timeoutMs: STALL_MS });
  server.schedule({ kind: 'stall-headers' });
  const t = new Uint8Array(5000);
  await src.readInto(1000, t);
  assertBytes(t, DATA.subarray(1000, 6000));
  assert.equal(server.gets().map((e) => [e.range, e.fault]), [['bytes=1000-5999', 'stall-headers'], ['bytes=1000-5999', undefined]]);
  assert.is(src.stats().retries, 1);
});

stalls('a HEAD that never answers: opening falls back to a one-byte probe after timeoutMs', async () => {
  server.configure({ stallHead: true });
  const src = await httpSource(DATA_URL, { ...FAST, timeoutMs: STALL_MS });
  assert.is(src.size, DATA.length);
  assert.equal(server.log.map((e) => [e.method, e.range]), [['HEAD', undefined], ['GET', 'bytes=0-0']]);
});

stalls('a body that stops midway: resumed from its first missing byte, no byte fetched twice', async () => {
  const src = await httpSource(DATA_URL, { ...FAST, timeoutMs: STALL_MS });
  const before = src.stats();
  server.schedule({ kind: 'stall-body' });
  const t = new Uint8Array(400_000);
  await src.readInto(100, t);
  assertBytes(t, DATA.subarray(100, 400_100));
  const [first, second] = server.gets();
  assert.is(first!.range, 'bytes=100-400099');
  const resumedAt = Number(/bytes=(\d+)-400099$/.exec(second!.range!)![1]);
  assert.ok(resumedAt > 100, `resumed at ${resumedAt}`);
  assert.is(src.stats().bytes - before.bytes, 400_000);
});

stalls('a server that stalls on every attempt: http_error naming timeoutMs, after retries + 1 attempts', async () => {
  const src = await httpSource(DATA_URL, { ...FAST, timeoutMs: STALL_MS, retries: 1 });
  server.schedule({ kind: 'stall-body' }, { count: Infinity });
  const e = await assertThrowsCode(() => src.readInto(0, new Uint8Array(10_000)), 'http_error');
  for (const s of [`sent nothing for ${STALL_MS} ms`, 'timeoutMs', '2 attempts']) assert.ok(e.message.includes(s), `${s} in: ${e.message}`);
  assert.is(server.gets().length, 2);
});

stalls('a TCP reset mid-body and before the headers: retried, the body resumed', async () => {
  const src = await httpSource(DATA_URL, FAST);
  for (const kind of ['reset', 'reset-headers'] as const) {
    await fresh();
    const before = src.stats();
    server.schedule({ kind });
    const t = new Uint8Array(300_000);
    await src.readInto(7, t);
    assertBytes(t, DATA.subarray(7, 300_007), kind);
    assert.is(server.gets().length, 2, kind);
    assert.is(src.stats().retries - before.retries, 1, kind);
    if (kind === 'reset') assert.ok(!server.gets()[1]!.range!.startsWith('bytes=7-'), 'resumed past the bytes received');
  }
});

stalls('timeoutMs must be a positive integer', async () => {
  for (const timeoutMs of [0, -1, 1.5, NaN]) await assertThrowsCode(() => httpSource(DATA_URL, { timeoutMs }), 'bad_option', String(timeoutMs));
});

stalls.run();

// ---
const etag = suite('httpSource: the file replaced on the server (ETag, If-Match)');
etag.before.each(fresh);

etag('every read carries If-Match with the strong ETag from opening', async () => {
  const src = await httpSource(DATA_URL, FAST);
  assert.is(src.etag, '"v1-1048576"');
  await src.readInto(0, new Uint8Array(10));
  await src.readRanges([{ offset: 500, length: 5, target: new Uint8Array(5) }, { offset: 90_000, length: 5, target: new Uint8Array(5) }]);
  assert.equal(server.gets().map((e) => e.ifMatch), ['"v1-1048576"', '"v1-1048576"', '"v1-1048576"']);
});

etag('replaced between reads: 412 is corrupt, saying to open it again, not retried', async () => {
  const src = await httpSource(DATA_URL, FAST);
  await src.readInto(0, new Uint8Array(10));
  server.replace('/data.bin');
  const e = await assertThrowsCode(() => src.readInto(0, new Uint8Array(10)), 'corrupt');
  for (const s of ['changed on the server', '412', 'If-Match: "v1-1048576"', 'open it again']) assert.ok(e.message.includes(s), `${s} in: ${e.message}`);
  assert.equal(server.gets().map((e) => e.status), [206, 412]);
  // mid-load: a batch of ranges fails as a whole
  await fresh();
  const src2 = await httpSource(DATA_URL, FAST);
  server.schedule({ kind: 'replace' }, { from: 2 });
  const ranges = Array.from({ length: 8 }, (_, i) => ({ offset: i * 100_000, length: 100, target: new Uint8Array(100) }));
  await assertThrowsCode(() => src2.readRanges(ranges), 'corrupt');
  assert.ok(server.gets().some((e) => e.status === 412));
});

etag('a server that ignores If-Match but sends the new ETag: corrupt all the same', async () => {
  const src = await httpSource(DATA_URL, FAST);
  server.configure({ honorIfMatch: false });
  server.replace('/data.bin');
  const e = await assertThrowsCode(() => src.readInto(0, new Uint8Array(10)), 'corrupt');
  assert.ok(e.message.includes('ETag "v1-1048576", now "v2-1048576"'), e.message);
  assert.equal(server.gets().map((e) => e.status), [206]);
});

etag('a weak ETag: no If-Match (it can never match), but a changed one is still corrupt', async () => {
  server.configure({ etag: 'weak' });
  const src = await httpSource(DATA_URL, FAST);
  assert.is(src.etag, 'W/"v1-1048576"');
  await src.readInto(0, new Uint8Array(10));
  assert.is(server.gets()[0]!.ifMatch, undefined);
  server.replace('/data.bin');
  await assertThrowsCode(() => src.readInto(0, new Uint8Array(10)), 'corrupt');
});

etag('checkEtag: false sends no If-Match and ignores a new ETag; without an ETag reads go on', async () => {
  const src = await httpSource(DATA_URL, { ...FAST, checkEtag: false });
  server.replace('/data.bin');
  await src.readInto(0, new Uint8Array(10));
  assert.equal(server.gets().map((e) => [e.ifMatch, e.status]), [[undefined, 206]]);
  await fresh();
  server.configure({ etag: 'none' });
  const plain = await httpSource(DATA_URL, FAST);
  assert.is(plain.etag, undefined);
  await plain.readInto(0, new Uint8Array(10));
  assert.equal(server.gets().map((e) => [e.ifMatch, e.status]), [[undefined, 206]]);
});

etag('the model replaced mid-load: generate is corrupt, the open model never reads the new file, a reopened one works', async () => {
  const m = await open(DEMO_URL, OPEN);
  await fresh();
  server.schedule({ kind: 'replace' }, { from: 3 });
  const e = await assertThrowsCode(() => ids(m), 'corrupt');
  assert.ok(e.message.includes('open it again'), e.message);
  await assertThrowsCode(() => ids(m), 'corrupt', 'still the old ETag');
  await m.close();
  const again = await open(DEMO_URL, OPEN);
  assert.equal(await ids(again), REF);
  await again.close();
});

etag.run();

// ---
const flip = suite('a flipped byte: the chunk hashes reject it');
flip.before.each(fresh);

flip('in a core tensor: open fails with hash_mismatch naming the tensor', async () => {
  const spec = await openModel(memorySource(DEMO_BYTES));
  // Tensors read at open (the FFN bundles are read per instruction).
  const tensors = [...spec.tensors.values()].filter((t) => !t.name.includes('ffn_bundle'));
  for (const t of [tensors[0]!, tensors[tensors.length - 1]!]) {
    await fresh();
    server.schedule({ kind: 'flip', at: t.offset + Math.floor(t.bytes / 2) });
    const e = await assertThrowsCode(async () => open(await httpSource(DEMO_URL, FAST), OPEN), 'hash_mismatch', t.name);
    assert.ok(e.message.includes(t.name), `${t.name} in: ${e.message}`);
  }
});

flip('in a neuron row: generate fails with hash_mismatch; the next generate reads the row again and gives the reference tokens', async () => {
  const m = await open(await httpSource(DEMO_URL, FAST), OPEN);
  await fresh();
  server.schedule({ kind: 'flip' }, { from: 5 });
  await assertThrowsCode(() => ids(m), 'hash_mismatch');
  const flipped = server.gets()[5]!.range!;
  await fresh();
  assert.equal(await ids(m), REF);
  assert.ok(getRanges().some((r) => overlaps(r, flipped)), `the flipped request ${flipped} is read again`);
  await m.close();
});

flip('through cachedSource: the cache does not keep the bad bytes, so the next generate works', async () => {
  const store = new Map<string, Uint8Array>();
  const memoryCache: CacheLike = {
    match: async (req) => (store.has(req.url) ? new Response(store.get(req.url)!.slice()) : undefined),
    put: async (req, res) => void store.set(req.url, new Uint8Array(await res.arrayBuffer())),
  };
  const src = cachedSource(await httpSource(DEMO_URL, FAST), memoryCache);
  const m = await open(src, OPEN);
  await fresh();
  server.schedule({ kind: 'flip' }, { from: 5 });
  await assertThrowsCode(() => ids(m), 'hash_mismatch');
  await fresh();
  assert.equal(await ids(m), REF);
  assert.ok(server.gets().length > 0, 'the rows that failed were read from the server again');
  await fresh();
  assert.equal(await ids(m), REF, 'the third time from the neuron cache');
  await m.close();
});

flip.run();

/** Whether two `bytes=a-b` ranges share a byte. */
function overlaps(x: string, y: string): boolean {
  const [a, b] = x.slice(6).split('-').map(Number);
  const [c, d] = y.slice(6).split('-').map(Number);
  return a! <= d! && c! <= b!;
}

// ---
const during = suite('every network fault during a neuron load');
during.before.each(fresh);

/** Faults the source rides out (retry, resume), and faults that end the load with a code. */
const RIDDEN: Fault[] = [
  { kind: 'status', status: 503, retryAfter: '0' },
  { kind: 'status', status: 429, retryAfter: '0' },
  { kind: 'reset' },
  { kind: 'reset-headers' },
  { kind: 'short' },
  { kind: 'stall-headers' },
  { kind: 'stall-body' },
];
const FATAL: [Fault, string, number][] = [
  [{ kind: 'ignore-range' }, 'range_unsupported', 1],
  [{ kind: 'wrong-range' }, 'http_error', 1],
  [{ kind: 'no-content-range' }, 'http_error', 1],
  [{ kind: 'status', status: 404 }, 'not_found', 1],
  [{ kind: 'status', status: 403 }, 'http_error', 1],
  [{ kind: 'status', status: 503 }, 'http_error', Infinity], // every GET from the 4th on: retries do not help
  [{ kind: 'reset' }, 'truncated', Infinity],
];

during('retried faults: the tokens are the reference ones', async () => {
  for (const fault of RIDDEN) {
    const src = await httpSource(DEMO_URL, { ...FAST, timeoutMs: fault.kind.startsWith('stall') ? STALL_MS : undefined });
    const m = await open(src, OPEN);
    await fresh();
    server.schedule(fault, { from: 3 });
    assert.equal(await ids(m), REF, JSON.stringify(fault));
    assert.is(server.gets()[3]!.fault, fault.kind, JSON.stringify(fault));
    assert.is(src.stats().retries, 1, JSON.stringify(fault));
    await m.close();
  }
});

during('faults that fail the load: their code; then the next generate reads what a fresh model reads and gives its tokens', async () => {
  for (const [fault, code, count] of FATAL) {
    const src = await httpSource(DEMO_URL, FAST);
    const m = await open(src, OPEN);
    await fresh();
    server.schedule(fault, { from: 3, count });
    await assertThrowsCode(() => ids(m), code, JSON.stringify(fault));
    await assertLoadsAsFresh(m, JSON.stringify(fault), src);
    await m.close();
  }
});

during.run();

// ---
const cache = suite('open(url): a failed or aborted load leaves the neuron cache consistent');
cache.before.each(fresh);

cache('a load that fails midway: the next generate loads the selection again and gives the reference tokens; the one after reads nothing', async () => {
  const m = await open(DEMO_URL, OPEN);
  await fresh();
  server.schedule({ kind: 'status', status: 404 }, { from: 3 });
  await assertThrowsCode(() => ids(m), 'not_found');
  await assertLoadsAsFresh(m, '404 midway');
  await fresh();
  assert.equal(await ids(m), REF, 'from the cache');
  assert.is(server.gets().length, 0);
  assert.is(m.stats().memoryBytes, REF_LOAD.memoryBytes);
  await m.close();
});

cache('a load aborted midway: aborted, then the next generate works as on a fresh model', async () => {
  const m = await open(DEMO_URL, OPEN);
  await fresh();
  server.schedule({ kind: 'stall-headers' }, { from: 3 });
  const ac = new AbortController();
  const poll = setInterval(() => server.gets().length > 3 && ac.abort(), 5);
  try {
    await assertThrowsCode(() => ids(m, { ...GEN, signal: ac.signal }), 'aborted');
  } finally {
    clearInterval(poll);
  }
  await assertLoadsAsFresh(m, 'aborted midway');
  await m.close();
});

cache('instruct() + load(): a failed load, then load() of the same instruction reads every row and generate gives the reference tokens', async () => {
  const m = await open(DEMO_URL, OPEN);
  const ins = await m.instruct(PROMPT, { density: 0.5, policy: 'learned' });
  await fresh();
  server.schedule({ kind: 'status', status: 403 }, { from: 3 });
  await assertThrowsCode(() => m.load(ins), 'http_error');
  await fresh();
  const rep = await m.load(ins);
  assert.is(rep.rowsRead, rep.rows, 'no row of the failed load was kept');
  assert.equal([rep.cacheHits, rep.requests, rep.bytesRead], [0, REF_LOAD.neuronRequests, REF_LOAD.neuronBytesRead]);
  const seen = new Set(getRanges());
  assert.equal(REF_LOAD.gets.filter((r) => !seen.has(r)), [], 'every range a fresh load reads');
  assert.equal(await ids(m, { temperature: 0, maxTokens: 8 }), REF);
  await m.close();
});

cache('the prompt policy (every neuron read in one request for a dense pass): that request fails, then the reference tokens', async () => {
  const opts: GenerateOptions = { ...GEN, policy: 'prompt' };
  const fromFile = await open(DEMO, OPEN);
  const ref = await ids(fromFile, opts);
  await fromFile.close();
  const m = await open(DEMO_URL, OPEN);
  await fresh();
  server.schedule({ kind: 'reset' }, { count: Infinity });
  await assertThrowsCode(() => ids(m, opts), 'truncated');
  await fresh();
  assert.equal(await ids(m, opts), ref);
  assert.is(server.gets().length, 1, 'the whole FFN in one request; the chosen neurons are then in the cache');
  await m.close();
});

cache.run();

// ---
const settle = suite('a failed readRanges settles every read first');

/** A source whose read at offset 0 fails at once while the others are still running. */
function slowSource(): RangeSource & { inFlight: number } {
  const s = {
    inFlight: 0,
    async readInto(offset: number, target: Uint8Array) {
      if (offset === 0) throw new Error('boom');
      s.inFlight++;
      await new Promise((r) => setTimeout(r, 30));
      target.fill(1);
      s.inFlight--;
    },
  };
  return s;
}
const RANGES = (): RangeRead[] => Array.from({ length: 6 }, (_, i) => ({ offset: i * 1000, length: 10, target: new Uint8Array(10) }));

settle('readRanges over readInto: rejects only once no read is still writing into a target', async () => {
  const src = slowSource();
  try {
    await readRanges(src, RANGES().reverse(), { gapBytes: 0, maxRequestBytes: 100 });
    assert.unreachable('should fail');
  } catch (e) {
    assert.is((e as Error).message, 'boom');
  }
  assert.is(src.inFlight, 0);
});

settle('r2Source.readRanges: the same', async () => {
  let inFlight = 0;
  const bucket: R2BucketLike = {
    head: async () => ({ key: 'k', size: 10_000, etag: 'e' }),
    get: async (_key, o) => {
      if (o!.range!.offset === 0) return null; // deleted: not_found
      inFlight++;
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      return { key: 'k', size: 10_000, etag: 'e', body: new Blob([new Uint8Array(o!.range!.length)]).stream() };
    },
  };
  const src = await r2Source(bucket, 'k', { gapBytes: 0 });
  await assertThrowsCode(() => src.readRanges(RANGES()), 'not_found');
  assert.is(inFlight, 0);
});

settle.run();

// ---
const r2 = suite('r2Source: a body that fails midway');

/** A bucket over DATA whose first `breaks` gets send half the body, then fail (or end, with `end`). */
function breakingBucket(breaks: number, end = false): R2BucketLike & { gets: { offset: number; length: number }[] } {
  const gets: { offset: number; length: number }[] = [];
  return {
    gets,
    head: async () => ({ key: 'k', size: DATA.length, etag: 'e1' }),
    get: async (_key, o) => {
      const { offset, length } = o!.range!;
      gets.push({ offset, length });
      const bytes = DATA.slice(offset, offset + length);
      const broken = gets.length <= breaks;
      let pulls = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (!broken) return void (c.enqueue(bytes), c.close());
          if (pulls++ === 0) return void c.enqueue(bytes.subarray(0, length >> 1));
          if (end) c.close();
          else c.error(new Error('connection lost'));
        },
      });
      return { key: 'k', size: DATA.length, etag: 'e1', body };
    },
  };
}

r2('resumed from the first missing byte', async () => {
  const bucket = breakingBucket(1);
  const src = await r2Source(bucket, 'k', { backoffMs: 1 });
  const t = new Uint8Array(10_000);
  await src.readInto(500, t);
  assertBytes(t, DATA.subarray(500, 10_500));
  assert.equal(bucket.gets, [{ offset: 500, length: 10_000 }, { offset: 5500, length: 5000 }]);
});

r2('failing on every attempt: http_error; ending early every time: truncated', async () => {
  const src = await r2Source(breakingBucket(Infinity), 'k', { backoffMs: 1, retries: 2 });
  const e = await assertThrowsCode(() => src.readInto(0, new Uint8Array(1000)), 'http_error');
  assert.ok(e.message.includes('connection lost') && e.message.includes('3 attempts'), e.message);
  const short = await r2Source(breakingBucket(Infinity, true), 'k', { backoffMs: 1, retries: 1 });
  await assertThrowsCode(() => short.readInto(0, new Uint8Array(1000)), 'truncated');
});

r2.after(() => server.close());
r2.run();
