/**
 * The `ifprune` command line, run as users run it: `node bin/ifprune.js ...` in a child process, so
 * exit codes, stdout and stderr are the real ones. Parsing and rendering helpers are also tested in
 * process. The run tests hold generation to the golden greedy ids of models/stories260K.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, type CliResult } from './helpers.ts';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, escapeText, formatOptions, intOption, numberOption, parseArgs, type OptionSpec } from '../src/cli/args.ts';
import { formatNumber, formatValue, inspectJson } from '../src/cli/inspect.ts';
import { STORIES_BIN, STORIES_DIR, STORIES_GGUF, TINY, tinySafetensors } from './format-fixtures.ts';
import { writeRandomModel } from '../tools/random-model.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TMP = mkdtempSync(join(tmpdir(), 'ifprune-cli-'));

const cli = runCli;

/** A failure: the given exit status, nothing on stdout, exactly one `ifprune: ...` line on stderr. */
function assertOneLineError(r: CliResult, code: number, mentions: string[]): void {
  assert.is(r.code, code, `exit status; stderr: ${r.stderr}`);
  assert.is(r.stdout, '', 'stdout');
  assert.ok(/^ifprune: [^\n]+\n$/.test(r.stderr), `one stderr line, got: ${JSON.stringify(r.stderr)}`);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `"${m}" in: ${r.stderr}`);
}

// ---
const args = suite('parseArgs');

const SPECS: OptionSpec[] = [
  { name: 'max-tokens', short: 'n', kind: 'string', value: 'N', help: 'count' },
  { name: 'stop', kind: 'string', multiple: true, help: 'stop' },
  { name: 'json', kind: 'boolean', help: 'json' },
];

args('reads long, long=value, short, attached short values, repeats and --', () => {
  const p = parseArgs(['--max-tokens', '5', '--stop=a', '--stop', 'b', '--json', 'x', '--', '--json'], SPECS, 'run');
  assert.is(p.values.get('max-tokens'), '5');
  assert.equal(p.values.get('stop'), ['a', 'b']);
  assert.is(p.values.get('json'), true);
  assert.equal(p.positionals, ['x', '--json']);
  assert.is(parseArgs(['-n20'], SPECS, 'run').values.get('max-tokens'), '20');
  assert.is(parseArgs(['-n=7'], SPECS, 'run').values.get('max-tokens'), '7');
  assert.is(parseArgs(['-n', '-3'], SPECS, 'run').values.get('max-tokens'), '-3', 'a value may start with a dash');
});

args('mistakes are UsageErrors naming the option as typed', () => {
  const err = (argv: string[]) => {
    try {
      parseArgs(argv, SPECS, 'run');
    } catch (e) {
      assert.instance(e, UsageError);
      return (e as UsageError).message;
    }
    throw new Error(`no error for ${argv.join(' ')}`);
  };
  assert.match(err(['--nope']), 'unknown option --nope');
  assert.match(err(['--nope=1']), 'unknown option --nope');
  assert.match(err(['-x']), 'unknown option -x');
  assert.match(err(['-n']), 'option -n needs a value');
  assert.match(err(['--json=yes']), '--json takes no value');
  assert.match(err(['-n', '1', '--max-tokens', '2']), 'given twice');
  assert.match(err(['--nope\x1b[31m']), '\\x1b[31m', 'control characters are escaped');
});

args('numbers are checked for form and range', () => {
  const num = (argv: string[], f: (p: ReturnType<typeof parseArgs>) => unknown) => {
    try {
      return f(parseArgs(argv, SPECS, 'run'));
    } catch (e) {
      assert.instance(e, UsageError);
      return (e as Error).message;
    }
  };
  const int = (v: string) => num(['-n', v], (p) => intOption(p, 'max-tokens', { min: 1 }, 'run'));
  const frac = (v: string) => num(['--max-tokens', v], (p) => numberOption(p, 'max-tokens', { min: 0, minExclusive: true, max: 1 }, 'run'));
  assert.is(int('12'), 12);
  assert.is(int('abc'), '-n must be a whole number; got "abc"');
  assert.is(int('1.5'), '-n must be a whole number; got "1.5"');
  assert.is(int('0'), '-n must be at least 1; got 0');
  assert.is(int('1e400'), '-n must be a whole number; got "1e400"');
  assert.is(frac('0.5'), 0.5);
  assert.is(frac('1'), 1);
  assert.is(frac('.25'), 0.25);
  assert.is(frac('0'), '--max-tokens must be in (0, 1]; got 0');
  assert.is(frac('1.01'), '--max-tokens must be in (0, 1]; got 1.01');
  assert.is(frac('NaN'), '--max-tokens must be a number; got "NaN"');
  assert.is(frac('0x10'), '--max-tokens must be a number; got "0x10"');
  assert.is(num([], (p) => intOption(p, 'max-tokens', {}, 'run')), undefined, 'absent');
});

