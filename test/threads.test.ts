/**
 * open(model, { threads: 2 }) (src/threads.ts, assembly/rt/parallel.ts): a worker thread computes half of
 * each prefill step's matrix products and masked FFN on the runtime's shared memory. Its tokens equal
 * one thread's exactly (greedy and sampled) on the committed ifp-demo (dense and selective, several
 * densities) and on a random Q4_0 model, standard and bundled; a worker that skips its share changes
 * the output (so the work is really handed over); close() ends the worker; bad options are clear errors.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, loadRuntime, nodeThreads } from '../src/platform/node.ts';
import { open as openCore } from '../src/index.ts';
import { fileSource } from '../src/sources/file.ts';
import { WORKER_LOOP, type ThreadSupport, type WorkerData } from '../src/threads.ts';
import type { GenerateOptions, Model, OpenOptions } from '../src/types.ts';
import { runCli, assertThrowsCode } from './helpers.ts';
import { writeRandomModel } from '../tools/random-model.ts';

const DEMO = 'models/ifp-demo/ifp-demo.q8_0.gguf';
const TMP = mkdtempSync(join(tmpdir(), 'ifprune-threads-'));
const Q4 = join(TMP, 'wide-q4_0.gguf');
const Q4_BUNDLED = join(TMP, 'wide-q4_0.bundled.gguf');
/** Wide enough that every matmul (rows ≥ 128) and the masked FFN (k ≥ 128) is shared with the worker. */
const WIDE = { dim: 256, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 512, vocabSize: 512, seqLen: 256 };
/** Long enough for a prefill tile of 32 and a short one (T > 1 both). */
const PROMPT = 'Once upon a time there was a little robot who liked to count the stars in the sky every night, and one day ';

async function tokens(model: Model, opts: GenerateOptions): Promise<string> {
  const ids: number[] = [];
  for await (const t of model.generate(PROMPT, { maxTokens: 24, ...opts })) ids.push(t.id);
  return ids.join(',');
}

/** The tokens of each generation with threads 1 and 2 (the same generations, in the same order). */
async function both(path: string, openOpts: OpenOptions, gens: GenerateOptions[]): Promise<[string[], string[]]> {
  const out: [string[], string[]] = [[], []];
  for (const [i, threads] of [1, 2].entries()) {
    const m = await open(path, { ...openOpts, threads });
    try {
      for (const g of gens) out[i]!.push(await tokens(m, g));
    } finally {
      await m.close();
    }
  }
  return out;
}

const GENS: GenerateOptions[] = [{ temperature: 0 }, { temperature: 0.8, seed: 7 }];

const setup = suite('fixtures');
setup('a random Q4_0 model wide enough to share every kernel, and its bundled conversion', async () => {
  await writeRandomModel(Q4, { ...WIDE, type: 'q4_0' });
  const r = await runCli(['convert', Q4, '-o', Q4_BUNDLED, '--type', 'q4_0']);
  assert.is(r.code, 0, r.stderr);
});
setup.run();

const same = suite('threads: 2 gives the tokens of threads: 1');

same('ifp-demo, dense opening (bundles regrouped in place), density 1 and 0.5', async () => {
  const [one, two] = await both(DEMO, { ffn: 'dense' }, [...GENS, { temperature: 0, density: 0.5 }]);
  assert.equal(two, one);
  assert.ok(new Set(one).size > 1, 'the generations differ from each other');
});

same('ifp-demo, selective: densities 1, 0.5 and 0.25 (neurons loaded into a grouped set)', async () => {
  const [one, two] = await both(DEMO, { ffn: 'selective' }, [{ temperature: 0, density: 1 }, { temperature: 0, density: 0.5 }, { temperature: 0.8, seed: 3, density: 0.25 }]);
  assert.equal(two, one);
});

same('a random Q4_0 model, standard and bundled (density 1 and 0.25)', async () => {
  const [one, two] = await both(Q4, {}, GENS);
  assert.equal(two, one);
  const [bOne, bTwo] = await both(Q4_BUNDLED, { ffn: 'selective' }, [{ temperature: 0, density: 1 }, { temperature: 0, density: 0.25 }]);
  assert.equal(bTwo, bOne);
});

same.run();

// ---
const work = suite('the worker');

/** Node's thread support with a worker running `loop` instead of WORKER_LOOP; records terminate(). */
async function supportWith(loop: string, log: string[]): Promise<ThreadSupport> {
  const node = await nodeThreads(loop);
  return {
    ...node,
    async spawn(data: WorkerData) {
      const w = await node.spawn(data);
      return {
        terminate: () => {
          log.push('terminate');
          return w.terminate();
        },
      };
    },
  };
}

async function coreTokens(support: ThreadSupport, threads: number): Promise<string> {
  const m = await openCore(await fileSource(DEMO), { module: threads === 2 ? support.runtime : await loadRuntime('simd'), threads, threadSupport: support });
  try {
    return await tokens(m, { temperature: 0 });
  } finally {
    await m.close();
  }
}

work('its share is used: a worker that skips its jobs changes the tokens; the real loop gives one thread\'s', async () => {
  const log: string[] = [];
  const real = await supportWith(WORKER_LOOP, log);
  const one = await coreTokens(real, 1);
  assert.is(await coreTokens(real, 2), one);
  // a worker that acknowledges every job (control block: 0 SEQ, 1 DONE, 12 QUIT) and computes nothing
  const lazyLoop = `
const ctl = new Int32Array(data.control);
ready();
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  if (Atomics.load(ctl, 12) !== 0) break;
  Atomics.store(ctl, 1, seen);
}`;
  const lazy = await supportWith(lazyLoop, log);
  assert.not.equal(await coreTokens(lazy, 2), one);
  assert.equal(log, ['terminate', 'terminate'], 'close() ended each worker');
});

work.run();

// ---
const errors = suite('threads errors');

errors('bad values and combinations are clear errors', async () => {
  for (const threads of [0, 3, 1.5, NaN]) {
    const e = await assertThrowsCode(() => open(DEMO, { threads }), 'bad_option');
    assert.ok(e.message.includes('expected 1 or 2'), e.message);
  }
  const k = await assertThrowsCode(() => open(DEMO, { threads: 2, kernels: 'scalar' }), 'bad_option');
  assert.ok(k.message.includes('the threads build runs the SIMD kernels'), k.message);
  const simd = await loadRuntime('simd');
  const m = await assertThrowsCode(() => open(DEMO, { threads: 2, module: simd }), 'bad_option');
  assert.ok(m.message.includes('build/ifprune.threads.wasm'), m.message);
  // the core API on its own cannot start workers: a platform entry point supplies them
  const u = await assertThrowsCode(async () => openCore(await fileSource(DEMO), { module: await loadRuntime('simd'), threads: 2 }), 'unsupported');
  assert.ok(u.message.includes("Node's can"), u.message);
});

errors.run();

const cleanup = suite('cleanup');
cleanup('temporary files', () => rmSync(TMP, { recursive: true, force: true }));
cleanup.run();
