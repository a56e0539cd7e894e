/**
 * The npm package as users get it: `npm pack` (after tools/bundle.mjs has brought dist/ up to date),
 * the tarball installed offline into a fresh temporary project, then plain `node` (no tsx) imports
 * 'ifprune' and generates from the repository's stories260K; the packed CLI runs through `npx ifprune`;
 * Deno resolves the same install to its own bundle (the `deno` export condition); and the shipped
 * .d.ts type-check a consumer under `moduleResolution: nodenext`. Everything must equal the greedy ids
 * of the API run from source in this process.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/platform/node.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STORIES = join(ROOT, 'models/stories260K/stories260K.gguf');
const PROMPT = 'Once upon a time';
const TMP = mkdtempSync(join(tmpdir(), 'ifprune-pack-'));
const PROJECT = join(TMP, 'project');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const DENO = join(ROOT, 'node_modules/.bin/deno');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** Runs a command; fails the test with its output when it exits non-zero. */
function sh(cmd: string, args: string[], cwd: string, timeoutMs = 60_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, FORCE_COLOR: '0', IFPRUNE_BUNDLED: '', npm_config_loglevel: 'error' } });
  if (r.status !== 0) assert.unreachable(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}\n${r.error ?? ''}`);
  return r;
}

/** The API from source, in this process: what every packaged run must reproduce. */
async function expected(): Promise<{ ids: number[]; text: string }> {
  const m = await open(STORIES);
  const ids: number[] = [];
  let text = '';
  for await (const t of m.generate(PROMPT, { temperature: 0, maxTokens: 24 })) ids.push(t.id), (text += t.text);
  await m.close();
  return { ids, text };
}

const CONSUMER = `import { open, getRuntimeKey } from 'ifprune';
const m = await open(process.argv[2] ?? Deno.args[0]);
const ids = [];
let text = '';
for await (const t of m.generate(${JSON.stringify(PROMPT)}, { temperature: 0, maxTokens: 24 })) ids.push(t.id), (text += t.text);
await m.close();
console.log(JSON.stringify({ runtime: getRuntimeKey(), ids, text, entry: import.meta.resolve('ifprune') }));
`;

const TYPED = `import { open, httpSource, IfpruneError, capabilities, type Model, type Token } from 'ifprune';
const m: Model = await open('model.gguf', { ffn: 'auto', density: undefined } as { ffn: 'auto' });
const remote: Model = await open(await httpSource('https://example.com/model.gguf'), { kernels: 'simd' });
const fast: Model = await open('model.gguf', { kernels: 'relaxed' });
const relaxed: boolean = capabilities.relaxedSimd;
for await (const t of m.generate('hi', { maxTokens: 3, temperature: 0 })) { const token: Token = t; void token; }
const simd: boolean = capabilities.simd;
// @ts-expect-error: the types are real, not any: a Model is not a number
const wrong: number = remote;
// @ts-expect-error: kernels names a build
await open('model.gguf', { kernels: 'gpu' });
void simd, wrong, fast, relaxed, new IfpruneError('bad_option', 'x');
`;

// ---
const pack = suite('npm pack');

let tarball = '';
pack('the tarball holds the bundles, the wasm beside each, the types and the bin, and no sources', () => {
  sh(process.execPath, [join(ROOT, 'tools/bundle.mjs')], ROOT, 120_000);
  const r = sh(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', TMP], ROOT);
  const info = JSON.parse(r.stdout)[0] as { filename: string; size: number; files: { path: string }[] };
  tarball = join(TMP, info.filename);
  const files = new Set(info.files.map((f) => f.path));
  for (const f of [
    'bin/ifprune.js', 'package.json', 'dist/node/index.js', 'dist/node/cli.js', 'dist/node/ifprune.simd.wasm', 'dist/node/ifprune.scalar.wasm',
    'dist/node/ifprune.relaxed.wasm', 'dist/node/kernels.simd.wasm', 'dist/node/kernels.relaxed.wasm', 'dist/deno/index.js', 'dist/deno/ifprune.simd.wasm',
    'dist/deno/ifprune.relaxed.wasm', 'dist/worker/index.js', 'dist/worker/ifprune.simd.wasm', 'dist/web/index.js', 'dist/web/ifprune.simd.wasm',
    'dist/web/ifprune.scalar.wasm', 'dist/web/ifprune.relaxed.wasm', 'dist/types/platform/node.d.ts', 'dist/types/platform/worker.d.ts',
  ]) {
    assert.ok(files.has(f), `${f} in the tarball`);
  }
  assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('models/')), 'no sources, tests or models');
  assert.not.ok(files.has('dist/worker/ifprune.relaxed.wasm'), 'the Worker bundle ships the SIMD build only (src/platform/worker.ts)');
  assert.ok(info.size < 4 << 20, `tarball ${info.size} bytes`);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: object };
  assert.equal(Object.keys(pkg.dependencies ?? {}), [], 'no runtime dependencies: they are bundled');
});

pack('installs offline into a fresh project', () => {
  mkdirSync(PROJECT);
  writeFileSync(join(PROJECT, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  sh(NPM, ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], PROJECT);
  assert.ok(existsSync(join(PROJECT, 'node_modules/ifprune/dist/node/index.js')));
  assert.not.ok(existsSync(join(PROJECT, 'node_modules/tsx')), 'tsx is not installed with it');
  writeFileSync(join(PROJECT, 'generate.mjs'), CONSUMER);
  writeFileSync(join(PROJECT, 'typed.ts'), TYPED);
});

pack.run();

// ---
const use = suite('the installed package');
use.after(() => rmSync(TMP, { recursive: true, force: true }));

use('plain node imports ifprune (the node bundle) and generates the greedy text of the API', async () => {
  const want = await expected();
  const r = sh(process.execPath, ['generate.mjs', STORIES], PROJECT);
  const got = JSON.parse(r.stdout);
  assert.is(got.runtime, 'node');
  assert.match(got.entry, /node_modules\/ifprune\/dist\/node\/index\.js$/);
  assert.equal(got.ids, want.ids);
  assert.is(got.text, want.text);
  assert.is(r.stderr, '');
});

use('npx ifprune run works from the packed CLI bundle', async () => {
  const want = await expected();
  const r = sh('npx', ['--no-install', 'ifprune', 'run', '-m', STORIES, '-p', PROMPT, '-n', '24', '--temperature', '0', '--json'], PROJECT);
  const got = JSON.parse(r.stdout);
  assert.equal(got.ids, want.ids);
  assert.is(got.text, want.text);
  const v = sh('npx', ['--no-install', 'ifprune', '--version'], PROJECT);
  assert.is(v.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

use('deno resolves the same install to the deno bundle and generates the same ids with --allow-read of the model only', async () => {
  if (!existsSync(DENO)) return console.log('  (skipped: no deno in node_modules/.bin)');
  const want = await expected();
  const r = sh(DENO, ['run', `--allow-read=${join(ROOT, 'models')}`, 'generate.mjs', STORIES], PROJECT);
  const got = JSON.parse(r.stdout);
  assert.is(got.runtime, 'deno');
  assert.match(got.entry, /node_modules\/ifprune\/dist\/deno\/index\.js$/);
  assert.equal(got.ids, want.ids);
});

use('the shipped .d.ts type-check a consumer (nodenext, strict, no @types/node)', () => {
  writeFileSync(
    join(PROJECT, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: [], noEmit: true }, files: ['typed.ts'] }),
  );
  sh(process.execPath, [TSC, '-p', 'tsconfig.json'], PROJECT);
});

use.run();