args('help lines come from the same table', () => {
  const lines = formatOptions(SPECS).split('\n');
  assert.is(lines.length, 3);
  assert.ok(lines[0]!.startsWith('  -n, --max-tokens N'));
  assert.ok(lines[1]!.startsWith('      --stop VALUE'));
  assert.is(escapeText('a\nb\tc\x00\x7f\x9b'), 'a\\nb\\tc\\x00\\x7f\\x9b');
});

args.run();

// ---
const main = suite('main');

main('no arguments prints help on stdout and exits 0', async () => {
  const r = await cli([]);
  assert.is(r.code, 0);
  assert.is(r.stderr, '');
  for (const s of ['Usage:', 'ifprune run', 'ifprune inspect', 'ifprune convert', '--help', '--version']) assert.ok(r.stdout.includes(s), s);
  const h = await cli(['--help']);
  assert.is(h.stdout, r.stdout, '--help prints the same');
});

main('--version prints the package version', async () => {
  const r = await cli(['--version']);
  assert.is(r.code, 0);
  assert.is(r.stdout, `${VERSION}\n`);
});

main('help COMMAND and COMMAND --help print that command\'s options', async () => {
  const a = await cli(['help', 'run']);
  const b = await cli(['run', '--help']);
  assert.is(a.code, 0);
  assert.is(a.stdout, b.stdout);
  for (const s of ['-m, --model', '-p, --prompt', '-n, --max-tokens', '--temperature', '--top-p', '--top-k', '--seed', '--stop', '--kernels', '--context', '--json']) {
    assert.ok(a.stdout.includes(s), s);
  }
  const i = await cli(['inspect', '-h']);
  assert.is(i.code, 0);
  assert.ok(i.stdout.includes('Usage: ifprune inspect MODEL'));
});

main('an unknown command or option is a usage error: exit 2, one line, pointing to --help', async () => {
  assertOneLineError(await cli(['frobnicate']), 2, ['unknown command "frobnicate"', '--help']);
  assertOneLineError(await cli(['--frobnicate']), 2, ['unknown option --frobnicate', '--help']);
  assertOneLineError(await cli(['run', '--frobnicate', '1']), 2, ['unknown option --frobnicate', 'ifprune run --help']);
  assertOneLineError(await cli(['help', 'frobnicate']), 2, ['unknown command']);
});

main('bad run options are usage errors naming the option', async () => {
  const run = (...extra: string[]) => cli(['run', '-m', STORIES_BIN, '-p', 'x', ...extra]);
  assertOneLineError(await run('-n', 'ten'), 2, ['-n must be a whole number', 'ten']);
  assertOneLineError(await run('--temperature', '-0.5'), 2, ['--temperature must be at least 0']);
  assertOneLineError(await run('--top-p', '0'), 2, ['--top-p must be in (0, 1]']);
  assertOneLineError(await run('--kernels', 'gpu'), 2, ['--kernels must be one of auto, relaxed, simd, scalar']);
  assertOneLineError(await run('--stop'), 2, ['--stop needs a value']);
  assertOneLineError(await cli(['run', '-p', 'x']), 2, ['-m MODEL']);
  assertOneLineError(await cli(['run', '-m', STORIES_BIN]), 2, ['-p TEXT']);
  assertOneLineError(await cli(['run', STORIES_BIN]), 2, ['no positional arguments']);
});

main('convert is dispatched to src/cli/convert.ts, or said to be missing', async () => {
  const r = await cli(['convert', '--help']);
  if (r.code === 1) assertOneLineError(r, 1, ['convert is not available in this build']);
  else assert.is(r.code, 0, `convert --help: ${r.stderr}`);
});

