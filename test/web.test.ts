/**
 * The web example (examples/web) in Debian's Chromium, driven by playwright-core, against the local
 * static + Range server (examples/web/serve.mjs): once at desktop size and once with mobile emulation
 * (touch, 390×844). Type a prompt, set the density, generate; the text must equal Node's. The model is
 * read by Range requests only (never downloaded whole), and a reload serves it from the Cache API.
 * Screenshots go to docs/screenshots/ with IFPRUNE_SCREENSHOTS=1. Chromium runs relaxed SIMD by default:
 * the bundle's 'auto' picks the relaxed build, which generates the SIMD build's ids on a Q4_0 model.
 */
import { test, suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { startServer } from '../examples/web/serve.mjs';
import { CASES, DEMO, SAMPLED, nodeText, type EdgeCase } from './edge-harness.ts';
import { cachedSource, type CacheLike } from '../src/sources/cache.ts';
import { memorySource } from '../src/sources/memory.ts';
import { assertThrowsCode } from './helpers.ts';
import { open as openNode } from '../src/platform/node.ts';
import { makeRandomModel } from '../tools/random-model.ts';

const CHROMIUM = '/usr/bin/chromium';
// PLATFORMS.md / env notes; playwright adds --headless and a fresh temporary --user-data-dir itself.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const VIEWS: { name: string; context: BrowserContextOptions; touch: boolean }[] = [
  { name: 'desktop', context: { viewport: { width: 1280, height: 900 } }, touch: false },
  { name: 'mobile', context: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }, touch: true },
];

// The page imports the shipped web bundle, /dist/web/index.js (import map in index.html); npm run build makes it.

async function generate(page: Page, c: EdgeCase, touch: boolean): Promise<string> {
  await page.selectOption('#model', `../../${c.model}`);
  await page.fill('#prompt', c.prompt);
  await page.fill('#density', String(c.opts.density ?? 1));
  await page.fill('#max-tokens', String(c.opts.maxTokens));
  if (touch) await page.tap('#generate');
  else await page.click('#generate');
  await page.waitForSelector('body[data-state=done], body[data-state=error]', { timeout: 60_000 });
  const state = await page.getAttribute('body', 'data-state');
  assert.is(state, 'done', `${c.label}: ${await page.textContent('#status')}`);
  return (await page.textContent('#output')) ?? '';
}

/** Bytes of `path` the server sent in answer to Range GETs, from its log. */
function rangeBytes(log: string[], path: string): number {
  return log
    .filter((l) => l.startsWith(`GET /${path} bytes=`))
    .reduce((n, l) => {
      const [a, b] = l.slice(l.indexOf('bytes=') + 6).split('-').map(Number);
      return n + b! - a! + 1;
    }, 0);
}

// ---
const web = suite('web page');
let browser: Browser;
let server: Awaited<ReturnType<typeof startServer>>;
const expected = new Map<EdgeCase, string>();
/** A random-weight Q4_0 model (served at /q4/) and Node's greedy ids for it on the SIMD build. */
const Q4_DIR = mkdtempSync(join(tmpdir(), 'ifprune-web-q4-'));
const Q4_PROMPT = 'The relaxed dot';
const q4Ids: number[] = [];

web.before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  for (const c of CASES) expected.set(c, await nodeText(c));
  const q4 = join(Q4_DIR, 'random-q4_0.gguf');
  writeFileSync(q4, await makeRandomModel({ dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 352, vocabSize: 512, type: 'q4_0', seed: 11 }));
  const m = await openNode(q4, { kernels: 'simd' });
  for await (const t of m.generate(Q4_PROMPT, { maxTokens: 24, temperature: 0 })) q4Ids.push(t.id);
  await m.close();
  server = await startServer({ root: process.cwd(), mounts: { '/q4/': Q4_DIR } });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});

web.after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(Q4_DIR, { recursive: true, force: true });
});

