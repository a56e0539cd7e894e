#!/usr/bin/env node
// Builds the npm package's dist/ from src/ and build/*.wasm (run after tools/build.mjs; `npm run build`
// runs both):
//
//   dist/node/index.js, cli.js (+ chunks)   Node: the API (src/platform/node.ts) and the CLI (src/cli/main.ts),
//                                           sharing chunks; ifprune.*.wasm and kernels.*.wasm beside them
//   dist/deno/index.js                      Deno (src/platform/deno.ts): `import source` of ifprune.*.wasm beside it
//   dist/worker/index.js                    workerd (src/platform/worker.ts): `import runtime from './ifprune.simd.wasm'`
//                                           (the SIMD build only: workerd cannot run the relaxed probe, worker.ts)
//   dist/web/index.js                       browsers (src/platform/web.ts): fetches ifprune.*.wasm beside it
//   dist/types/                             .d.ts of every entry point (tsc, tsconfig.build.json)
//
// Each bundle is one ESM file holding every dependency (the package has no runtime dependencies);
// node: built-ins stay imports (Node, Deno). A .wasm import in the sources (../../build/X.wasm) becomes
// an import of ./X.wasm, a copy of which sits beside the bundle.
//
// Usage: node tools/bundle.mjs [--force]. Skips the work when every output is newer than every input
// (src/, build/ifprune.*.wasm and kernels.*.wasm, package.json, the tsconfigs and this script).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const force = process.argv.includes('--force');

const RUNTIME_WASM = ['ifprune.relaxed.wasm', 'ifprune.simd.wasm', 'ifprune.scalar.wasm'];
const KERNEL_WASM = ['kernels.relaxed.wasm', 'kernels.simd.wasm', 'kernels.scalar.wasm'];
/** threads: 2 (src/threads.ts): the runtime on a shared memory and its worker's kernels. */
const THREAD_WASM = ['ifprune.threads.wasm', 'kernels.threads.wasm'];

/** One bundle per platform: esbuild options, and the wasm files that go beside it. */
const TARGETS = {
  node: {
    options: {
      entryPoints: { index: 'src/platform/node.ts', cli: 'src/cli/main.ts' },
      outdir: 'dist/node',
      platform: 'node',
      target: 'node20',
      splitting: true,
    },
    wasm: [...RUNTIME_WASM, ...KERNEL_WASM, ...THREAD_WASM],
  },
  deno: {
    options: { entryPoints: { index: 'src/platform/deno.ts' }, outdir: 'dist/deno', platform: 'neutral', target: 'esnext', conditions: ['deno', 'import'] },
    wasm: [...RUNTIME_WASM, ...THREAD_WASM],
  },
  worker: {
    options: { entryPoints: { index: 'src/platform/worker.ts' }, outdir: 'dist/worker', platform: 'neutral', target: 'es2022', conditions: ['workerd', 'worker', 'browser', 'import'] },
    wasm: ['ifprune.simd.wasm'],
  },
  web: {
    options: { entryPoints: { index: 'src/platform/web.ts' }, outdir: 'dist/web', platform: 'browser', target: 'es2022' },
    wasm: [...RUNTIME_WASM, ...THREAD_WASM],
  },
};

/** `import x from '…/X.wasm'` (and `import source`) → an external import of ./X.wasm beside the bundle. */
const wasmBeside = {
  name: 'wasm-beside',
  setup(b) {
    b.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: `./${basename(args.path)}`, external: true }));
  },
};

// ---------------------------------------------------------------------------------------------------
// Up to date?

function newest(path, t = 0) {
  const st = statSync(path);
  if (!st.isDirectory()) return Math.max(t, st.mtimeMs);
  for (const e of readdirSync(path)) t = newest(join(path, e), t);
  return t;
}

function oldest(path, t = Infinity) {
  if (!existsSync(path)) return -Infinity;
  const st = statSync(path);
  if (!st.isDirectory()) return Math.min(t, st.mtimeMs);
  for (const e of readdirSync(path)) t = oldest(join(path, e), t);
  return t;
}

const inputs = [
  'src',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'tools/bundle.mjs',
  ...[...RUNTIME_WASM, ...KERNEL_WASM].map((w) => join('build', w)),
];
for (const w of [...RUNTIME_WASM, ...KERNEL_WASM]) {
  if (!existsSync(join(root, 'build', w))) {
    process.stderr.write(`bundle: build/${w} is missing; run \`node tools/build.mjs\` (or \`npm run build\`) first\n`);
    process.exit(1);
  }
}
const outputs = [...Object.keys(TARGETS).map((t) => join(dist, t)), join(dist, 'types')];
const inputTime = Math.max(...inputs.map((p) => newest(join(root, p))));
const outputTime = Math.min(...outputs.map((p) => oldest(p)));
if (!force && outputTime > inputTime) process.exit(0);

// ---------------------------------------------------------------------------------------------------
// Bundles

rmSync(dist, { recursive: true, force: true });
const t0 = performance.now();
await Promise.all(
  Object.entries(TARGETS).map(async ([name, t]) => {
    await build({
      absWorkingDir: root,
      bundle: true,
      format: 'esm',
      external: ['node:*'],
      plugins: [wasmBeside],
      legalComments: 'none',
      logLevel: 'warning',
      // Chunks beside the entry points: code that finds files relative to itself (the wasm modules,
      // package.json) works from any of them.
      chunkNames: '[name]-[hash]',
      ...t.options,
    });
    for (const w of t.wasm) copyFileSync(join(root, 'build', w), join(dist, name, w));
  }),
);

// ---------------------------------------------------------------------------------------------------
// Types: tsc writes .d.ts that import '../x.ts'; consumers resolve '../x.js' to '../x.d.ts' without
// any option, so the extensions are rewritten.

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write('bundle: tsc (declarations) failed\n');
  process.exit(1);
}
const rewrite = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) rewrite(p);
    else if (p.endsWith('.d.ts')) {
      const s = readFileSync(p, 'utf8');
      const r = s.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)\.ts(['"])/g, '$1$2.js$3');
      if (r !== s) writeFileSync(p, r);
    }
  }
};
rewrite(join(dist, 'types'));
// deno-wasm.js has its own hand-written declaration; tsc does not copy it.
copyFileSync(join(root, 'src/platform/deno-wasm.d.ts'), join(dist, 'types/platform/deno-wasm.d.ts'));

const size = (d) => readdirSync(d, { recursive: true }).reduce((s, f) => s + (statSync(join(d, f)).isFile() ? statSync(join(d, f)).size : 0), 0);
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
process.stdout.write(
  `bundle: ${Object.keys(TARGETS).map((t) => `${relative(root, join(dist, t))} ${kib(size(join(dist, t)))}`).join(', ')}, types; ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
);
