/**
 * Neuron loads from a local file, by read-through gap (issue #11, deliverable 5): how many reads and
 * how long loading a random share of the FFN takes when rows closer than `gapBytes` are merged into one
 * read.
 *
 *   node --import tsx bench/local-reads.ts [--model FILE] [--reps N] [--density 0.25,0.5] [--gaps 0,1836,...] [--keep DIR]
 *
 * Model: an ifprune bundled Q8_0 file of SmolLM2-135M shape (random weights: tools/random-model.ts, then
 * `ifprune convert`), made in a temporary directory unless --model is given. Each measurement opens the
 * model afresh (ffn 'selective', the open option gapBytes), loads one random neuron set with
 * Model.load (the same sets for every gap: seeded by the repetition) and records the LoadReport (requests,
 * bytes read, ms) and the process CPU time of the load. Gaps run interleaved within each repetition. The
 * file is in the page cache after the first open (a warm local file). Prints a table of medians and writes
 * bench/results/local-reads.json.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/platform/node.ts';
import { writeRandomModel, SHAPES } from '../tools/random-model.ts';
import { cpuMs, median, randomNeurons } from '../src/cli/bench.ts';
import type { PolicyName } from '../src/types.ts';
import { argValue } from './harness.ts';

const args = process.argv.slice(2);
const opt = argValue;
const REPS = Number(opt('--reps', '3'));
const DENSITIES = opt('--density', '0.25,0.5').split(',').map(Number);
const keep = args.includes('--keep');
const dir = keep ? opt('--keep', '') : mkdtempSync(join(tmpdir(), 'ifprune-bench-'));
mkdirSync(dir, { recursive: true });

let path = opt('--model', '');
if (!path) {
  const standard = join(dir, 'smollm2-135m-random-q8_0.gguf');
  path = join(dir, 'smollm2-135m-random-q8_0.bundled.gguf');
  if (!existsSync(path)) {
    process.stderr.write(`generating ${path} ...\n`);
    if (!existsSync(standard)) await writeRandomModel(standard, { ...SHAPES['smollm2-135m'], type: 'q8_0' });
    const cli = fileURLToPath(new URL('../bin/ifprune.js', import.meta.url));
    execFileSync(process.execPath, [cli, 'convert', standard, '-o', path, '--type', 'q8_0'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

// Row bytes of the file's bundles, for gap choices in rows.
const probe = await open(path, { ffn: 'selective' });
const { nLayers, hiddenDim: nFF } = probe.config;
const ffnBytes = probe.stats().ffnBytesTotal;
await probe.close();
const rowBytes = ffnBytes / (nLayers * nFF);
const GAPS = opt('--gaps', [0, rowBytes, 4 * rowBytes, 16 << 10, 64 << 10, 256 << 10, 1 << 20].join(',')).split(',').map(Number);

interface Sample { density: number; gapBytes: number; rep: number; requests: number; bytesRead: number; selectedBytes: number; ms: number; cpuMs: number }
const samples: Sample[] = [];
for (let rep = 0; rep < REPS; rep++) {
  for (const density of DENSITIES) {
    const sets = randomNeurons(nLayers, nFF, density, 1 + rep);
    const rows = sets.reduce((s, l) => s + l.length, 0);
    for (const gapBytes of GAPS) {
      const model = await open(path, { ffn: 'selective', gapBytes });
      const c0 = cpuMs();
      const r = await model.load({ policy: 'random' as PolicyName, density, neurons: sets, promptIds: [], predictMs: 0, plan: { requests: 0, readBytes: 0, selectedBytes: 0 } });
      const cpu = cpuMs() - c0;
      await model.close();
      samples.push({ density, gapBytes, rep, requests: r.requests, bytesRead: r.bytesRead, selectedBytes: rows * rowBytes, ms: r.ms, cpuMs: cpu });
    }
  }
}

interface Row { density: number; gapBytes: number; gapRows: number; requests: number; readMiB: number; selectedMiB: number; ms: number; bestMs: number; cpuMs: number }
const rows: Row[] = [];
for (const density of DENSITIES) {
  for (const gapBytes of GAPS) {
    const s = samples.filter((x) => x.density === density && x.gapBytes === gapBytes);
    rows.push({
      density,
      gapBytes,
      gapRows: gapBytes / rowBytes,
      requests: median(s.map((x) => x.requests)),
      readMiB: median(s.map((x) => x.bytesRead)) / 2 ** 20,
      selectedMiB: median(s.map((x) => x.selectedBytes)) / 2 ** 20,
      ms: median(s.map((x) => x.ms)),
      bestMs: Math.min(...s.map((x) => x.ms)),
      cpuMs: median(s.map((x) => x.cpuMs)),
    });
  }
}
console.log(`random neuron sets from ${path} (${nLayers} layers × ${nFF} neurons, ${rowBytes} bytes a row), ${REPS} reps, gaps interleaved; medians`);
console.log('density  gap bytes (rows)   requests  read MiB  selected MiB  load ms (best)  CPU ms');
for (const r of rows) {
  console.log(
    `${r.density.toFixed(2).padStart(7)}  ${`${r.gapBytes} (${r.gapRows.toFixed(r.gapRows % 1 ? 1 : 0)})`.padStart(17)}  ${String(r.requests).padStart(8)}  ${r.readMiB.toFixed(1).padStart(8)}  ` +
      `${r.selectedMiB.toFixed(1).padStart(12)}  ${`${r.ms.toFixed(0)} (${r.bestMs.toFixed(0)})`.padStart(14)}  ${r.cpuMs.toFixed(0).padStart(6)}`,
  );
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/local-reads.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, model: path, rowBytes, reps: REPS, rows, samples }, null, 1));
if (!keep) rmSync(dir, { recursive: true, force: true });