for (const view of VIEWS) {
  web(`${view.name}: typed prompts give Node's greedy text, dense and at density 0.5; the model is read by Range only`, async () => {
    const context = await browser.newContext(view.context);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`${server.url}examples/web/`);
      assert.not.ok(await page.evaluate(() => crossOriginIsolated), 'the page needs no cross-origin isolation');
      server.log.length = 0;
      for (const c of CASES) {
        assert.is(await generate(page, c, view.touch), expected.get(c), `${view.name}: ${c.label}`);
        if (c.model === DEMO && c.opts.density === 0.5) {
          // ifp-demo's first run, at density 0.5: the core and half the FFN, not the whole file.
          const read = rangeBytes(server.log, DEMO);
          assert.ok(read > 0 && read < statSync(DEMO).size, `read ${read} of ${statSync(DEMO).size} bytes`);
        }
      }
      const modelGets = server.log.filter((l) => l.startsWith('GET /models/'));
      assert.ok(modelGets.length > 0 && modelGets.every((l) => / bytes=\d+-\d+$/.test(l)), `every model GET is a Range request: ${modelGets.slice(0, 3)}`);
      assert.ok(Number(await page.textContent('#s-requests')) > 0, 'the page shows its requests');
      // IFPRUNE_SCREENSHOTS=1 refreshes the committed docs/screenshots; other runs keep theirs in a temp folder.
      const shots = process.env.IFPRUNE_SCREENSHOTS ? 'docs/screenshots' : mkdtempSync(join(tmpdir(), 'ifprune-shots-'));
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, `web-${view.name}.png`), fullPage: view.name === 'mobile' });

      // Reload: the same generation is served from the Cache API (only the HEAD that opens the source).
      await page.reload();
      server.log.length = 0;
      const c = CASES.find((c) => c.model === DEMO && c.opts.density === 0.5)!;
      assert.is(await generate(page, c, view.touch), expected.get(c), `${view.name}: ${c.label} after reload`);
      assert.equal(server.log.filter((l) => l.startsWith('GET /models/')), [], 'after a reload the model comes from the Cache API');
      assert.match((await page.textContent('#s-cache')) ?? '', /KiB|MiB/);
      assert.equal(errors, []);
    } finally {
      await context.close();
    }
  });
}

web('seeded sampling in the page (the shipped web bundle) gives Node\'s tokens', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}examples/web/`);
    for (const c of SAMPLED) {
      const text = await page.evaluate(async ({ model, prompt, opts }) => {
        const { open, httpSource, loadRuntime } = await import('/dist/web/index.js' as string);
        const m = await open(await httpSource(new URL(`/${model}`, location.href)), { module: await loadRuntime(), ffn: 'auto' });
        let out = '';
        for await (const t of m.generate(prompt, opts)) out += t.text;
        await m.close();
        return out;
      }, c);
      assert.is(text, await nodeText(c), c.label);
    }
  } finally {
    await page.close();
  }
});

web('auto picks the relaxed build (the probe passes in Chromium) and it generates the SIMD build\'s ids on a Q4_0 model', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}examples/web/`);
    const got = await page.evaluate(async (prompt) => {
      const { open, httpSource, loadRuntime, capabilities } = await import('/dist/web/index.js' as string);
      const ids: Record<string, number[]> = {};
      for (const kernels of ['auto', 'simd']) {
        const m = await open(await httpSource(new URL('/q4/random-q4_0.gguf', location.href)), { module: await loadRuntime(kernels) });
        ids[kernels] = [];
        for await (const t of m.generate(prompt, { maxTokens: 24, temperature: 0 })) ids[kernels]!.push(t.id);
        await m.close();
      }
      return { relaxedSimd: capabilities.relaxedSimd as boolean, autoIsRelaxed: (await loadRuntime('auto')) === (await loadRuntime('relaxed')), ids };
    }, Q4_PROMPT);
    assert.is(got.relaxedSimd, true);
    assert.is(got.autoIsRelaxed, true);
    assert.equal(got.ids.simd, q4Ids);
    assert.equal(got.ids.auto, q4Ids);
  } finally {
    await page.close();
  }
});

web('threads: 2 on a cross-origin isolated page (a Web Worker on the shared memory) gives the ids of one thread; without isolation it is unsupported', async () => {
  const isolated = await startServer({ root: process.cwd(), isolated: true });
  const page = await browser.newPage();
  try {
    await page.goto(`${isolated.url}examples/web/`);
    assert.is(await page.evaluate(() => crossOriginIsolated), true);
    const got = await page.evaluate(async (model) => {
      const { open } = await import('/dist/web/index.js' as string);
      const prompt = 'def main(argv):\n    parser = argparse.ArgumentParser(description="count the lines of every file")\n';
      const ids: Record<string, number[]> = {};
      for (const threads of [1, 2]) {
        const m = await open(new URL(model, location.href).href, { threads });
        ids[threads] = [];
        for await (const t of m.generate(prompt, { maxTokens: 16, temperature: 0 })) ids[threads]!.push(t.id);
        await m.close();
      }
      return ids;
    }, '/' + DEMO);
    assert.ok(got[1]!.length === 16, `16 ids: ${got[1]}`);
    assert.equal(got[2], got[1]);
  } finally {
    await page.close();
    await isolated.close();
  }
  const plain = await browser.newPage();
  try {
    await plain.goto(`${server.url}examples/web/`);
    const code = await plain.evaluate(async (model) => {
      const { open } = await import('/dist/web/index.js' as string);
      return open(new URL(model, location.href).href, { threads: 2 }).then(() => 'opened', (e: { code?: string }) => e.code);
    }, '/' + DEMO);
    assert.is(code, 'unsupported');
  } finally {
    await plain.close();
  }
});