main.run();

// ---
const inspect = suite('inspect');

inspect('describes stories260K.bin: config, header fields, tensor table, bytes by type', async () => {
  const r = await cli(['inspect', STORIES_BIN]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '');
  for (const s of ['llama2c', 'dim:              64', 'layers:           5', 'kv heads:         4', 'ffn (hidden dim): 172', 'vocab:            512', 'tied embeddings:  yes', 'sharedClassifier = true']) {
    assert.ok(r.stdout.includes(s), `${s} in:\n${r.stdout}`);
  }
  assert.match(r.stdout, /blk\.0\.ffn_gate\.weight\s+F32\s+64 x 172\s+[\d,]+\s+44,032/);
  assert.match(r.stdout, /total\s+47\s+/);
});

inspect('describes stories260K.gguf with abbreviated arrays; --json parses and has the same tensors', async () => {
  const r = await cli(['inspect', STORIES_GGUF]);
  assert.is(r.code, 0, r.stderr);
  for (const s of ['gguf', 'dim:              64', 'tokenizer.ggml.tokens = [512 strings]', 'tokenizer.ggml.scores = [512 float32]', 'norm eps:         0.00001', 'llama, 512 tokens']) {
    assert.ok(r.stdout.includes(s), `${s} in:\n${r.stdout}`);
  }
  const j = await cli(['inspect', STORIES_GGUF, '--json']);
  assert.is(j.code, 0, j.stderr);
  const o = JSON.parse(j.stdout) as { format: string; config: { dim: number }; tensors: { name: string; bytes: number }[]; metadata: Record<string, unknown>; bytesByType: Record<string, { tensors: number }> };
  assert.is(o.format, 'gguf');
  assert.is(o.config.dim, 64);
  assert.is(o.tensors.length, 48);
  assert.ok(o.tensors.some((t) => t.name === 'blk.4.ffn_down.weight' && t.bytes === 172 * 64 * 4));
  assert.equal(o.metadata['tokenizer.ggml.tokens'], { array: 'string', length: 512 });
  assert.is(o.metadata['llama.block_count'], 5);
  assert.is(o.bytesByType.F32!.tensors, 48);
});

inspect('a safetensors checkpoint reads config.json beside it, and says so when it is missing', async () => {
  const dir = mkdtempSync(join(TMP, 'st-'));
  const st = tinySafetensors(TINY);
  writeFileSync(join(dir, 'model.safetensors'), st.bytes);
  assertOneLineError(await cli(['inspect', join(dir, 'model.safetensors')]), 1, ['config.json', 'model.safetensors']);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(st.config));
  const r = await cli(['inspect', join(dir, 'model.safetensors'), '--json']);
  assert.is(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { format: string; bytesByType: Record<string, unknown>; metadata: Record<string, unknown> };
  assert.is(o.format, 'safetensors');
  assert.ok(o.bytesByType.BF16 && o.bytesByType.F32);
  assert.is(o.metadata.rope_theta, 500000);
});

inspect('a missing file and a file that is not a model: exit 1, one line naming the path', async () => {
  const missing = join(TMP, 'no-such-model.gguf');
  assertOneLineError(await cli(['inspect', missing]), 1, [missing, 'does not exist']);
  const tok = join(STORIES_DIR, 'tok512.bin');
  assertOneLineError(await cli(['inspect', tok]), 1, [tok, 'not a model file']);
  assertOneLineError(await cli(['inspect', STORIES_DIR]), 1, ['not a regular file']);
  assertOneLineError(await cli(['inspect']), 2, ['inspect needs a model file']);
});

inspect('values print abbreviated and escaped; JSON turns bigints into strings', () => {
  assert.is(formatValue(new Float32Array(17)), '[17 float32]');
  assert.is(formatValue(Array(49152).fill('a')), '[49152 strings]');
  assert.is(formatValue(new Int32Array([1, 2, 3])), '[1, 2, 3]');
  assert.is(formatValue('red\x1b[31m "q"'), '"red\\x1b[31m \\"q\\""');
  assert.is(formatValue('x'.repeat(200)), `"${'x'.repeat(120)}"... (200 chars)`);
  assert.is(formatValue(12n), '12');
  assert.is(formatNumber(Math.fround(1e-5)), '0.00001');
  assert.is(formatNumber(Math.fround(0.1)), '0.1');
  assert.is(formatNumber(0.1), '0.1');
  assert.is(formatNumber(1e-6 + 1e-20), String(1e-6 + 1e-20), 'float64 values print in full');
  const j = inspectJson({ metadata: { a: 2n ** 60n, b: new BigInt64Array(20), c: new Uint8Array([1, 2]) } } as never) as { metadata: Record<string, unknown> };
  assert.equal(JSON.parse(JSON.stringify(j.metadata)), { a: '1152921504606846976', b: { array: 'bigint64', length: 20 }, c: [1, 2] });
});

