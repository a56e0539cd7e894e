/**
 * Instruction-following pruning end to end on small generated models: masked FFN = reference with the
 * same neurons, selective loading (cache, budget, verification, HTTP), calibration files, the API.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeRandomModel } from '../tools/random-model.ts';
import { memorySource } from '../src/sources/memory.ts';
import { openModel } from '../src/formats/model.ts';
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import { readIfpruneInfo, verifyTensorBytes } from '../src/formats/ifprune.ts';
import { parseGGUF } from '../src/formats/gguf.ts';
import { Kernels } from '../src/engine/kernels.ts';
import { Engine } from '../src/engine/engine.ts';
import { ReferenceForward } from '../src/reference/forward.ts';
import { loadKernels, open } from '../src/platform/node.ts';
import { NeuronLoader } from '../src/reference/neuron-loader.ts';
import { planLoad } from '../src/pruning/plan.ts';
import { calibrate } from '../src/pruning/calibrate.ts';
import { readCalibration, writeCalibratedModel } from '../src/pruning/predictor-file.ts';
import { httpSource } from '../src/sources/http.ts';
import type { Example } from '../src/pruning/activations.ts';
import { assertThrowsCode, relErr } from './helpers.ts';

const SHAPE = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 96, vocabSize: 320, seqLen: 128 };
const NFF = SHAPE.hiddenDim;

/** A bundled ifprune GGUF of a random model. */
async function bundled(type: 'q8_0' | 'q4_0' | 'f32', seed = 3): Promise<Uint8Array> {
  const src = await openModel(memorySource(await makeRandomModel({ ...SHAPE, type: type === 'f32' ? 'f32' : type, tied: false, seed })));
  const sink = memorySink();
  await convert(src, sink, { type, layout: 'bundled', module: await loadKernels('simd') });
  return sink.bytes();
}

async function engineFor(bytes: Uint8Array, ffn: 'dense' | 'none') {
  const spec = await openModel(memorySource(bytes));
  const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, 'test')!;
  const engine = await Engine.load(await Kernels.create(await loadKernels('simd')), spec, { contextLength: 64, ffn, verify: (t, o, b) => verifyTensorBytes(info, t, o, b) });
  const layout = { offsets: info.bundles.map((b) => b.offset), rowBytes: info.bundles[0]!.rowBytes, rows: NFF };
  return { spec, info, engine, layout };
}

const rnd = (seed: number) => () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
function randomSets(r: () => number, k: number): Int32Array[] {
  return Array.from({ length: SHAPE.nLayers }, () => {
    const ids = Array.from({ length: NFF }, (_, j) => j).sort(() => r() - 0.5);
    return Int32Array.from(ids.slice(0, k)).sort();
  });
}


const PROMPT = Array.from({ length: 21 }, (_, i) => (i * 29 + 3) % SHAPE.vocabSize);

// --- masked FFN --------------------------------------------------------------------------------------

const masked = suite('masked FFN');
for (const type of ['f32', 'q8_0', 'q4_0'] as const) {
  masked(`${type}: selective load of k neurons equals the reference restricted to them (k = 0, 1, 24, all)`, async () => {
    const bytes = await bundled(type);
    const { spec, engine, layout } = await engineFor(bytes, 'none');
    const loader = new NeuronLoader(engine, spec.source, layout);
    const ref = await ReferenceForward.load(spec);
    const r = rnd(9);
    for (const k of [0, 1, 24, NFF]) {
      const sets = randomSets(r, k);
      await loader.load(sets);
      sets.forEach((s, l) => ref.setMask(l, s));
      engine.reset();
      const got = engine.forward(PROMPT);
      let want!: Float32Array;
      PROMPT.forEach((id, p) => (want = ref.forward(id, p)));
      assert.ok(relErr(got, want) < (type === 'f32' ? 1e-4 : 4e-2), `k=${k}: ${relErr(got, want)}`);
    }
  });
}

masked('a dense model masked in memory equals the same neurons loaded selectively', async () => {
  const bytes = await bundled('q8_0');
  const dense = await engineFor(bytes, 'dense');
  const sel = await engineFor(bytes, 'none');
  const loader = new NeuronLoader(sel.engine, sel.spec.source, sel.layout);
  const sets = randomSets(rnd(4), 40);
  sets.forEach((s, l) => dense.engine.setNeuronMask(l, s));
  await loader.load(sets);
  const a = Float32Array.from(dense.engine.forward(PROMPT));
  const b = sel.engine.forward(PROMPT);
  assert.equal(Array.from(b), Array.from(a));
});

masked('a selective model refuses to run before neurons are loaded', async () => {
  const { engine } = await engineFor(await bundled('q8_0'), 'none');
  const e = await assertThrowsCode(() => engine.forward([1]), 'bad_option');
  assert.match(e.message, /load/);
});
masked.run();

