#!/usr/bin/env node
/**
 * Runs the Worker locally in workerd (through miniflare, from npm) with a local R2 bucket seeded with a
 * model file: the same thing `wrangler dev` does, without wrangler or an account. The test
 * (test/worker.test.ts) uses startWorker(); run it by hand with
 *
 *   node examples/worker/local.mjs [MODEL.gguf] [--port 8787]
 *   curl -s localhost:8787/v1/completions -d '{"prompt":"def main(argv):","max_tokens":40,"temperature":0,"density":0.5}'
 *
 * The worker source is bundled with esbuild as wrangler would (the .wasm import stays an import, and
 * the file is handed to workerd as a CompiledWasm module).
 */
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Bundles examples/worker/src/index.ts: returns the worker's JS and the wasm modules it imports. */
export async function bundleWorker() {
  const wasm = new Map(); // basename → absolute path
  const out = mkdtempSync(join(tmpdir(), 'ifprune-worker-'));
  try {
    await build({
      entryPoints: [join(here, 'src', 'index.ts')],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      outfile: join(out, 'worker.js'),
      logLevel: 'error',
      plugins: [
        {
          name: 'wasm-module',
          setup(b) {
            b.onResolve({ filter: /\.wasm$/ }, (a) => {
              const abs = resolve(a.resolveDir, a.path);
              wasm.set(basename(abs), abs);
              return { path: `./${basename(abs)}`, external: true };
            });
          },
        },
      ],
    });
    return { script: readFileSync(join(out, 'worker.js'), 'utf8'), wasm };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * Starts the worker in workerd with R2 bucket MODELS holding `models` (key → bytes) and serving
 * `modelKey`. Returns the Miniflare instance (dispatchFetch, getR2Bucket, dispose) and its URL.
 */
export async function startWorker({ models, modelKey, memoryBudget, contextLength, port, inspectorPort } = {}) {
  const { script, wasm } = await bundleWorker();
  const mf = new Miniflare({
    modules: [
      { type: 'ESModule', path: 'worker.js', contents: script },
      ...[...wasm].map(([name, path]) => ({ type: 'CompiledWasm', path: name, contents: readFileSync(path) })),
    ],
    compatibilityDate: '2025-09-01',
    r2Buckets: ['MODELS'],
    bindings: { MODEL_KEY: modelKey, ...(memoryBudget ? { MEMORY_BUDGET: String(memoryBudget) } : {}), ...(contextLength ? { CONTEXT_LENGTH: String(contextLength) } : {}) },
    ...(port !== undefined ? { host: '127.0.0.1', port } : {}),
    ...(inspectorPort !== undefined ? { inspectorPort } : {}),
  });
  const url = await mf.ready;
  const bucket = await mf.getR2Bucket('MODELS');
  for (const [key, bytes] of Object.entries(models)) await bucket.put(key, bytes);
  return { mf, url };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const p = args.indexOf('--port');
  const port = p >= 0 ? Number(args.splice(p, 2)[1]) : 8787;
  const file = args[0] ?? join(here, '..', '..', 'models', 'ifp-demo', 'ifp-demo.q8_0.gguf');
  const key = basename(file);
  const { url } = await startWorker({ models: { [key]: readFileSync(file) }, modelKey: key, port });
  console.log(`worker serving r2://${key} at ${url} (Ctrl-C stops)`);
}
