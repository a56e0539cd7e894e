#!/usr/bin/env node
// Builds the wasm modules from assembly/ (one AssemblyScript source tree, several builds):
//   kernels.{relaxed,simd,scalar}.wasm   the flat kernel ABI alone (stub runtime; kernel tests and benchmarks)
//   ifprune.{relaxed,simd,scalar}.wasm   the whole sans-I/O runtime for JS hosts (assembly/runtime.ts)
//                                    relaxed = SIMD plus relaxed SIMD (docs/relaxed-simd.md); asc optimizes with
//                                    the binaryen it bundles (Debian's wasm-opt cannot parse relaxed SIMD)
//   ifprune.threads.wasm, kernels.threads.wasm   the runtime on a shared memory and its worker's kernels
//                                    (assembly/rt/parallel.ts; Node's open({ threads: 2 }))
//   ifprune.wasi.wasm, ifprune.wasi.scalar.wasm   the WASI command (assembly/wasi/main.ts)
//   rt-test-PART.wasm                one runtime part plus its test-only exports (assembly/rt/testing/PART.ts),
//                                    which test/rt-PART.test.ts holds to the TypeScript oracles
// Usage: node tools/build.mjs [--force] [TARGET...]   (default: every target). Skips a target whose
// output is newer than every file in assembly/, this script and asconfig.json.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const wasiShim = join('node_modules', '@assemblyscript', 'wasi-shim', 'asconfig.json');
const RUNTIME = ['--runtime', 'incremental', '-O3', '--noAssert'];
const RELAXED = ['--enable', 'simd', '--enable', 'relaxed-simd'];
const THREADS = ['--enable', 'threads', '--importMemory', '--sharedMemory', '--maximumMemory', '65536'];

/** name → output file and asc arguments. */
const TARGETS = {
  'kernels.simd': { out: 'build/kernels.simd.wasm', args: ['--config', 'asconfig.json', '--target', 'simd'] },
  'kernels.relaxed': { out: 'build/kernels.relaxed.wasm', args: ['--config', 'asconfig.json', '--target', 'simd', ...RELAXED, '-o', 'build/kernels.relaxed.wasm', '-t', 'build/kernels.relaxed.wat'] },
  'kernels.scalar': { out: 'build/kernels.scalar.wasm', args: ['--config', 'asconfig.json', '--target', 'scalar'] },
  'ifprune.simd': { out: 'build/ifprune.simd.wasm', args: ['assembly/runtime.ts', ...RUNTIME, '--enable', 'simd', '-o', 'build/ifprune.simd.wasm'] },
  'ifprune.relaxed': { out: 'build/ifprune.relaxed.wasm', args: ['assembly/runtime.ts', ...RUNTIME, ...RELAXED, '-o', 'build/ifprune.relaxed.wasm'] },
  'ifprune.scalar': { out: 'build/ifprune.scalar.wasm', args: ['assembly/runtime.ts', ...RUNTIME, '-o', 'build/ifprune.scalar.wasm'] },
  // threads: the runtime on an imported shared memory, its statics above 64 KiB, and the kernel module its
  // worker instantiates on that memory, whose statics stay below (assembly/rt/parallel.ts)
  'ifprune.threads': { out: 'build/ifprune.threads.wasm', args: ['assembly/runtime.ts', ...RUNTIME, '--enable', 'simd', ...THREADS, '--memoryBase', '65536', '-o', 'build/ifprune.threads.wasm'] },
  'kernels.threads': { out: 'build/kernels.threads.wasm', args: ['--config', 'asconfig.json', '--target', 'simd', ...THREADS, '-o', 'build/kernels.threads.wasm', '-t', 'build/kernels.threads.wat'] },
  'ifprune.wasi': { out: 'build/ifprune.wasi.wasm', args: ['assembly/wasi/main.ts', '--config', wasiShim, ...RUNTIME, '--enable', 'simd', '-o', 'build/ifprune.wasi.wasm'] },
  'ifprune.wasi.scalar': { out: 'build/ifprune.wasi.scalar.wasm', args: ['assembly/wasi/main.ts', '--config', wasiShim, ...RUNTIME, '-o', 'build/ifprune.wasi.scalar.wasm'] },
};
/** rt-test:PART builds assembly/rt/testing/PART.ts alone into build/rt-test-PART.wasm. */
const testTarget = (part) => ({ out: `build/rt-test-${part}.wasm`, args: [`assembly/rt/testing/${part}.ts`, ...RUNTIME, '--enable', 'simd', '-o', `build/rt-test-${part}.wasm`] });
for (const part of ['formats', 'tokenizer', 'sampler', 'engine', 'pruning']) TARGETS[`rt-test:${part}`] = testTarget(part);

const argv = process.argv.slice(2);
const force = argv.includes('--force');
const asked = argv.filter((a) => !a.startsWith('--'));
for (const a of asked) {
  if (!TARGETS[a]) {
    process.stderr.write(`unknown build target ${a}; targets: ${Object.keys(TARGETS).join(', ')}\n`);
    process.exit(2);
  }
}

function newestInput() {
  let t = Math.max(statSync(join(root, 'asconfig.json')).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs);
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else t = Math.max(t, statSync(p).mtimeMs);
    }
  };
  walk(join(root, 'assembly'));
  return t;
}

function run(name) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [asc, ...TARGETS[name].args], { cwd: root, stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`asc (${name}) failed (exit ${code})`))));
  });
}

/** Runs at most `n` builds at once (asc is single-threaded; the CI machine has 2 cores). */
async function pool(names, n) {
  const queue = [...names];
  const workers = Array.from({ length: Math.min(n, queue.length) }, async () => {
    while (queue.length) await run(queue.shift());
  });
  await Promise.all(workers);
}

mkdirSync(join(root, 'build'), { recursive: true });
const inputTime = newestInput();
const stale = (asked.length ? asked : Object.keys(TARGETS)).filter((name) => {
  const out = join(root, TARGETS[name].out);
  return force || !existsSync(out) || statSync(out).mtimeMs < inputTime;
});
try {
  await pool(stale, 2);
  if (stale.length) process.stderr.write(`built ${stale.map((t) => TARGETS[t].out).join(', ')}\n`);
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