// --- the neuron loader: cache, budget, verification, requests ------------------------------------------

const loading = suite('neuron loader');

loading('reads only missing rows; cache hits; LRU eviction under a budget; over-budget is out_of_memory', async () => {
  const { spec, engine, layout } = await engineFor(await bundled('q8_0'), 'none');
  const capacity = 40;
  const loader = new NeuronLoader(engine, spec.source, layout, { memoryBudget: capacity * 2 * layout.rowBytes * SHAPE.nLayers, gapBytes: 0 });
  assert.is(loader.capacity, capacity);
  const A = [Int32Array.from({ length: 30 }, (_, j) => j), Int32Array.from({ length: 30 }, (_, j) => 2 * j)];
  const first = await loader.load(A);
  assert.is(first.rowsRead, 60);
  assert.is(first.cacheHits, 0);
  assert.is(first.bytesRead, 60 * layout.rowBytes);
  assert.is(first.requests, 1 + 30); // layer 0: one run of 30 rows; layer 1: 30 separate rows
  const again = await loader.load(A);
  assert.is(again.rowsRead, 0);
  assert.is(again.cacheHits, 60);
  assert.is(again.requests, 0);
  // B overlaps A in 10 rows per layer: 20 rows read, evicting 10 unused rows of A per layer.
  const B = A.map((a) => Int32Array.from({ length: 30 }, (_, j) => (j < 10 ? a[j]! : 60 + j)));
  const b = await loader.load(B);
  assert.is(b.cacheHits, 20);
  assert.is(b.rowsRead, 40);
  // Reading A back: the 10 overlap rows and the 10 most recent A rows that survived are hits.
  const back = await loader.load(A);
  assert.ok(back.cacheHits >= 20 && back.rowsRead > 0, JSON.stringify(back));
  await assertThrowsCode(() => loader.load(A.map(() => Int32Array.from({ length: 41 }, (_, j) => j))), 'out_of_memory');
});

loading('one flipped byte in a bundle row: hash_mismatch naming tensor and offset, row not cached, others load', async () => {
  const bytes = await bundled('q8_0');
  const { info } = await engineFor(bytes, 'dense');
  const bad = bytes.slice();
  const row = 17;
  const b1 = info.bundles[1]!;
  bad[b1.offset + row * b1.rowBytes + 5] ^= 0x40;
  const { spec, engine, layout } = await engineFor(bad, 'none');
  const loader = new NeuronLoader(engine, spec.source, layout, { verify: (l, off, b) => verifyTensorBytes(info, info.bundles[l]!.name, off, b) });
  const withRow = [Int32Array.of(1, 2), Int32Array.of(16, 17, 18)];
  for (let attempt = 0; attempt < 2; attempt++) {
    const e = await assertThrowsCode(() => loader.load(withRow), 'hash_mismatch');
    assert.match(e.message, /blk\.1\.ffn_bundle/);
    assert.ok(e.message.includes(String(row * b1.rowBytes)), e.message);
  }
  const ok = await loader.load([Int32Array.of(1, 2), Int32Array.of(16, 18)]);
  assert.is(ok.rows, 4);
});

loading('a corrupted core tensor is refused at open', async () => {
  const bytes = await bundled('q8_0');
  const spec = await openModel(memorySource(bytes));
  const t = spec.tensors.get('blk.0.attn_q.weight')!;
  const bad = bytes.slice();
  bad[t.offset + 100] ^= 1;
  const e = await assertThrowsCode(() => open(memorySource(bad), { ffn: 'selective' }), 'hash_mismatch');
  assert.match(e.message, /attn_q/);
});

loading('load plans: bytes = density × FFN bytes without read-through; gaps read through merge requests', () => {
  const layout = { offsets: [1000, 1000 + 96 * 612], rowBytes: 612, rows: 96 };
  const sets = randomSets(rnd(2), 24);
  const p0 = planLoad(layout, sets, 0);
  assert.is(p0.readBytes, 0.25 * 2 * 96 * 612);
  assert.is(p0.selectedBytes, p0.readBytes);
  const p1 = planLoad(layout, sets, 4 * 612);
  assert.ok(p1.requests < p0.requests && p1.readBytes > p0.readBytes);
  assert.is(planLoad(layout, [Int32Array.from({ length: 96 }, (_, j) => j), new Int32Array(0)], 0).requests, 1);
});

