/**
 * The whole runtime on the relaxed build against the SIMD build: a plain program run by
 * test/relaxed.test.ts in a child `node --experimental-wasm-relaxed-simd` (and in one without the flag,
 * for the probe's answer there). Prints one JSON object:
 *   probe      relaxedSimdSupported(), chooseBuild('auto'), capabilities.relaxedSimd in this process
 *   runs       (with the flag) greedy ids of a random-weight Q4_0 model, standard layout (matvec / matmul)
 *              and converted to ifprune bundles opened dense (the grouped masked FFN), per build
 *   autoIsRelaxed  (with the flag) whether loadRuntime('auto') returned the relaxed module
 *   relaxedError   (without the flag) the error code of asking for 'relaxed'
 */
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import { chooseBuild, relaxedSimdSupported, type KernelBuild } from '../src/engine/simd.ts';
import { openModel } from '../src/formats/model.ts';
import { memorySource } from '../src/sources/memory.ts';
import { capabilities, loadKernels, loadRuntime, open } from '../src/platform/node.ts';
import { makeRandomModel } from '../tools/random-model.ts';

const PROMPT = 'The relaxed dot';
const probe = { relaxedSimdSupported: relaxedSimdSupported(), auto: chooseBuild('auto'), capabilitiesRelaxed: capabilities.relaxedSimd };

if (!probe.relaxedSimdSupported) {
  let relaxedError = '';
  try {
    await loadRuntime('relaxed');
  } catch (e) {
    relaxedError = (e as { code?: string }).code ?? String(e);
  }
  console.log(JSON.stringify({ probe, relaxedError }));
} else {
  const standard = await makeRandomModel({ dim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 352, vocabSize: 512, type: 'q4_0', seed: 11 });
  const spec = await openModel(memorySource(standard, 'random-q4_0.gguf'));
  const sink = memorySink();
  await convert(spec, sink, { type: 'q4_0', layout: 'bundled', module: await loadKernels('simd'), sourceSha256: '0'.repeat(64) });
  const bundled = sink.bytes();

  const ids = async (bytes: Uint8Array, build: KernelBuild) => {
    const m = await open(bytes, { kernels: build });
    const out: number[] = [];
    for await (const t of m.generate(PROMPT, { maxTokens: 32, temperature: 0 })) out.push(t.id);
    await m.close();
    return out;
  };
  const runs: Record<string, Record<string, number[]>> = {};
  for (const [layout, bytes] of [['standard', standard], ['bundled', bundled]] as const) {
    runs[layout] = { simd: await ids(bytes, 'simd'), relaxed: await ids(bytes, 'relaxed') };
  }
  const autoIsRelaxed = (await loadRuntime('auto')) === (await loadRuntime('relaxed'));
  console.log(JSON.stringify({ probe, runs, autoIsRelaxed }));
}
