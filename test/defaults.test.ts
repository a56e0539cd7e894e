import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { DEFAULTS } from '../src/defaults.ts';
import { Rt } from './rt-harness.ts';

// The runtime build a JS host loads: its defaults are what users get.
test('the runtime declares the same defaults as src/defaults.ts', async () => {
  for (const build of ['build/ifprune.simd.wasm', 'build/ifprune.scalar.wasm']) {
    const rt = await Rt.create(build);
    assert.equal(JSON.parse(rt.str(rt.ex.rt_defaults_json())), { ...DEFAULTS }, build);
  }
});

test('the CLI help states the defaults it uses (Node and WASI commands share the text)', () => {
  const run = readFileSync(new URL('../src/cli/run.ts', import.meta.url), 'utf8');
  assert.not.match(run, /at most \d/, 'the context default comes from DEFAULTS');
  assert.match(run, /DEFAULTS\.contextLength/);
});

test.run();
