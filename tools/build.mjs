#!/usr/bin/env node
// Builds the kernel modules: build/kernels.simd.wasm (wasm SIMD128) and build/kernels.scalar.wasm
// (the fallback for runtimes without SIMD), both from assembly/index.ts (asconfig.json targets).
// Skips a target whose output is newer than every file in assembly/ and asconfig.json.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const targets = ['simd', 'scalar'];
const force = process.argv.includes('--force');

function newestInput() {
  let t = statSync(join(root, 'asconfig.json')).mtimeMs;
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

function run(target) {
  return new Promise((resolve, reject) => {
    const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
    const p = spawn(process.execPath, [asc, '--config', 'asconfig.json', '--target', target], { cwd: root, stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`asc --target ${target} failed (exit ${code})`))));
  });
}

mkdirSync(join(root, 'build'), { recursive: true });
const inputTime = newestInput();
const stale = targets.filter((t) => {
  const out = join(root, 'build', `kernels.${t}.wasm`);
  return force || !existsSync(out) || statSync(out).mtimeMs < inputTime;
});
try {
  await Promise.all(stale.map(run));
  if (stale.length) process.stderr.write(`built ${stale.map((t) => `build/kernels.${t}.wasm`).join(', ')}\n`);
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
}