loading('over HTTP: the selected rows arrive in few requests and the model generates', async () => {
  const bytes = await bundled('q8_0');
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests++;
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': bytes.length, 'accept-ranges': 'bytes' });
      return res.end();
    }
    if (!m) return res.writeHead(200, { 'content-length': bytes.length }).end(Buffer.from(bytes));
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), bytes.length - 1)];
    res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${bytes.length}`, 'content-length': b - a + 1 });
    res.end(Buffer.from(bytes.subarray(a, b + 1)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m.gguf`;
    const model = await open(await httpSource(url), { ffn: 'selective' });
    const before = requests;
    const ins = await model.instruct('x', { density: 0.25, policy: 'dense' });
    assert.is(ins.neurons[0]!.length, NFF, 'dense policy selects all');
    const sets = randomSets(rnd(5), 24);
    const rep = await model.load({ ...ins, neurons: sets, density: 0.25 });
    assert.is(rep.rowsRead, 48);
    assert.ok(requests - before <= rep.requests && rep.requests < 48, `${rep.requests} requests for 48 rows`);
    let n = 0;
    for await (const _ of model.generate('ba', { temperature: 0, maxTokens: 5 })) n++;
    assert.ok(n > 0);
    await model.close();
  } finally {
    server.close();
  }
});
loading.run();

// --- calibration in the model file and the API ---------------------------------------------------------

const api = suite('calibrated model and API');

function examples(tag: string, n: number): Example[] {
  return Array.from({ length: n }, (_, i) => ({ domain: tag, prompt: `${tag} ba ko ${i} `.repeat(3), response: ` ri ${tag} ${(i * 7) % 10}` }));
}

api('calibrate → write → read back: static, shared and learned survive; instruct/load/generate use them', async () => {
  const bytes = await bundled('q8_0');
  const { spec, engine } = await engineFor(bytes, 'dense');
  const { createTokenizer } = await import('../src/tokenizer/index.ts');
  const tok = createTokenizer(spec.tokenizer!);
  const embd = new Float32Array(SHAPE.vocabSize * SHAPE.dim).map((_, i) => Math.sin(i));
  const domains = new Map([['a', examples('ha', 10)], ['b', examples('zu', 10)]]);
  const { calibration, report } = calibrate(engine, tok, domains, { tokenEmbeddings: embd, sharedFraction: 0.1, epochs: 2, tokenDim: 16, hidden: 32, window: 4 });
  assert.is(report.examples, 20);
  assert.ok(report.heldoutExamples > 0 && report.recall.learned !== null);
  const sink = memorySink();
  await writeCalibratedModel(memorySource(bytes), await parseGGUF(memorySource(bytes)), calibration, { examples: 20, heldoutRecall: report.recall.learned! }, sink);
  const out = sink.bytes();
  const spec2 = await openModel(memorySource(out));
  const info2 = readIfpruneInfo({ metadata: spec2.metadata, tensors: spec2.tensors }, 'out');
  const back = await readCalibration(spec2, info2);
  assert.equal(Array.from(back.static![1]!), Array.from(calibration.static![1]!));
  assert.equal(back.shared!.map((s) => Array.from(s)), calibration.shared!.map((s) => Array.from(s)));
  const p = 'ha ba ko 3 ';
  // E and W1 are stored as F16, W2 as Q8_0: the scores move by the rounding, not more.
  const before = calibration.learned!.predict(tok.encode(p));
  back.learned!.predict(tok.encode(p)).forEach((a, l) => assert.ok(relErr(a, before[l]!) < 0.05, `layer ${l}: ${relErr(a, before[l]!)}`));
  const t = spec2.tensors;
  assert.equal([t.get('ifprune.pred.E')!.type.name, t.get('ifprune.pred.W1')!.type.name, t.get('ifprune.pred.W2')!.type.name], ['F16', 'F16', 'Q8_0'], 'E and W1 as F16; W2 (rows of U = 32, one block) as Q8_0');

  // The wasm path of the predictor gives the JS path's scores (matvec_f32 sums in another order).
  const js = back.learned!.predict(tok.encode(p));
  back.learned!.useKernels!(await Kernels.create(await loadKernels('simd')));
  const viaWasm = back.learned!.predict(tok.encode(p));
  js.forEach((a, l) => assert.ok(relErr(viaWasm[l]!, a) < 1e-5, `layer ${l}`));

  const model = await open(memorySource(out), { ffn: 'selective' });
  const ins = await model.instruct(p, { density: 0.25 });
  assert.is(ins.policy, 'learned');
  assert.ok(ins.neurons.every((s) => s.length === 24));
  for (const j of calibration.shared![0]!) assert.ok(ins.neurons[0]!.includes(j), 'shared neurons are always selected');
  const st = await model.instruct(p, { density: 0.5, policy: 'static' });
  assert.ok(st.neurons.every((s) => s.length === 48));
  let text = '';
  for await (const t of model.generate(p, { temperature: 0, maxTokens: 6, density: 0.25 })) text += t.text;
  const s = model.stats();
  assert.is(s.policy, 'learned');
  assert.ok(Math.abs(s.density - 0.25) < 1e-9);
  assert.ok(s.neuronBytesRead > 0 && s.neuronBytesRead <= 0.25 * s.ffnBytesTotal * 1.5, `${s.neuronBytesRead} of ${s.ffnBytesTotal}`);
  // The same prompt again: every neuron is a cache hit.
  for await (const _ of model.generate(p, { temperature: 0, maxTokens: 2, density: 0.25 })) void _;
  assert.is(model.stats().neuronBytesRead, 0);
  assert.is(model.stats().neuronCacheHits, 48);
  await model.close();
});

