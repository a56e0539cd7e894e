/**
 * The Cloudflare Worker (examples/worker) in workerd, through miniflare, with a local R2 bucket seeded
 * with the bundled models: greedy text equal to Node's, dense and at density 0.5 (learned policy); the
 * model is opened once per isolate and a repeated instruction reads no neuron rows; the isolate's memory
 * after a request. And src/sources/r2.ts against miniflare's R2 bucket: bytes, and its failures.
 */
import { test, suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'undici'; // miniflare's dependency; Node 20 has no global WebSocket
import { startWorker } from '../examples/worker/local.mjs';
import { r2Source, type R2BucketLike } from '../src/sources/r2.ts';
import { CASES, DEMO, SAMPLED, STORIES, completionBody, freePort, nodeText, type EdgeCase } from './edge-harness.ts';
import { assertThrowsCode } from './helpers.ts';

const ISOLATE_LIMIT = 128e6; // bytes, Cloudflare's per-isolate memory limit

const files = { 'stories260K.gguf': readFileSync(STORIES), 'ifp-demo.q8_0.gguf': readFileSync(DEMO) };
const keyOf = (path: string) => path.split('/').pop()!;

type Mf = Awaited<ReturnType<typeof startWorker>>['mf'];

async function complete(mf: Mf, c: EdgeCase) {
  const res = await mf.dispatchFetch('http://worker/v1/completions', {
    method: 'POST',
    body: completionBody(c),
  });
  const body = (await res.json()) as { choices: { text: string }[] };
  assert.is(res.status, 200, JSON.stringify(body));
  const stats = (await (await mf.dispatchFetch('http://worker/ifprune/stats')).json()) as { model: { neuronBytesRead: number; neuronCacheHits: number; memoryBytes: number } };
  return { text: body.choices[0]!.text, ...stats.model };
}

// ---
const worker = suite('worker');

worker('greedy and seeded text equals Node\'s for each model, dense and at density 0.5; the model is reused across requests', async () => {
  for (const model of [STORIES, DEMO]) {
    const { mf } = await startWorker({ models: files, modelKey: keyOf(model) });
    try {
      const cases = [...CASES, ...SAMPLED].filter((c) => c.model === model);
      for (const c of cases) {
        const got = await complete(mf, c);
        assert.is(got.text, await nodeText(c), c.label);
        if (c.opts.density === 0.5) {
          // The same instruction again in the same isolate: every selected row is in the neuron cache.
          const again = await complete(mf, c);
          assert.is(again.text, got.text, `${c.label}, again`);
          assert.is(again.neuronBytesRead, 0, 'a repeated instruction reads no neuron rows');
          assert.ok(again.neuronCacheHits > 0);
        }
      }
      const stats = (await (await mf.dispatchFetch('http://worker/ifprune/stats')).json()) as { served: number };
      assert.is(stats.served, cases.length + cases.filter((c) => c.opts.density === 0.5).length, 'one model per isolate served every request (density-0.5 cases twice)');
    } finally {
      await mf.dispose();
    }
  }
});

worker('the isolate\'s memory after a request (JS heap from the inspector + wasm memory) is far below 128 MB', async () => {
  const inspectorPort = await freePort();
  const { mf } = await startWorker({ models: files, modelKey: keyOf(DEMO), inspectorPort });
  try {
    const got = await complete(mf, CASES.find((c) => c.model === DEMO && c.opts.density === 0.5)!);
    const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
    const ws = new WebSocket(targets.find((t) => t.id === 'core:user:')!.webSocketDebuggerUrl);
    await new Promise((r, j) => (ws.addEventListener('open', r), ws.addEventListener('error', j)));
    const heap = await new Promise<{ usedSize: number; totalSize: number }>((resolve) => {
      ws.addEventListener('message', (e) => {
        const m = JSON.parse(String(e.data));
        if (m.id === 1) resolve(m.result);
      });
      ws.send(JSON.stringify({ id: 1, method: 'Runtime.getHeapUsage' }));
    });
    ws.close();
    const total = heap.totalSize + got.memoryBytes;
    console.log(`  isolate after one density-0.5 request on ifp-demo: JS heap ${mb(heap.usedSize)} used / ${mb(heap.totalSize)} total, wasm ${mb(got.memoryBytes)}; ${mb(total)} in all`);
    assert.ok(heap.usedSize > 0 && got.memoryBytes > 0);
    assert.ok(total < ISOLATE_LIMIT / 4, `${mb(total)}`);
  } finally {
    await mf.dispose();
  }
});

worker('a model key that is not in the bucket is a 404 with a JSON error saying to upload it', async () => {
  const { mf } = await startWorker({ models: {}, modelKey: 'missing.gguf' });
  try {
    const res = await mf.dispatchFetch('http://worker/v1/completions', { method: 'POST', body: '{"prompt":"x"}' });
    assert.is(res.status, 404);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.is(body.error.code, 'not_found');
    assert.match(body.error.message, /upload the model/);
  } finally {
    await mf.dispose();
  }
});

worker.run();

// ---
const r2 = suite('r2Source');

r2('reads any range of the object; a replaced object is corrupt, a deleted one not_found', async () => {
  const { mf } = await startWorker({ models: { 'm.gguf': files['stories260K.gguf'] }, modelKey: 'm.gguf' });
  try {
    const bucket = (await mf.getR2Bucket('MODELS')) as unknown as R2BucketLike & { put(k: string, v: Uint8Array): Promise<unknown>; delete(k: string): Promise<void> };
    const src = await r2Source(bucket, 'm.gguf');
    const bytes = files['stories260K.gguf'];
    assert.is(src.size, bytes.length);
    for (const [off, len] of [[0, 4], [12345, 1000], [bytes.length - 7, 7], [0, bytes.length]] as const) {
      const got = new Uint8Array(len);
      await src.readInto(off, got);
      assert.ok(Buffer.from(got).equals(bytes.subarray(off, off + len)), `bytes ${off}+${len}`);
    }
    await assertThrowsCode(() => src.readInto(bytes.length - 1, new Uint8Array(2)), 'truncated');
    assert.is(src.stats().bytes, 4 + 1000 + 7 + bytes.length);
    // readRanges: ranges within gapBytes (16 KiB) share one get; a far one gets its own.
    const before = src.stats().requests;
    const parts = [[100, 50], [1000, 20], [9000, 300], [500_000, 10]].map(([offset, length]) => ({ offset: offset!, length: length!, target: new Uint8Array(length!) }));
    await src.readRanges(parts);
    for (const p of parts) assert.ok(Buffer.from(p.target).equals(bytes.subarray(p.offset, p.offset + p.length)), `range ${p.offset}`);
    assert.is(src.stats().requests - before, 2, 'two gets for four ranges');
    await bucket.put('m.gguf', bytes.subarray(0, 1000));
    const changed = await assertThrowsCode(() => src.readInto(0, new Uint8Array(4)), 'corrupt');
    assert.match(changed.message, /changed in the R2 bucket/);
    await bucket.delete('m.gguf');
    await assertThrowsCode(() => src.readInto(0, new Uint8Array(4)), 'not_found');
    await assertThrowsCode(() => r2Source(bucket, 'nothing-here.gguf'), 'not_found');
  } finally {
    await mf.dispose();
  }
});

r2('a value that is not a bucket binding, or an empty key, is bad_option', async () => {
  await assertThrowsCode(() => r2Source(undefined as unknown as R2BucketLike, 'k'), 'bad_option');
  const fake: R2BucketLike = { head: async () => null, get: async () => null };
  await assertThrowsCode(() => r2Source(fake, ''), 'bad_option');
  const flaky: R2BucketLike = {
    head: async () => {
      throw new Error('R2 unavailable');
    },
    get: async () => null,
  };
  const e = await assertThrowsCode(() => r2Source(flaky, 'k', { retries: 1, backoffMs: 1 }), 'http_error');
  assert.match(e.message, /after 2 attempts/);
});

r2.run();

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}