inspect.run();

// ---
// The run tests need the engine (src/platform/node.ts `open`) and build/kernels.*.wasm.

interface GoldenCase {
  prompt: string;
  prompt_ids: number[];
  ids: number[];
  text: string;
}
const golden = JSON.parse(readFileSync(join(STORIES_DIR, 'expected-greedy.json'), 'utf8')) as { cases: GoldenCase[] };
/** The longest case per prompt; 'Once upon a time' is used when the file has it. */
const GOLDEN = [...new Map(golden.cases.sort((a, b) => a.ids.length - b.ids.length).map((c) => [c.prompt, c])).values()];
const GOLDEN_N = 20;

interface RunJson {
  prompt: string;
  ids: number[];
  text: string;
  stats: { generatedTokens: number; promptTokens: number; kernels: string; finishReason: string; ttftMs: number; decodeTokPerS: number };
}

function parseRunJson(r: CliResult): RunJson {
  assert.is(r.code, 0, `exit status; stderr: ${r.stderr}`);
  assert.is(r.stderr, '', 'nothing on stderr in --json mode');
  assert.ok(r.stdout.endsWith('}\n') && r.stdout.indexOf('\n') === r.stdout.length - 1, 'stdout is one JSON line');
  return JSON.parse(r.stdout) as RunJson;
}

const run = suite('run');

run('--temperature 0 --json: the golden greedy ids of stories260K, for each golden prompt', async () => {
  assert.ok(GOLDEN.length > 0);
  for (const c of GOLDEN) {
    const generated = c.ids.slice(c.prompt_ids.length);
    const n = Math.min(GOLDEN_N, generated.length);
    const o = parseRunJson(await cli(['run', '-m', STORIES_BIN, '-p', c.prompt, '--temperature', '0', '-n', String(n), '--json']));
    assert.is(o.prompt, c.prompt);
    assert.equal(o.ids, generated.slice(0, n), `ids for prompt ${JSON.stringify(c.prompt)}`);
    assert.ok(c.text.startsWith(c.prompt + o.text), `text ${JSON.stringify(o.text)} continues ${JSON.stringify(c.prompt)} as in ${JSON.stringify(c.text)}`);
    assert.is(o.stats.generatedTokens, n);
    assert.is(o.stats.promptTokens, c.prompt_ids.length);
    assert.is(o.stats.finishReason, 'length');
  }
});

run('the GGUF and the scalar kernels give the same greedy ids', async () => {
  const c = GOLDEN.find((g) => g.prompt === 'Once upon a time') ?? GOLDEN.find((g) => g.prompt !== '') ?? GOLDEN[0]!;
  const want = c.ids.slice(c.prompt_ids.length, c.prompt_ids.length + 10);
  const gguf = parseRunJson(await cli(['run', '-m', STORIES_GGUF, '-p', c.prompt, '--temperature', '0', '-n', '10', '--json']));
  assert.equal(gguf.ids, want);
  const scalar = parseRunJson(await cli(['run', '-m', STORIES_BIN, '-p', c.prompt, '--temperature', '0', '-n', '10', '--kernels', 'scalar', '--json']));
  assert.equal(scalar.ids, want);
  assert.is(scalar.stats.kernels, 'scalar');
});

run('--threads 2 gives the ids of one thread (ifp-demo, a prompt long enough for a prefill step); --threads 3 is a usage error', async () => {
  const prompt = 'def main(argv):\n    parser = argparse.ArgumentParser(description="count the lines of every file")\n';
  const args = ['run', '-m', 'models/ifp-demo/ifp-demo.q8_0.gguf', '-p', prompt, '--temperature', '0', '-n', '16', '--json'];
  const one = parseRunJson(await cli(args));
  const two = parseRunJson(await cli([...args, '--threads', '2']));
  assert.equal(two.ids, one.ids);
  assert.is(two.stats.kernels, 'simd');
  assertOneLineError(await cli(['run', '-m', STORIES_BIN, '-p', 'x', '--threads', '3']), 2, ['--threads must be in [1, 2]; got 3']);
});

