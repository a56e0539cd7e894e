/**
 * The relaxed-SIMD build (docs/relaxed-simd.md). Node 20 runs relaxed SIMD only with
 * --experimental-wasm-relaxed-simd, so the comparisons run in child processes with that flag, once per V8
 * tier: the default (Liftoff, then TurboFan for hot functions), Liftoff alone (where V8 11.3 computes the
 * i32x4 relaxed dot-add twice over), and TurboFan alone.
 *   - kernels.relaxed equals kernels.simd bit for bit: matvec / matmul Q8_0 and Q4_0, the masked FFN plain
 *     and grouped, at awkward shapes (test/relaxed-kernels.ts)
 *   - the probe (engine/simd.ts): false on plain Node 20, where 'auto' picks simd and asking for 'relaxed' is
 *     a no_wasm error; true with the flag, where 'auto' picks relaxed
 *   - the runtime: ifprune.relaxed.wasm generates the SIMD build's greedy ids on a random-weight Q4_0 model,
 *     standard layout and ifprune bundles (test/relaxed-runtime.ts)
 * Deno and Chromium run relaxed SIMD by default: test/deno.test.ts and test/web.test.ts check that 'auto'
 * picks it there and generates the SIMD build's ids.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chooseBuild, relaxedSimdSupported, simdSupported } from '../src/engine/simd.ts';
import { isIfpruneError } from '../src/errors.ts';

const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';
const TIERS = [
  ['default tiers', []],
  ['Liftoff only', ['--liftoff', '--no-wasm-tier-up']],
  ['TurboFan only', ['--no-liftoff']],
] as const;

/** Runs a test/ program under node with the given flags; returns its stdout (asserting exit 0). */
function child(program: string, flags: readonly string[]): string {
  const path = fileURLToPath(new URL(program, import.meta.url));
  const p = spawnSync(process.execPath, [...flags, '--import', 'tsx', path], { encoding: 'utf8', timeout: 120_000 });
  assert.is(p.status, 0, `${program} ${flags.join(' ')} exited ${p.status}: ${p.stderr}`);
  return p.stdout;
}

interface CaseResult { name: string; n: number; mismatches: number; maxAbsDiff: number }

const kernels = suite('kernels.relaxed = kernels.simd');

for (const [tier, flags] of TIERS) {
  kernels(`bit for bit on every case (${tier})`, () => {
    const results = child('./relaxed-kernels.ts', [RELAXED_FLAG, ...flags])
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as CaseResult);
    // the export names, then 2 types × (7 matvec + 7 matmul + 1 matmul_rows + 7 × 2 FFN) cases
    assert.is(results.length, 59);
    assert.match(results[0]!.name, /^exports \(\d+\)$/);
    for (const kernel of ['matvec_q4_0', 'matmul_q4_0', 'matmul_rows_q4_0', 'ffn_swiglu_masked_q4_0', 'ffn_swiglu_grouped_q4_0', 'matvec_q8_0', 'ffn_swiglu_grouped_q8_0']) {
      assert.ok(results.some((r) => r.name.startsWith(kernel)), kernel);
    }
    const bad = results.filter((r) => r.mismatches !== 0);
    assert.equal(bad, [], bad.map((r) => `${r.name}: ${r.mismatches}/${r.n} differ, max |diff| ${r.maxAbsDiff}`).join('; '));
  });
}

kernels('without the flag, Node 20 cannot compile kernels.relaxed (so nothing here passes by running SIMD twice)', () => {
  const path = fileURLToPath(new URL('./relaxed-kernels.ts', import.meta.url));
  const p = spawnSync(process.execPath, ['--import', 'tsx', path], { encoding: 'utf8', timeout: 120_000 });
  assert.is(p.status, 1);
  assert.match(p.stderr, /could not load the kernel builds/);
});

kernels.run();

// ---
const probe = suite('relaxed probe and choice');

probe('plain Node 20: the probe is false, auto picks simd, asking for relaxed says what to do', () => {
  assert.ok(simdSupported());
  assert.is(relaxedSimdSupported(), false);
  assert.is(chooseBuild('auto'), 'simd');
  assert.is(chooseBuild('simd'), 'simd');
  assert.is(chooseBuild('scalar'), 'scalar');
  try {
    chooseBuild('relaxed');
    assert.unreachable('relaxed chosen without relaxed SIMD');
  } catch (e) {
    assert.ok(isIfpruneError(e, 'no_wasm'), String(e));
    assert.match((e as Error).message, /--experimental-wasm-relaxed-simd/);
  }
  try {
    chooseBuild('gpu' as 'simd');
    assert.unreachable('an unknown build accepted');
  } catch (e) {
    assert.ok(isIfpruneError(e, 'bad_option'), String(e));
    assert.match((e as Error).message, /'auto', 'relaxed', 'simd', 'scalar'/);
  }
});

interface RuntimeResult {
  probe: { relaxedSimdSupported: boolean; auto: string; capabilitiesRelaxed: boolean };
  runs?: Record<'standard' | 'bundled', { simd: number[]; relaxed: number[] }>;
  autoIsRelaxed?: boolean;
  relaxedError?: string;
}

probe('plain Node 20 in a child: the same answers through the Node entry point (loadRuntime, capabilities)', () => {
  const r = JSON.parse(child('./relaxed-runtime.ts', [])) as RuntimeResult;
  assert.equal(r.probe, { relaxedSimdSupported: false, auto: 'simd', capabilitiesRelaxed: false });
  assert.is(r.relaxedError, 'no_wasm');
});

probe.run();

// ---
const runtime = suite('ifprune.relaxed.wasm = ifprune.simd.wasm');

for (const [tier, flags] of TIERS.slice(0, 2)) {
  runtime(`with the flag the probe passes, auto picks relaxed, and greedy ids equal the SIMD build's on a Q4_0 model, standard and bundled (${tier})`, () => {
    const r = JSON.parse(child('./relaxed-runtime.ts', [RELAXED_FLAG, ...flags])) as RuntimeResult;
    assert.equal(r.probe, { relaxedSimdSupported: true, auto: 'relaxed', capabilitiesRelaxed: true });
    assert.is(r.autoIsRelaxed, true);
    for (const layout of ['standard', 'bundled'] as const) {
      const { simd, relaxed } = r.runs![layout];
      assert.is(simd.length, 32, `${layout}: 32 tokens`);
      assert.ok(new Set(simd).size > 8, `${layout}: the random model's text wanders (${simd.join(' ')})`);
      assert.equal(relaxed, simd, layout);
    }
  });
}

runtime.run();
