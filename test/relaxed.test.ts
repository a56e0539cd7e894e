/**
 * The relaxed-SIMD build (docs/relaxed-simd.md). Node 20 runs relaxed SIMD only with
 * --experimental-wasm-relaxed-simd, so the comparisons run in child processes with that flag, once per V8
 * tier: the default (Liftoff, then TurboFan for hot functions), Liftoff alone (where V8 11.3 computes the
 * i32x4 relaxed dot-add twice over), and TurboFan alone.
 *   - kernels.relaxed equals kernels.simd bit for bit: matvec / matmul Q8_0 and Q4_0, the masked FFN plain
 *     and grouped, at awkward shapes (test/relaxed-kernels.ts)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
    // 2 types × (7 matvec + 7 matmul + 7 × 2 FFN) cases
    assert.is(results.length, 56);
    for (const kernel of ['matvec_q4_0', 'matmul_q4_0', 'ffn_swiglu_masked_q4_0', 'ffn_swiglu_grouped_q4_0', 'matvec_q8_0', 'ffn_swiglu_grouped_q8_0']) {
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