api('inspect shows the layout: core bytes, bundle bytes per layer, bytes per neuron, share loaded per density', async () => {
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { inspectModel, formatInspect } = await import('../src/cli/inspect.ts');
  const path = join(mkdtempSync(join(tmpdir(), 'ifprune-')), 'm.gguf');
  const bytes = await bundled('q8_0');
  writeFileSync(path, bytes);
  const r = await inspectModel(path);
  const f = r.ifprune!;
  assert.is(f.layout, 'bundled');
  assert.is(f.bytesPerNeuron, 3 * 68);
  assert.equal(f.bundleBytesPerLayer, [NFF * 204, NFF * 204]);
  assert.is(f.coreBytes, bytes.length - 2 * NFF * 204);
  assert.ok(Math.abs(f.fractionAt!['0.25']! - (f.coreBytes! + 0.25 * 2 * NFF * 204) / bytes.length) < 1e-12);
  assert.match(formatInspect(r), /204 bytes per neuron/);
});

api('memoryBudget: a core that does not fit fails before reading weights; the rest bounds the neuron cache', async () => {
  const bytes = await bundled('q8_0');
  const counted = (read: { n: number }) => {
    const m = memorySource(bytes);
    return { size: m.size, name: 'm.gguf', readInto: async (o: number, t: Uint8Array) => ((read.n += t.length), m.readInto(o, t)) };
  };
  const parseOnly = { n: 0 };
  await openModel(counted(parseOnly));
  const failed = { n: 0 };
  const e = await assertThrowsCode(() => open(counted(failed), { ffn: 'selective', memoryBudget: 64 * 1024 }), 'out_of_memory');
  assert.match(e.message, /core needs [\d.]+ MiB/);
  assert.ok(failed.n <= parseOnly.n + 64, `read ${failed.n} bytes; parsing the header alone reads ${parseOnly.n}`);

  const probe = await open(memorySource(bytes), { ffn: 'selective' });
  const core = probe.stats().memoryBytes;
  await probe.close();
  const perRow = 2 * 204 * SHAPE.nLayers; // a cache slot and a packed slot per layer
  const tight = await open(memorySource(bytes), { ffn: 'selective', memoryBudget: core + 30 * perRow + 100 });
  const err = await assertThrowsCode(async () => tight.load(await tight.instruct('x', { density: 0.5, policy: 'dense' })), 'out_of_memory');
  assert.match(err.message, /allows 30 per layer/);
  const sets = randomSets(rnd(8), 30);
  const r = await tight.load({ ...(await tight.instruct('x', { density: 0.25, policy: 'dense' })), neurons: sets });
  assert.is(r.rowsRead, 60);
  assert.ok(tight.stats().memoryBytes <= core + 30 * perRow + 100 + 64 * SHAPE.nLayers);
  await tight.close();
});

api("ffn 'auto' is selective for an ifprune bundled file and dense for anything else", async () => {
  const { fileURLToPath } = await import('node:url');
  const sel = await open(memorySource(await bundled('q8_0')), { ffn: 'auto' });
  const before = sel.stats().bytesRead;
  await sel.load(await sel.instruct('x', { density: 0.25, policy: 'dense' }));
  assert.ok(sel.stats().bytesRead > before, 'neurons are read on load: the model was opened selectively');
  await sel.close();
  const dense = await open(fileURLToPath(new URL('../models/stories260K/stories260K.bin', import.meta.url)), { ffn: 'auto' });
  let n = 0;
  for await (const _ of dense.generate('', { temperature: 0, maxTokens: 3 })) n++;
  assert.is(n, 3);
  await dense.close();
});

api('pruning options are checked', async () => {
  const model = await open(memorySource(await bundled('q8_0')), { ffn: 'selective' });
  await assertThrowsCode(() => model.instruct('x', { density: 0 }), 'bad_option');
  await assertThrowsCode(() => model.instruct('x', { density: 0.5, policy: 'learned' }), 'bad_option');
  await assertThrowsCode(() => model.instruct('x', { density: 0.5, policy: 'nope' as 'dense' }), 'bad_option');
  await model.close();
  const { fileURLToPath } = await import('node:url');
  const e = await assertThrowsCode(() => open(fileURLToPath(new URL('../models/stories260K/stories260K.bin', import.meta.url)), { ffn: 'selective' }), 'bad_option');
  assert.match(e.message, /convert/);
});
api.run();
