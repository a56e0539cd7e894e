#!/usr/bin/env node
// Runs a WASI command with node:wasi, as `wasmtime run` would:
//
//   node tools/wasi-node.mjs [--dir=D]... FILE.wasm ARGS...
//
// Each --dir=D (or --dir D) preopens directory D with the guest path equal to the host path; stdout and
// stderr are the process's, there is no stdin, and the exit status is the command's. A wasm trap prints
// `wasm trap: ...` on stderr and exits 134 (as tools/wasi-run.py and the wasmtime CLI). Node 20 marks
// WASI experimental; that one warning is silenced, every other warning still prints.
import { readFile } from 'node:fs/promises';

const EXIT_TRAP = 134;

const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type ?? warning?.name;
  if (type === 'ExperimentalWarning' && /WASI/.test(String(warning?.message ?? warning))) return;
  return emitWarning.call(process, warning, ...rest);
};
const { WASI } = await import('node:wasi');

const argv = process.argv.slice(2);
const dirs = [];
let i = 0;
for (; i < argv.length && argv[i].startsWith('--dir'); i++) {
  if (argv[i] === '--dir') dirs.push(argv[++i]);
  else if (argv[i].startsWith('--dir=')) dirs.push(argv[i].slice('--dir='.length));
  else break;
}
const [wasm, ...args] = argv.slice(i);
if (!wasm || dirs.some((d) => !d)) {
  process.stderr.write('usage: node tools/wasi-node.mjs [--dir=D]... FILE.wasm ARGS...\n');
  process.exit(2);
}

const wasi = new WASI({
  version: 'preview1',
  args: [wasm, ...args],
  env: {},
  preopens: Object.fromEntries(dirs.map((d) => [d, d])),
  returnOnExit: true,
});
let code;
try {
  const module = await WebAssembly.compile(await readFile(wasm));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  code = wasi.start(instance);
} catch (e) {
  process.stderr.write(`wasm trap: ${e?.message ?? e}\n`);
  code = EXIT_TRAP;
}
process.exitCode = code;
