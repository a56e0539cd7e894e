/**
 * Deno (the npm `deno` package): examples/deno/main.ts run exactly as the docs say
 * (`deno run --allow-read=models --allow-net`), its Deno.serve server over the OpenAI handler, and the
 * shipped dist/deno bundle: greedy text equal to Node's for the bundled models, dense and at density 0.5;
 * Deno runs relaxed SIMD by default, so the bundle's 'auto' picks the relaxed build, which generates the
 * SIMD build's ids on a Q4_0 model (docs/relaxed-simd.md).
 */
import { test, suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CASES, DEMO, SAMPLED, completionBody, freePort, nodeText, type EdgeCase } from './edge-harness.ts';
import { open as openNode } from '../src/platform/node.ts';
import { makeRandomModel } from '../tools/random-model.ts';

const DENO = resolve('node_modules/.bin/deno');
const ENV = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
const PERMS = ['--allow-read=models', '--allow-net'];

function deno(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(DENO, args, { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const caseArgs = (c: EdgeCase) => [c.model, c.prompt, '-n', String(c.opts.maxTokens), ...(c.opts.density ? ['--density', String(c.opts.density)] : []), ...(c.opts.policy ? ['--policy', c.opts.policy] : [])];

// ---
const main = suite('examples/deno/main.ts');

main('generates Node\'s greedy text for each model, dense and at density 0.5', async () => {
  for (const c of CASES) {
    const r = await deno(['run', ...PERMS, 'examples/deno/main.ts', ...caseArgs(c)]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, await nodeText(c), c.label);
    assert.match(r.stderr, new RegExp(`density ${c.opts.density ?? 1} `));
  }
});

main('a missing model file is one line on stderr with the not_found code, exit 1', async () => {
  const r = await deno(['run', ...PERMS, 'examples/deno/main.ts', 'models/missing.gguf']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^ifprune: not_found: model file models\/missing\.gguf does not exist/);
});

main('--serve: Deno.serve over the OpenAI handler answers completions with Node\'s text', async () => {
  const port = await freePort();
  const p: ChildProcess = spawn(DENO, ['run', ...PERMS, 'examples/deno/main.ts', DEMO, '--serve', '--port', String(port)], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((ok, fail) => {
      let out = '';
      p.stdout!.on('data', (d) => ((out += d), out.includes('ifprune serving') && ok()));
      p.on('exit', (code) => fail(new Error(`deno exited ${code} before listening`)));
    });
    for (const c of [...CASES, ...SAMPLED].filter((c) => c.model === DEMO)) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: completionBody(c),
      });
      const body = (await res.json()) as { choices: { text: string }[] };
      assert.is(res.status, 200, JSON.stringify(body));
      assert.is(body.choices[0]!.text, await nodeText(c), c.label);
    }
    const bad = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', body: '{"prompt": 5}' });
    assert.is(bad.status, 400);
  } finally {
    p.kill();
  }
});

main.run();

// ---
const bundle = suite('dist/deno');

bundle('the shipped bundle opens a path and generates Node\'s text, greedy and seeded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-deno-'));
  try {
    const script = join(dir, 'gen.ts');
    writeFileSync(
      script,
      `import { open } from ${JSON.stringify(pathToFileURL(resolve('dist/deno/index.js')).href)};
       const [model, prompt, opts] = Deno.args;
       const m = await open(model, { ffn: 'auto' });
       let text = '';
       for await (const t of m.generate(prompt, { temperature: 0, ...JSON.parse(opts) })) text += t.text;
       await Deno.stdout.write(new TextEncoder().encode(text));`,
    );
    for (const c of [...CASES, ...SAMPLED]) {
      const r = await deno(['run', ...PERMS, script, c.model, c.prompt, JSON.stringify(c.opts)]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout, await nodeText(c), c.label);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

bundle('threads: 2 (a Worker on the shared memory) gives the ids of one thread in Node, and close() lets Deno exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-deno-'));
  const prompt = 'def main(argv):\n    parser = argparse.ArgumentParser(description="count the lines of every file")\n';
  try {
    const script = join(dir, 'threads.ts');
    writeFileSync(
      script,
      `import { open } from ${JSON.stringify(pathToFileURL(resolve('dist/deno/index.js')).href)};
       const m = await open(Deno.args[0], { threads: 2 });
       const ids = [];
       for await (const t of m.generate(Deno.args[1], { temperature: 0, maxTokens: 16 })) ids.push(t.id);
       console.log(JSON.stringify({ ids, kernels: m.stats().kernels }));
       await m.close();`,
    );
    const r = await deno(['run', ...PERMS, script, DEMO, prompt]);
    assert.is(r.code, 0, r.stderr);
    const node = await openNode(DEMO);
    const want: number[] = [];
    for await (const t of node.generate(prompt, { temperature: 0, maxTokens: 16 })) want.push(t.id);
    await node.close();
    assert.equal(JSON.parse(r.stdout), { ids: want, kernels: 'simd' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

bundle('auto picks the relaxed build (the probe passes in Deno) and it generates the SIMD build\'s ids on a Q4_0 model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ifprune-deno-'));
  try {
    const model = join(dir, 'random-q4_0.gguf');
    writeFileSync(model, await makeRandomModel({ dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 352, vocabSize: 512, type: 'q4_0', seed: 11 }));
    const m = await openNode(model, { kernels: 'simd' });
    const want: number[] = [];
    for await (const t of m.generate('The relaxed dot', { maxTokens: 24, temperature: 0 })) want.push(t.id);
    await m.close();
    const script = join(dir, 'relaxed.ts');
    writeFileSync(
      script,
      `import { open, loadRuntime, capabilities } from ${JSON.stringify(pathToFileURL(resolve('dist/deno/index.js')).href)};
       const ids = {};
       for (const kernels of ['auto', 'simd']) {
         const m = await open(Deno.args[0], { kernels });
         ids[kernels] = [];
         for await (const t of m.generate('The relaxed dot', { maxTokens: 24, temperature: 0 })) ids[kernels].push(t.id);
         await m.close();
       }
       const autoIsRelaxed = (await loadRuntime('auto')) === (await loadRuntime('relaxed'));
       console.log(JSON.stringify({ relaxedSimd: capabilities.relaxedSimd, autoIsRelaxed, ids }));`,
    );
    const r = await deno(['run', `--allow-read=${dir}`, script, model]);
    assert.is(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { relaxedSimd: boolean; autoIsRelaxed: boolean; ids: { auto: number[]; simd: number[] } };
    assert.is(got.relaxedSimd, true);
    assert.is(got.autoIsRelaxed, true);
    assert.equal(got.ids.simd, want);
    assert.equal(got.ids.auto, want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

bundle.run();
