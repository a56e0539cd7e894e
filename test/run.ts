/**
 * Runs every test/*.test.ts as its own process (as uvu's own test/index.js does), two at a time,
 * and prints the line CI reads: `N passed, N failed`. A file fails if it exits non-zero or writes
 * to stderr. `node --import tsx test/run.ts [filter]` runs the files whose name contains filter.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(dir).filter((f) => f.endsWith('.test.ts') && f.includes(filter)).sort();
const JOBS = Number(process.env.IFPRUNE_TEST_JOBS ?? 2);

interface Result { file: string; passed: number; failed: number; code: number | null; stdout: string; stderr: string; ms: number }

function runFile(file: string): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(dir, file)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => {
      const num = (re: RegExp) => [...stdout.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
      const total = num(/Total:\s+(\d+)/g);
      const passed = num(/Passed:\s+(\d+)/g);
      resolve({ file, passed, failed: total - passed, code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

const queue = [...files];
const results: Result[] = [];
await Promise.all(
  Array.from({ length: Math.min(JOBS, files.length) }, async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const r = await runFile(f);
      results.push(r);
      const ok = r.code === 0 && r.failed === 0 && r.stderr.trim() === '';
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${r.file.padEnd(32)} ${String(r.passed).padStart(4)} passed ${String(r.failed).padStart(3)} failed  ${(r.ms / 1000).toFixed(1)}s`);
      if (!ok) {
        console.log(r.stdout.split('\n').filter((l) => !/^\s*$/.test(l)).slice(-60).join('\n'));
        if (r.stderr.trim()) console.log(`--- stderr of ${r.file}:\n${r.stderr.trim().slice(-4000)}`);
      }
    }
  }),
);

let passed = 0;
let failed = 0;
for (const r of results) {
  passed += r.passed;
  failed += r.failed;
  // A crashed file (non-zero exit with no failing test counted) or stray stderr still counts as a failure.
  if ((r.code !== 0 || r.stderr.trim() !== '') && r.failed === 0) failed += 1;
}
if (files.length === 0) failed += 1, console.log('no test files found');
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