web('a model URL that does not exist shows the not_found error on the page', async () => {
  const page = await browser.newPage();
  try {
    await page.goto(`${server.url}examples/web/?model=../../models/missing.gguf`);
    await page.click('#generate');
    await page.waitForSelector('body[data-state=error]', { timeout: 30_000 });
    assert.match((await page.textContent('#status')) ?? '', /^not_found: .*missing\.gguf was not found/);
  } finally {
    await page.close();
  }
});

web.run();

// ---
const cs = suite('cachedSource');

/** A Cache API stand-in over a Map (what the page gets from `caches.open`). */
function mapCache(failPuts = false): CacheLike & { store: Map<string, Uint8Array> } {
  const store = new Map<string, Uint8Array>();
  return {
    store,
    match: async (r) => (store.has(r.url) ? new Response(store.get(r.url)!.slice()) : undefined),
    put: async (r, res) => {
      if (failPuts) throw new DOMException('quota exceeded', 'QuotaExceededError');
      store.set(r.url, new Uint8Array(await res.arrayBuffer()));
    },
  };
}

cs('caches exactly the ranges read; a second source over the same cache reads nothing from the network', async () => {
  const bytes = new Uint8Array(100_000).map((_, i) => (i * 7) % 251);
  const cache = mapCache();
  const a = cachedSource(memorySource(bytes, 'm'), cache, { key: 'https://x.test/m.gguf' });
  const t1 = new Uint8Array(1000);
  const t2 = new Uint8Array(500);
  await a.readRanges([{ offset: 10, length: 1000, target: t1 }, { offset: 50_000, length: 500, target: t2 }]);
  assert.equal([...t1], [...bytes.subarray(10, 1010)]);
  assert.is(a.stats().bytesFetched, 1500);
  // Overlapping the cached ranges: only the uncovered bytes are fetched.
  const t3 = new Uint8Array(2000);
  await a.readInto(0, t3);
  assert.equal([...t3], [...bytes.subarray(0, 2000)]);
  assert.is(a.stats().bytesFetched, 1500 + 10 + 990);
  const b = cachedSource(memorySource(bytes, 'm'), cache, { key: 'https://x.test/m.gguf' });
  const t4 = new Uint8Array(1800);
  await b.readInto(100, t4);
  assert.equal([...t4], [...bytes.subarray(100, 1900)]);
  assert.is(b.stats().bytesFetched, 0);
  // Another version of the file (size differs) shares nothing.
  const c = cachedSource(memorySource(bytes.subarray(0, 99_999), 'm'), cache, { key: 'https://x.test/m.gguf' });
  await c.readInto(100, new Uint8Array(10));
  assert.is(c.stats().bytesFetched, 10);
});

cs('a cache that refuses stores still gives the right bytes, counted as cache errors', async () => {
  const bytes = new Uint8Array(5000).map((_, i) => i & 255);
  const src = cachedSource(memorySource(bytes), mapCache(true));
  const t = new Uint8Array(300);
  await src.readInto(4000, t);
  assert.equal([...t], [...bytes.subarray(4000, 4300)]);
  assert.ok(src.stats().cacheErrors > 0);
  await assertThrowsCode(() => src.readInto(4900, new Uint8Array(200)), 'truncated');
});

cs('a value that is not a Cache, or a key that is not a URL, is bad_option', async () => {
  await assertThrowsCode(() => cachedSource(memorySource(new Uint8Array(4)), {} as CacheLike), 'bad_option');
  await assertThrowsCode(() => cachedSource(memorySource(new Uint8Array(4)), mapCache(), { key: 'not a url' }), 'bad_option');
});

cs.run();