run('text mode: the prompt and its continuation on stdout, two lines of stats on stderr', async () => {
  const prompt = 'Once upon a time';
  const r = await cli(['run', '-m', STORIES_BIN, '-p', prompt, '--temperature', '0', '-n', '12']);
  assert.is(r.code, 0, r.stderr);
  const o = parseRunJson(await cli(['run', '-m', STORIES_BIN, '-p', prompt, '--temperature', '0', '-n', '12', '--json']));
  assert.is(r.stdout, `${prompt}${o.text}\n`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.is(lines.length, 2, r.stderr);
  assert.match(lines[0]!, /^12 tokens \(prompt \d+, end: length\), TTFT [\d.]+ ms, prefill [\d.]+ tok\/s, decode [\d.]+ tok\/s$/);
  assert.match(lines[1]!, /^load [\d.]+ ms, read [\d.]+ (KiB|MiB), kernels (simd|scalar), context \d+$/);
});

run('--stop ends before the stop string; a seed makes sampling repeat', async () => {
  const stopped = parseRunJson(await cli(['run', '-m', STORIES_BIN, '-p', 'Once upon a time', '--temperature', '0', '-n', '60', '--stop', 'Lily', '--json']));
  assert.is(stopped.stats.finishReason, 'stop');
  assert.is(stopped.text, ', there was a little girl named ');
  const sample = (seed: string) => cli(['run', '-m', STORIES_BIN, '-p', 'Once upon a time', '--temperature', '1', '--top-p', '0.95', '--seed', seed, '-n', '30', '--json']);
  const [a, b] = await Promise.all([sample('7'), sample('7')]);
  assert.equal(parseRunJson(a).ids, parseRunJson(b).ids);
});

run('a llama2.c checkpoint without a tokenizer beside it needs --tokenizer', async () => {
  const dir = mkdtempSync(join(TMP, 'bin-'));
  const model = join(dir, 'model.bin');
  copyFileSync(STORIES_BIN, model);
  assertOneLineError(await cli(['run', '-m', model, '-p', 'Hi', '-n', '2']), 1, [model, '--tokenizer']);
  const o = parseRunJson(await cli(['run', '-m', model, '--tokenizer', join(STORIES_DIR, 'tok512.bin'), '-p', 'Hi', '-n', '2', '--json']));
  assert.is(o.ids.length, 2);
});

run('runtime failures are one line with exit 1: a missing model, a prompt longer than --context', async () => {
  const missing = join(TMP, 'missing.bin');
  assertOneLineError(await cli(['run', '-m', missing, '-p', 'x']), 1, [missing]);
  assertOneLineError(await cli(['run', '-m', STORIES_BIN, '-p', 'Lily and Tom went to the park', '--context', '4']), 1, ['context']);
});

run('Ctrl-C stops generation, prints what was made and the stats, and exits 130', async () => {
  // A random model big enough that generation lasts long after its first token (stories260K ends in ~0.1 s).
  const model = join(TMP, 'random.gguf');
  await writeRandomModel(model, { dim: 512, nLayers: 8, nHeads: 8, nKvHeads: 8, hiddenDim: 1536, vocabSize: 512, seqLen: 2048, type: 'q8_0' });
  const prompt = 'Hello';
  let sent = false;
  const r = await cli(['run', '-m', model, '-p', prompt, '-n', '2000', '--context', '2048', '--temperature', '1', '--seed', '1'], (_, child) => {
    if (!sent) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  assert.is(r.code, 130, `exit status (signal ${r.signal}); stderr: ${r.stderr}`);
  assert.ok(r.stdout.startsWith(prompt) && r.stdout.endsWith('\n'), JSON.stringify(r.stdout));
  assert.match(r.stderr, /^\d+ tokens \(prompt \d+, end: aborted\)/);
});

run.run();

process.on('exit', () => rmSync(TMP, { recursive: true, force: true }));
