/**
 * The wasm runtime's format part (assembly/rt/{model-file,gguf,llama2c,tokenizer-bin,spec-check,ifprune,
 * xxh64}.ts, test build build/rt-test-formats.wasm) against the TypeScript oracles: openModel (GGUF,
 * llama2.c), readIfpruneInfo and the calibration keys readCalibration reads, parseTokenizerBin, xxh64 and
 * verifyTensorBytes, on the committed models, random models (tools/random-model.ts, converted to ifprune
 * files by src/convert) and damaged copies. Every bad input ends in the TS parser's error code, never a trap.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { Rt } from './rt-harness.ts';
import { rng } from './helpers.ts';
import { isIfpruneError } from '../src/errors.ts';
import { memorySource } from '../src/sources/memory.ts';
import type { ByteSource } from '../src/sources/types.ts';
import { openModel } from '../src/formats/model.ts';
import { GGUFValueType as T, parseGGUF, type GGUFFile, type GGUFValue, type GGUFType } from '../src/formats/gguf.ts';
import { writeGGUF } from '../src/formats/gguf-write.ts';
import { readIfpruneInfo, type IfpruneInfo } from '../src/formats/ifprune.ts';
import type { ModelSpec } from '../src/formats/model-spec.ts';
import { parseTokenizerBin } from '../src/formats/tokenizer-bin.ts';
import type { TokenizerData } from '../src/tokenizer/types.ts';
import { xxh64 } from '../src/formats/xxh64.ts';
import { readCalibration, PRED } from '../src/pruning/predictor-file.ts';
import { convert } from '../src/convert/convert.ts';
import { memorySink } from '../src/convert/sink.ts';
import { loadKernels } from '../src/platform/node.ts';
import { SHAPES, makeRandomModel, planRandomModel, type RandomModelOptions } from '../tools/random-model.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
// the test build is rebuilt when assembly/ changed (quietly: a test file must not write to stderr)
execFileSync(process.execPath, ['tools/build.mjs', 'rt-test:formats'], { cwd: root, stdio: 'pipe' });
const rt = await Rt.create('build/rt-test-formats.wasm');
const ex = rt.ex;

const read = (path: string) => new Uint8Array(readFileSync(root + path));
const STORIES_GGUF = read('models/stories260K/stories260K.gguf');
const STORIES_BIN = read('models/stories260K/stories260K.bin');
const TOK512 = read('models/stories260K/tok512.bin');
const DEMO = read('models/ifp-demo/ifp-demo.q8_0.gguf');
/** A 4-entry codebook predictor with an entry route (tools/train/make_fixture.py --codebook 4). */
const CODEBOOK_FIXTURE = read('tools/train/fixtures/tiny-joint-codebook.gguf');

/** Byte flips per damaged-header test (each a separate parse, compared with the TS parse). */
const FLIP_CASES = 400;
/** xxh64 lengths tried one by one (0..MAX_XXH_LEN), plus a few large inputs. */
const MAX_XXH_LEN = 300;

// --- the two parses, as comparable plain data --------------------------------------------------------

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Outcome {
  spec?: Json;
  code?: string;
  message?: string;
  /** AS only: fmt_parse calls until done, and the bytes offered in the last. */
  rounds?: number;
  offered?: number;
}

/** How the test host grows its window after a "need more": to exactly headerNeed, or at least double. */
type Growth = 'exact' | 'double';

/**
 * The AS parse (parseModelHeader + readIfpruneInfo) of `bytes` as file `name`, offering the first
 * `window` bytes and growing on headerNeed. Each round copies just the prefix into a fresh buffer, so
 * a read past `len` would see foreign bytes.
 */
function asParse(bytes: Uint8Array, name = 'model.gguf', window = bytes.length, growth: Growth = 'double', fileSize = bytes.length): Outcome {
  const [np, nl] = rt.putString(name);
  let len = Math.min(window, bytes.length);
  try {
    for (let rounds = 1; ; rounds++) {
      const p = rt.put(bytes.subarray(0, len));
      try {
        ex.rt_clear_error();
        const s = ex.fmt_parse(p, len, fileSize, np, nl) >>> 0;
        if (s) return { spec: JSON.parse(rt.str(s)), rounds, offered: len };
        const code = rt.errorCode();
        if (code) return { code, message: rt.str(ex.rt_error_message()), rounds, offered: len };
        const need = ex.fmt_header_need();
        assert.ok(need > len && need <= bytes.length, `headerNeed ${need} after offering ${len} of ${bytes.length} bytes (file ${fileSize})`);
        assert.ok(rounds < 100000, 'headerNeed does not converge');
        len = growth === 'exact' ? need : Math.min(bytes.length, Math.max(need, 2 * len));
      } finally {
        ex.rt_free(p);
      }
    }
  } finally {
    ex.rt_free(np);
  }
}

/** A `size`-byte source holding `head` and then zeros (a header without its tensor data). */
function headerSource(head: Uint8Array, size: number, name: string): ByteSource {
  return {
    size,
    name,
    async readInto(offset: number, target: Uint8Array) {
      target.fill(0);
      if (offset < head.length) target.set(head.subarray(offset, offset + target.length));
    },
  };
}

/** The TS parse (openModel + readIfpruneInfo + the calibration keys) in the JSON shape of fmt_parse. */
async function tsParse(bytes: Uint8Array, name = 'model.gguf', fileSize = bytes.length): Promise<Outcome> {
  try {
    const src = fileSize === bytes.length ? memorySource(bytes, name) : headerSource(bytes, fileSize, name);
    const spec = await openModel(src);
    const file = spec.format === 'gguf' ? await parseGGUF(src) : null;
    const info = spec.format === 'gguf' ? readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, name) : null;
    return { spec: await expectedJson(spec, file, info) };
  } catch (e) {
    if (isIfpruneError(e)) return { code: e.code, message: e.message };
    throw e;
  }
}

const num = (x: number) => (Number.isFinite(x) ? x : String(x));

function tokenizerJson(t: TokenizerData): Json {
  return {
    model: t.model,
    tokens: t.tokens,
    scores: t.scores ? Array.from(t.scores, num) : [],
    tokenTypes: t.tokenTypes ? Array.from(t.tokenTypes, num) : [],
    merges: t.merges ?? [],
    bosId: t.bosId,
    eosId: t.eosId,
    unkId: t.unkId ?? -1,
    addBos: t.addBos,
    addSpacePrefix: t.addSpacePrefix,
  };
}

/** A metadata value as metaJson (assembly/rt/testing/formats.ts) writes it: [type, itemType, count, value]. */
function metaJson(type: GGUFType, v: GGUFValue): Json {
  const scalar = (x: unknown, t: number): Json => (t === T.BOOL ? (x ? 1 : 0) : typeof x === 'bigint' ? x.toString() : typeof x === 'number' ? num(x) : x);
  if (type.type !== T.ARRAY) return [type.type, 0, 0, scalar(v, type.type)];
  const a = v as unknown as ArrayLike<unknown>;
  const items = type.itemType === T.ARRAY ? [] : Array.from(a, (x) => scalar(x, type.itemType!));
  return [T.ARRAY, type.itemType, a.length, items];
}

const hex = (h: bigint) => h.toString(16).padStart(16, '0');

async function expectedJson(spec: ModelSpec, file: GGUFFile | null, info: IfpruneInfo | null): Promise<Json> {
  const c = spec.config;
  const meta = spec.metadata as Record<string, unknown>;
  let ifprune: Json = null;
  if (info) {
    const cal = await readCalibration(spec, null); // its metadata checks; tensor bytes are not the header's business
    const kind = meta[PRED.kind];
    ifprune = {
      versionMajor: info.version.major,
      versionMinor: info.version.minor,
      layout: info.layout,
      type: info.type,
      converter: info.converter,
      chunks: [...info.chunks.values()].map((k) => [k.tensor, k.offset, k.bytes, k.chunkBytes, Array.from(k.hashes, hex)]),
      chunkCount: info.chunks.size,
      bundles: info.bundles.map((b) => ({ layer: b.layer, name: b.name, type: b.type.id, dim: b.dim, nFF: b.nFF, rowBytes: b.rowBytes, partBytes: b.partBytes, offset: b.offset, bytes: b.bytes })),
      perms: info.perms.map((p) => (p ? Array.from(p) : [])),
      shared: cal.shared ? cal.shared.map((s) => Array.from(s)) : [],
      hasStatic: spec.tensors.has(PRED.static),
      predictor: kind === undefined ? null : { kind, tokenDim: Number(meta[PRED.tokenDim]), hidden: Number(meta[PRED.hidden]), window: Number(meta[PRED.window]) },
    };
  }
  const metaKeys = file ? Object.keys(file.kvTypes) : Object.keys(meta);
  return {
    format: spec.format,
    version: file ? file.version : 0,
    alignment: file ? file.alignment : 32,
    dataOffset: file ? file.tensorDataOffset : 0,
    config: {
      dim: c.dim, hiddenDim: c.hiddenDim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headSize: c.headSize,
      vocabSize: c.vocabSize, seqLen: c.seqLen, normEps: Math.fround(c.normEps), ropeBase: Math.fround(c.ropeBase), ropeDim: c.ropeDim,
      ropeNeox: c.ropeStyle === 'neox', tiedEmbeddings: c.tiedEmbeddings, qkvBias: c.qkvBias,
    },
    tensors: [...spec.tensors.values()].map((t) => [t.name, t.type.id, t.dims, t.offset, t.bytes]),
    tensorMapSize: spec.tensors.size,
    metaKeys,
    meta: file
      ? Object.fromEntries(metaKeys.map((k) => [k, metaJson(file.kvTypes[k]!, file.metadata[k]!)]))
      : Object.fromEntries(metaKeys.map((k) => [k, [k === 'sharedClassifier' ? T.BOOL : T.INT32, 0, 0, Number(meta[k])]])),
    tokenizer: spec.tokenizer ? tokenizerJson(spec.tokenizer) : null,
    ifprune,
  };
}

/** Asserts the AS parse equals the TS parse (spec JSON or error code), field group by field group. */
function assertSame(as: Outcome, ts: Outcome, label: string): void {
  if (ts.code || as.code) {
    assert.is(as.code, ts.code, `${label}: error code (AS: ${as.message ?? 'parsed'}; TS: ${ts.message ?? 'parsed'})`);
    return;
  }
  const { headerBytes, ...rest } = as.spec;
  if (rest.format === 'gguf') {
    assert.ok(headerBytes <= rest.dataOffset && rest.dataOffset - headerBytes < rest.alignment, `${label}: headerBytes ${headerBytes} ends the header padded to ${rest.dataOffset}`);
  }
  for (const k of Object.keys(ts.spec)) assert.equal(rest[k], ts.spec[k], `${label}: ${k}`);
  assert.equal(Object.keys(rest).sort(), Object.keys(ts.spec).sort(), `${label}: fields`);
}

async function compare(bytes: Uint8Array, label: string, name = 'model.gguf'): Promise<Outcome> {
  const ts = await tsParse(bytes, name);
  const as = asParse(bytes, name);
  assertSame(as, ts, label);
  return as;
}

// --- test models ---------------------------------------------------------------------------------

const module = await loadKernels('simd');

async function ifpruneFile(opts: RandomModelOptions, type: 'f32' | 'f16' | 'q8_0' | 'q4_0', layout: 'bundled' | 'standard'): Promise<Uint8Array> {
  const src = memorySource(await makeRandomModel(opts), 'random.gguf');
  const sink = memorySink();
  await convert(await openModel(src), sink, { type, layout, module, sourceSha256: '0'.repeat(64) });
  return sink.bytes();
}

/** The file with its metadata changed by `edit` (tensor data copied unchanged, so chunk hashes hold). */
async function withMetadata(bytes: Uint8Array, edit: (m: Record<string, GGUFValue>, types: Record<string, GGUFType>) => void): Promise<Uint8Array> {
  const file = await parseGGUF(memorySource(bytes, 'x.gguf'));
  const metadata = { ...file.metadata };
  const kvTypes = { ...file.kvTypes };
  edit(metadata, kvTypes);
  for (const k of Object.keys(kvTypes)) if (!(k in metadata)) delete kvTypes[k];
  const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: bytes.subarray(t.offset, t.offset + t.bytes) }));
  return writeGGUF({ metadata, kvTypes }, tensors, 'general.alignment' in metadata ? undefined : file.alignment);
}

const TINY: RandomModelOptions = { dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, hiddenDim: 96, vocabSize: 320, type: 'q8_0' };
const RANDOM: [string, RandomModelOptions][] = [
  ['llama q8_0 tied', TINY],
  ['llama f32 untied', { ...TINY, type: 'f32', tied: false, seqLen: 64 }],
  ['qwen2 f16 with q/k/v biases', { ...TINY, type: 'f16', qkvBias: true, ropeBase: 1000000, normEps: 1e-6 }],
  ['llama q4_0, 3 layers, MQA', { dim: 128, nLayers: 3, nHeads: 4, nKvHeads: 1, hiddenDim: 160, vocabSize: 400, type: 'q4_0', seed: 7 }],
];
const randomFiles = new Map<string, Uint8Array>();
for (const [label, opts] of RANDOM) randomFiles.set(label, await makeRandomModel(opts));
const IFPRUNE: [string, Uint8Array][] = [
  ['bundled q8_0', await ifpruneFile(TINY, 'q8_0', 'bundled')],
  ['bundled q4_0 from f32', await ifpruneFile({ ...TINY, type: 'f32', tied: false }, 'q4_0', 'bundled')],
  ['bundled f16 from qwen2', await ifpruneFile({ ...TINY, type: 'f16', qkvBias: true }, 'f16', 'bundled')],
  ['standard q8_0', await ifpruneFile(TINY, 'q8_0', 'standard')],
];

/** A GPT-2 (byte-level BPE) tokenizer in place of the random model's SentencePiece one. */
async function gpt2File(withUnk: boolean): Promise<Uint8Array> {
  return withMetadata(randomFiles.get('llama q8_0 tied')!, (m, types) => {
    const tokens = Array.from({ length: 300 }, (_, i) => (i < 256 ? String.fromCodePoint(0x100 + i) : `Ġw${i}`));
    for (const k of Object.keys(m)) if (k.startsWith('tokenizer.')) delete m[k];
    m['tokenizer.ggml.model'] = 'gpt2';
    types['tokenizer.ggml.model'] = { type: T.STRING };
    m['tokenizer.ggml.tokens'] = tokens;
    types['tokenizer.ggml.tokens'] = { type: T.ARRAY, itemType: T.STRING };
    m['tokenizer.ggml.merges'] = ['Ġ w', 'w 1', 'Ġw 12', 'a "b\\ c'];
    types['tokenizer.ggml.merges'] = { type: T.ARRAY, itemType: T.STRING };
    m['tokenizer.ggml.eos_token_id'] = 299;
    types['tokenizer.ggml.eos_token_id'] = { type: T.UINT32 };
    if (withUnk) {
      m['tokenizer.ggml.unknown_token_id'] = 5n;
      types['tokenizer.ggml.unknown_token_id'] = { type: T.UINT64 };
    }
  });
}

/** 64-bit integers an f64 cannot hold (2^53 + 1, 2^64 - 1, -2^63, ...), as arrays and scalars. */
const EXACT_64: Record<string, bigint | BigUint64Array | BigInt64Array> = {
  'test.u64s': BigUint64Array.from([0n, 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 0x0123456789abcdefn]),
  'test.i64s': BigInt64Array.from([-1n, -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 53n) - 3n, 42n]),
  'test.u64s_empty': new BigUint64Array(0),
  'test.u64': 2n ** 64n - 2n,
  'test.i64': -(2n ** 62n) - 7n,
};

/** ifp-demo with always-on neurons (ifprune.shared.N), unsorted, one layer empty, one absent. */
const DEMO_SHARED = await withMetadata(DEMO, (m, types) => {
  const add = (l: number, ids: number[]) => {
    m[PRED.shared(l)] = Uint32Array.from(ids);
    types[PRED.shared(l)] = { type: T.ARRAY, itemType: T.UINT32 };
  };
  add(0, [700, 3, 512, 4]);
  add(1, []);
  add(3, [767, 0]);
});

// ---------------------------------------------------------------------------------------------------

const parse = suite('parseModelHeader');

parse('stories260K.gguf: config, tensors, metadata and tokenizer equal the TS parse', async () => {
  const as = await compare(STORIES_GGUF, 'stories260K.gguf', 'stories260K.gguf');
  assert.is(as.spec.tokenizer.tokens.length, 512);
  assert.is(as.spec.ifprune, null);
});

parse('ifp-demo: bundles, chunk hashes, permutations, predictor and static ranking equal the TS', async () => {
  const as = await compare(DEMO, 'ifp-demo', 'ifp-demo.q8_0.gguf');
  assert.is(as.spec.ifprune.bundles.length, 4);
  assert.ok(as.spec.ifprune.predictor);
  assert.ok(as.spec.ifprune.hasStatic);
});

parse('ifprune.shared.N: always-on neurons per layer, sorted, equal readCalibration', async () => {
  const as = await compare(DEMO_SHARED, 'shared');
  assert.equal(as.spec.ifprune.shared, [[3, 4, 512, 700], [], [], [0, 767]]);
});

parse('stories260K.bin (llama2.c): config and tensors under GGUF names equal the TS parse', async () => {
  const as = await compare(STORIES_BIN, 'stories260K.bin', 'stories260K.bin');
  assert.is(as.spec.tokenizer, null);
  assert.is(as.spec.headerBytes, 28);
});

parse('random GGUFs (llama, qwen2; f32, f16, q8_0, q4_0; tied and untied) equal the TS parse', async () => {
  for (const [label, bytes] of randomFiles) await compare(bytes, label);
});

parse('SmolLM2-135M and Qwen2-shaped headers (49152 tokens, 30 layers; data not materialised) equal the TS parse', async () => {
  for (const [label, opts] of [['smollm2-135m q8_0', { ...SHAPES['smollm2-135m'], type: 'q8_0' }], ['qwen2-shaped f16', { ...SHAPES['smollm2-135m'], nLayers: 4, type: 'f16', qkvBias: true, tied: false }]] as const) {
    const { layout } = planRandomModel(opts as RandomModelOptions);
    const ts = await tsParse(layout.header, label, layout.totalBytes);
    const as = asParse(layout.header, label, 4096, 'double', layout.totalBytes);
    assertSame(as, ts, label);
    assert.is(as.spec.tokenizer.tokens.length, 49152, label);
    const cut = layout.header.slice(0, layout.header.length - 100);
    assertSame(asParse(cut, label, 4096, 'double', cut.length), await tsParse(cut, label), `${label}: cut header`);
  }
});

parse('ifprune files from convert (bundled, standard; q8_0, q4_0, f16) equal the TS parse', async () => {
  for (const [label, bytes] of IFPRUNE) {
    const as = await compare(bytes, label);
    assert.ok(as.spec.ifprune, label);
  }
});

parse('gpt2 tokenizer: merges, no scores, bos -1, unk only when given (64-bit id), no BOS or space prefix', async () => {
  const none = await compare(await gpt2File(false), 'gpt2');
  assert.is(none.spec.tokenizer.unkId, -1);
  assert.is(none.spec.tokenizer.bosId, -1);
  assert.is(none.spec.tokenizer.merges.length, 4);
  const unk = await compare(await gpt2File(true), 'gpt2 + unk');
  assert.is(unk.spec.tokenizer.unkId, 5);
});

parse('64-bit integer metadata (arrays and scalars) keeps every bit: the same decimal values as the TS BigInts', async () => {
  const bytes = await withMetadata(randomFiles.get('llama q8_0 tied')!, (m, types) => {
    for (const [k, v] of Object.entries(EXACT_64)) {
      m[k] = v;
      types[k] = Array.isArray(v) || ArrayBuffer.isView(v) ? { type: T.ARRAY, itemType: v instanceof BigInt64Array ? T.INT64 : T.UINT64 } : { type: typeof v === 'bigint' && v < 0n ? T.INT64 : T.UINT64 };
    }
  });
  const as = await compare(bytes, '64-bit metadata');
  const exact = (x: bigint | BigUint64Array | BigInt64Array): Json => (typeof x === 'bigint' ? x.toString() : Array.from(x, (b) => b.toString()));
  for (const [k, v] of Object.entries(EXACT_64)) assert.equal(as.spec.meta[k][3], exact(v), k);
  // and the chunk hashes of an ifprune file, which are such an array (hashes above 2^53 are the common case)
  const demo = asParse(DEMO);
  const hashes = demo.spec.meta['ifprune.chunk_hashes.token_embd.weight'][3] as string[];
  assert.ok(hashes.some((h) => BigInt(h) > 2n ** 53n), 'some hash above 2^53');
  assert.equal(hashes.map((h) => hex(BigInt(h))), demo.spec.ifprune.chunks.find((c: Json) => c[0] === 'token_embd.weight')[4]);
});

parse('headerNeed: a small first window grows to the same parse (exact and doubling hosts)', async () => {
  const files: [string, Uint8Array, string][] = [['stories260K.gguf', STORIES_GGUF, 'stories260K.gguf'], ['ifp-demo', DEMO, 'ifp-demo.q8_0.gguf'], ['stories260K.bin', STORIES_BIN, 'stories260K.bin'], ...IFPRUNE.map(([l, b]): [string, Uint8Array, string] => [l, b, 'x.gguf'])];
  for (const [label, bytes, name] of files) {
    const whole = asParse(bytes, name);
    assert.is(whole.rounds, 1, `${label}: whole file in one call`);
    for (const window of [0, 1, 16, 63, 64, 100, 1000]) {
      const doubled = asParse(bytes, name, window, 'double');
      assert.equal(doubled.spec, whole.spec, `${label}: window ${window}, doubling`);
      assert.ok(doubled.rounds! <= 40, `${label}: window ${window}: ${doubled.rounds} rounds`);
    }
    if (bytes.length < 2_000_000) assert.equal(asParse(bytes, name, 64, 'exact').spec, whole.spec, `${label}: exact headerNeed growth`);
  }
});

parse('headerNeed: a host growing to exactly headerNeed reads the header and nothing more', () => {
  for (const [bytes, name] of [[STORIES_GGUF, 'stories260K.gguf'], [DEMO, 'ifp-demo.q8_0.gguf'], [STORIES_BIN, 'stories260K.bin']] as const) {
    const as = asParse(bytes, name, 0, 'exact');
    assert.ok(as.spec, name);
    assert.ok(as.offered! <= Math.max(64, as.spec.headerBytes), `${name}: offered ${as.offered} bytes for a ${as.spec.headerBytes}-byte header`);
  }
});

// ---------------------------------------------------------------------------------------------------

const bad = suite('parseModelHeader: bad input');

/** Cut points: every byte of the first 300, then spread over the header, then a few in the data. */
function cutPoints(bytes: Uint8Array, headerEnd: number, r: () => number): number[] {
  const cuts = new Set<number>();
  for (let i = 0; i < Math.min(300, headerEnd); i++) cuts.add(i);
  for (let i = 0; i < 150; i++) cuts.add(Math.floor(r() * headerEnd));
  for (let i = 0; i < 10; i++) cuts.add(headerEnd + Math.floor(r() * (bytes.length - headerEnd)));
  cuts.add(bytes.length - 1);
  return [...cuts].sort((a, b) => a - b);
}

bad('truncated files end in the TS code at every cut point (whole buffer, and windowed)', async () => {
  const r = rng(11);
  const files: [string, Uint8Array, number][] = [
    ['stories260K.gguf', STORIES_GGUF, asParse(STORIES_GGUF).spec.dataOffset],
    ['bundled q8_0', IFPRUNE[0]![1], asParse(IFPRUNE[0]![1]).spec.dataOffset],
    ['stories260K.bin', STORIES_BIN, 28],
  ];
  for (const [label, bytes, headerEnd] of files) {
    for (const cut of cutPoints(bytes, headerEnd, r)) {
      const part = bytes.slice(0, cut);
      const ts = await tsParse(part, label);
      assert.ok(ts.code, `${label} cut at ${cut}: the TS parse fails`);
      assertSame(asParse(part, label), ts, `${label} cut at ${cut}`);
      if (cut % 7 === 0) assertSame(asParse(part, label, 32, 'double'), ts, `${label} cut at ${cut}, windowed`);
    }
  }
});

bad('a safetensors file is refused as unsupported (the TS asks for its config.json: bad_option)', async () => {
  const c = patch64(STORIES_GGUF, 0, 100n);
  c[8] = 0x7b;
  assert.is((await tsParse(c)).code, 'bad_option');
  assert.is(asParse(c).code, 'unsupported');
});

bad('single byte flips in the header: same code, or the same parse', async () => {
  const r = rng(5);
  const files: [string, Uint8Array][] = [['stories260K.gguf', STORIES_GGUF], ['bundled q8_0', IFPRUNE[0]![1]], ['ifp-demo', DEMO_SHARED], ['stories260K.bin', STORIES_BIN]];
  for (const [label, bytes] of files) {
    const headerEnd = Math.max(28, asParse(bytes).spec.dataOffset);
    for (let i = 0; i < FLIP_CASES / files.length; i++) {
      const copy = bytes.slice();
      // half the flips in the first 64 bytes (magic, version, counts, the first keys), half anywhere in the header
      const at = Math.floor(r() * (i % 2 ? headerEnd : Math.min(64, headerEnd)));
      copy[at] ^= 1 << Math.floor(r() * 8);
      const label2 = `${label}: flip at ${at}`;
      assertSame(asParse(copy, label), await tsParse(copy, label), label2);
    }
  }
});

bad('random 32- and 64-bit values written over header fields: same code, or the same parse', async () => {
  const r = rng(17);
  const files: [string, Uint8Array][] = [['stories260K.gguf', STORIES_GGUF], ['bundled q4_0', IFPRUNE[1]![1]]];
  const VALUES = [0n, 1n, 2n, 3n, 31n, 1n << 31n, (1n << 32n) - 1n, (1n << 53n) - 1n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n];
  for (const [label, bytes] of files) {
    const headerEnd = asParse(bytes).spec.dataOffset;
    for (let i = 0; i < FLIP_CASES / 2; i++) {
      const at = Math.floor(r() * (headerEnd - 8));
      const v = i % 4 === 3 ? BigInt(bytes.length - Math.floor(r() * 64)) : VALUES[Math.floor(r() * VALUES.length)]!;
      const copy = i % 2 ? patch64(bytes, at, v) : patch32(bytes, at, Number(v & 0xffffffffn));
      assertSame(asParse(copy, label), await tsParse(copy, label), `${label}: ${i % 2 ? 64 : 32}-bit ${v} at ${at}`);
    }
  }
});

/** The byte offset just after the first occurrence of the UTF-8 of `s` (a key or tensor name). */
function after(bytes: Uint8Array, s: string): number {
  const k = new TextEncoder().encode(s);
  outer: for (let i = 0; i + k.length <= bytes.length; i++) {
    for (let j = 0; j < k.length; j++) if (bytes[i + j] !== k[j]) continue outer;
    return i + k.length;
  }
  throw new Error(`${s} not found`);
}

function patch64(bytes: Uint8Array, at: number, v: bigint): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigUint64(at, v, true);
  return copy;
}
function patch32(bytes: Uint8Array, at: number, v: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(at, v, true);
  return copy;
}

bad('huge counts and lengths are truncated / corrupt before anything is allocated', async () => {
  const g = STORIES_GGUF;
  const tokensAt = after(g, 'tokenizer.ggml.tokens'); // then item type, array type, count
  const embdAt = after(g, 'token_embd.weight'); // then n_dims, dims, type, offset
  const cases: [string, Uint8Array][] = [
    ['tensor count 2^40', patch64(g, 8, 1n << 40n)],
    ['tensor count 2^63', patch64(g, 8, 1n << 63n)],
    ['key/value count 2^50', patch64(g, 16, 1n << 50n)],
    ['first key length 2^60', patch64(g, 24, 1n << 60n)],
    ['first key length 2^53 - 1', patch64(g, 24, (1n << 53n) - 1n)],
    ['first key length past the end', patch64(g, 24, BigInt(g.length))],
    ['tokens array count 2^40', patch64(g, tokensAt + 8, 1n << 40n)],
    ['tokens array count 2^62', patch64(g, tokensAt + 8, 1n << 62n)],
    ['tokens array item type 13', patch32(g, tokensAt + 4, 13)],
    ['tokens array of arrays', patch32(g, tokensAt + 4, T.ARRAY)],
    ['value type 99', patch32(g, tokensAt, 99)],
    ['n_dims 0', patch32(g, embdAt, 0)],
    ['n_dims 5', patch32(g, embdAt, 5)],
    ['dim 2^52', patch64(g, embdAt + 4, 1n << 52n)],
    ['dim 2^64 - 1', patch64(g, embdAt + 4, (1n << 64n) - 1n)],
    ['dims overflowing 2^53', patch64(patch64(g, embdAt + 4, 1n << 30n), embdAt + 12, 1n << 30n)],
    ['type id 12 (Q4_K)', patch32(g, embdAt + 20, 12)],
    ['type id 2^31', patch32(g, embdAt + 20, 0x80000000)],
    ['offset past the end', patch64(g, embdAt + 24, BigInt(g.length) & ~31n)],
    ['offset not aligned', patch64(g, embdAt + 24, 8n)],
    ['offset 2^60', patch64(g, embdAt + 24, 1n << 60n)],
    ['version 1', patch32(g, 4, 1)],
    ['version 7', patch32(g, 4, 7)],
    ['big-endian version 3', patch32(g, 4, 0x03000000)],
    ['magic GGUE', patch32(g, 0, 0x45554747)],
    ['llama2.c export v2 magic', patch32(g, 0, 0x616b3432)],
    ['empty file', new Uint8Array(0)],
    ['3 bytes', g.slice(0, 3)],
    ['llama2.c: n_heads 0', patch32(STORIES_BIN, 12, 0)],
    ['llama2.c: vocab -2^31', patch32(STORIES_BIN, 20, 0x80000000)],
    ['llama2.c: layers 2^20', patch32(STORIES_BIN, 8, 1 << 20)],
    ['llama2.c: one byte short', STORIES_BIN.slice(0, STORIES_BIN.length - 1)],
  ];
  const aligned64 = await withMetadata(g, (m, t) => ((m['general.alignment'] = 64), (t['general.alignment'] = { type: T.UINT32 })));
  const alignAt = after(aligned64, 'general.alignment') + 4;
  cases.push(['general.alignment 48', patch32(aligned64, alignAt, 48)], ['general.alignment 0', patch32(aligned64, alignAt, 0)]);
  cases.push(['general.alignment as UINT64', patch32(aligned64, alignAt - 4, T.UINT64)]);
  for (const [label, bytes] of cases) {
    const ts = await tsParse(bytes, label);
    assert.ok(ts.code, `${label}: the TS parse fails`);
    assertSame(asParse(bytes, label), ts, label);
    assertSame(asParse(bytes, label, 40, 'exact'), ts, `${label}, windowed`);
  }
});

/** Metadata edits and the code both parsers must report. */
const META_CASES: [string, string, (m: Record<string, GGUFValue>, t: Record<string, GGUFType>) => void][] = [
  ['general.architecture missing', 'corrupt', (m) => delete m['general.architecture']],
  ['architecture gpt2', 'unsupported', (m) => (m['general.architecture'] = 'gpt2')],
  ['rope scaling linear', 'unsupported', (m, t) => ((m['llama.rope.scaling.type'] = 'linear'), (t['llama.rope.scaling.type'] = { type: T.STRING }))],
  ['rope scaling none', 'ok', (m, t) => ((m['llama.rope.scaling.type'] = 'none'), (t['llama.rope.scaling.type'] = { type: T.STRING }))],
  ['embedding_length a string', 'corrupt', (m, t) => ((m['llama.embedding_length'] = '64'), (t['llama.embedding_length'] = { type: T.STRING }))],
  ['embedding_length a bool', 'corrupt', (m, t) => ((m['llama.embedding_length'] = true), (t['llama.embedding_length'] = { type: T.BOOL }))],
  ['embedding_length 2^60 (UINT64)', 'corrupt', (m, t) => ((m['llama.embedding_length'] = 1n << 60n), (t['llama.embedding_length'] = { type: T.UINT64 }))],
  ['embedding_length 64 as FLOAT64', 'ok', (m, t) => ((m['llama.embedding_length'] = 64), (t['llama.embedding_length'] = { type: T.FLOAT64 }))],
  ['head_count 3', 'corrupt', (m) => (m['llama.attention.head_count'] = 3)],
  ['head_count_kv 3', 'corrupt', (m) => (m['llama.attention.head_count_kv'] = 3)],
  ['feed_forward_length 97', 'corrupt', (m) => (m['llama.feed_forward_length'] = 97)],
  ['block_count 3', 'corrupt', (m) => (m['llama.block_count'] = 3)],
  ['context_length missing', 'corrupt', (m) => delete m['llama.context_length']],
  ['rms epsilon 2', 'corrupt', (m) => (m['llama.attention.layer_norm_rms_epsilon'] = 2)],
  ['rope base 1', 'corrupt', (m) => (m['llama.rope.freq_base'] = 1)],
  ['rope dimension 15', 'corrupt', (m) => (m['llama.rope.dimension_count'] = 15)],
  ['general.alignment 64', 'ok', (m, t) => ((m['general.alignment'] = 64), (t['general.alignment'] = { type: T.UINT32 }))],
  ['tokenizer model bert', 'unsupported', (m) => (m['tokenizer.ggml.model'] = 'bert')],
  ['tokens not strings', 'corrupt', (m, t) => ((m['tokenizer.ggml.tokens'] = new Int32Array(320)), (t['tokenizer.ggml.tokens'] = { type: T.ARRAY, itemType: T.INT32 }))],
  ['more tokens than embeddings', 'corrupt', (m) => (m['tokenizer.ggml.tokens'] = Array.from({ length: 321 }, (_, i) => `t${i}`))],
  ['scores one short', 'corrupt', (m) => (m['tokenizer.ggml.scores'] = new Float32Array(319))],
  ['scores as UINT64', 'corrupt', (m, t) => ((m['tokenizer.ggml.scores'] = new BigUint64Array(320)), (t['tokenizer.ggml.scores'] = { type: T.ARRAY, itemType: T.UINT64 }))],
  ['token types as bools', 'corrupt', (m, t) => ((m['tokenizer.ggml.token_type'] = Array(320).fill(true)), (t['tokenizer.ggml.token_type'] = { type: T.ARRAY, itemType: T.BOOL }))],
  ['merges not strings', 'corrupt', (m, t) => ((m['tokenizer.ggml.merges'] = new Uint8Array(3)), (t['tokenizer.ggml.merges'] = { type: T.ARRAY, itemType: T.UINT8 }))],
  ['bos id 320', 'corrupt', (m) => (m['tokenizer.ggml.bos_token_id'] = 320)],
  ['eos id -2', 'corrupt', (m, t) => ((m['tokenizer.ggml.eos_token_id'] = -2), (t['tokenizer.ggml.eos_token_id'] = { type: T.INT32 }))],
  ['unk id 1.5', 'corrupt', (m, t) => ((m['tokenizer.ggml.unknown_token_id'] = 1.5), (t['tokenizer.ggml.unknown_token_id'] = { type: T.FLOAT32 }))],
  ['add_bos_token 1', 'corrupt', (m, t) => ((m['tokenizer.ggml.add_bos_token'] = 1), (t['tokenizer.ggml.add_bos_token'] = { type: T.UINT8 }))],
  ['no tokenizer', 'ok', (m) => { for (const k of Object.keys(m)) if (k.startsWith('tokenizer.')) delete m[k]; }],
];

bad('metadata the model needs: missing, mistyped or inconsistent → the TS code', async () => {
  const base = randomFiles.get('llama q8_0 tied')!;
  for (const [label, code, edit] of META_CASES) {
    const bytes = await withMetadata(base, edit);
    const ts = await tsParse(bytes, label);
    assert.is(ts.code ?? 'ok', code, `${label}: TS code (${ts.message})`);
    assertSame(asParse(bytes, label), ts, label);
  }
});

const IFPRUNE_CASES: [string, string, (m: Record<string, GGUFValue>, t: Record<string, GGUFType>) => void][] = [
  ['format major 2', 'bad_version', (m) => (m['ifprune.version.major'] = 2)],
  ['format major 0', 'corrupt', (m) => (m['ifprune.version.major'] = 0)],
  ['format major as UINT64', 'corrupt', (m, t) => ((m['ifprune.version.major'] = 1n), (t['ifprune.version.major'] = { type: T.UINT64 }))],
  ['format minor a string', 'corrupt', (m, t) => ((m['ifprune.version.minor'] = '0'), (t['ifprune.version.minor'] = { type: T.STRING }))],
  ['layout diagonal', 'corrupt', (m) => (m['ifprune.layout'] = 'diagonal')],
  ['layout standard with bundles', 'corrupt', (m) => (m['ifprune.layout'] = 'standard')],
  ['type q5_k', 'corrupt', (m) => (m['ifprune.type'] = 'q5_k')],
  ['hash algorithm md5', 'unsupported', (m) => (m['ifprune.hash.algorithm'] = 'md5')],
  ['hash algorithm missing', 'corrupt', (m) => delete m['ifprune.hash.algorithm']],
  ['chunk hashes of a tensor missing', 'corrupt', (m) => delete m['ifprune.chunk_hashes.output_norm.weight']],
  ['chunk bytes not whole rows', 'corrupt', (m) => (m['ifprune.chunk_bytes.token_embd.weight'] = 70n)],
  ['chunk bytes 0', 'corrupt', (m) => (m['ifprune.chunk_bytes.token_embd.weight'] = 0n)],
  ['bundle chunk of two rows', 'corrupt', (m) => (m['ifprune.chunk_bytes.blk.0.ffn_bundle'] = BigInt(2 * 3 * 68))],
  ['chunk hashes one short', 'corrupt', (m) => (m['ifprune.chunk_hashes.blk.1.ffn_bundle'] = (m['ifprune.chunk_hashes.blk.1.ffn_bundle'] as BigUint64Array).slice(1))],
  ['chunk hashes as INT64', 'corrupt', (m, t) => (t['ifprune.chunk_hashes.output_norm.weight'] = { type: T.ARRAY, itemType: T.INT64 }, m['ifprune.chunk_hashes.output_norm.weight'] = new BigInt64Array(m['ifprune.chunk_hashes.output_norm.weight'] as BigUint64Array))],
  ['chunk key for no tensor', 'corrupt', (m, t) => ((m['ifprune.chunk_bytes.nothing'] = 32n), (t['ifprune.chunk_bytes.nothing'] = { type: T.UINT64 }))],
  ['perm not a permutation', 'corrupt', (m, t) => ((m['ifprune.perm.0'] = new Uint32Array(96).fill(1)), (t['ifprune.perm.0'] = { type: T.ARRAY, itemType: T.UINT32 }))],
  ['perm a valid permutation', 'ok', (m, t) => ((m['ifprune.perm.1'] = Uint32Array.from({ length: 96 }, (_, i) => 95 - i)), (t['ifprune.perm.1'] = { type: T.ARRAY, itemType: T.UINT32 }))],
  ['perm too short', 'corrupt', (m, t) => ((m['ifprune.perm.0'] = Uint32Array.from({ length: 95 }, (_, i) => i)), (t['ifprune.perm.0'] = { type: T.ARRAY, itemType: T.UINT32 }))],
  ['source bytes a string', 'corrupt', (m, t) => ((m['ifprune.source.bytes'] = 'many'), (t['ifprune.source.bytes'] = { type: T.STRING }))],
  ['converter a number', 'corrupt', (m, t) => ((m['ifprune.converter'] = 3), (t['ifprune.converter'] = { type: T.UINT32 }))],
  ['shared id = n_ff', 'corrupt', (m, t) => ((m['ifprune.shared.1'] = Uint32Array.from([1, 96])), (t['ifprune.shared.1'] = { type: T.ARRAY, itemType: T.UINT32 }))],
  ['predictor kind transformer', 'unsupported', (m, t) => ((m['ifprune.pred.kind'] = 'transformer'), (t['ifprune.pred.kind'] = { type: T.STRING }))],
  ['predictor without its tensors', 'corrupt', (m, t) => {
    m['ifprune.pred.kind'] = 'deepsets-mlp';
    t['ifprune.pred.kind'] = { type: T.STRING };
    for (const k of ['token_dim', 'hidden', 'window']) ((m[`ifprune.pred.${k}`] = 8), (t[`ifprune.pred.${k}`] = { type: T.UINT32 }));
  }],
];

/** ifp-demo's predictor turned into the codebook kind without a codebook (edits of DEMO's metadata). */
const CODEBOOK_CASES: [string, (m: Record<string, GGUFValue>, t: Record<string, GGUFType>) => void][] = [
  ['codebook kind without codebook_size', (m) => (m['ifprune.pred.kind'] = 'deepsets-mlp-codebook')],
  ['codebook kind with codebook_size 0', (m, t) => ((m['ifprune.pred.kind'] = 'deepsets-mlp-codebook'), (m['ifprune.pred.codebook_size'] = 0), (t['ifprune.pred.codebook_size'] = { type: T.UINT32 }))],
  ['codebook kind without the codebook tensor', (m, t) => ((m['ifprune.pred.kind'] = 'deepsets-mlp-codebook'), (m['ifprune.pred.codebook_size'] = 4), (t['ifprune.pred.codebook_size'] = { type: T.UINT32 }))],
];

bad('ifprune metadata: damaged version, layout, chunk hashes, permutations, calibration → the TS code', async () => {
  const base = IFPRUNE[0]![1]; // bundled q8_0, dim 64: a bundle row is 3 × 68 bytes
  for (const [label, code, edit] of IFPRUNE_CASES) {
    const bytes = await withMetadata(base, edit);
    const ts = await tsParse(bytes, label); // readCalibration inside is the oracle for the shared / predictor keys
    assert.is(ts.code ?? 'ok', code, `${label}: TS code (${ts.message})`);
    assertSame(asParse(bytes, label), ts, label);
  }
  // predictor tensors whose sizes disagree with ifprune.pred.* (ifp-demo: H 128, U 256)
  for (const [key, value] of [['ifprune.pred.token_dim', 64], ['ifprune.pred.hidden', 255], ['ifprune.pred.window', 'x']] as const) {
    const bytes = await withMetadata(DEMO, (m, t) => ((m[key] = value), typeof value === 'string' && (t[key] = { type: T.STRING })));
    const ts = await tsParse(bytes, key);
    assert.is(ts.code ?? 'ok', typeof value === 'string' ? 'ok' : 'corrupt', `${key} = ${value}: TS code`);
    if (typeof value === 'string') assert.is(asParse(bytes, key).code, 'corrupt', 'a window that is not a number: corrupt here (the TS reads NaN)');
    else assertSame(asParse(bytes, key), ts, `${key} = ${value}`);
  }
  for (const [label, edit] of CODEBOOK_CASES) {
    const bytes = await withMetadata(DEMO, edit);
    const ts = await tsParse(bytes, label);
    assert.is(ts.code, 'corrupt', `${label}: TS code (${ts.message})`);
    assertSame(asParse(bytes, label), ts, label);
  }
  // ifprune.pred.codebook_route: C entry indices below C (the fixture's C is 4)
  const route = (v: GGUFValue, type: GGUFType) => (m: Record<string, GGUFValue>, t: Record<string, GGUFType>) => ((m[PRED.codebookRoute] = v), (t[PRED.codebookRoute] = type));
  const u32s = { type: T.ARRAY, itemType: T.UINT32 } as GGUFType;
  for (const [label, code, edit] of [
    ['the fixture as written', 'ok', () => {}],
    ['route identity', 'ok', route(Uint32Array.of(0, 1, 2, 3), u32s)],
    ['route of 3 entries for 4', 'corrupt', route(Uint32Array.of(0, 1, 2), u32s)],
    ['route entry = C', 'corrupt', route(Uint32Array.of(0, 1, 4, 3), u32s)],
    ['route a string', 'corrupt', route('0,1,2,3', { type: T.STRING })],
  ] as const) {
    const bytes = await withMetadata(CODEBOOK_FIXTURE, edit);
    const ts = await tsParse(bytes, label);
    assert.is(ts.code ?? 'ok', code, `${label}: TS code (${ts.message})`);
    assertSame(asParse(bytes, label), ts, label);
  }
});

// ---------------------------------------------------------------------------------------------------

const tok = suite('parseTokenizerBin');

function asTokenizer(bytes: Uint8Array, expectedVocab: number): Outcome {
  const p = rt.put(bytes);
  const [np, nl] = rt.putString('tokenizer.bin');
  try {
    ex.rt_clear_error();
    const s = ex.fmt_tokenizer_bin(p, bytes.length, expectedVocab, np, nl) >>> 0;
    if (s) return { spec: JSON.parse(rt.str(s)) };
    return { code: rt.errorCode(), message: rt.str(ex.rt_error_message()) };
  } finally {
    ex.rt_free(p);
    ex.rt_free(np);
  }
}

function tsTokenizer(bytes: Uint8Array, expectedVocab: number): Outcome {
  try {
    return { spec: tokenizerJson(parseTokenizerBin(bytes, expectedVocab === 0 ? undefined : expectedVocab)) };
  } catch (e) {
    if (isIfpruneError(e)) return { code: e.code, message: e.message };
    throw e;
  }
}

function sameTokenizer(bytes: Uint8Array, expectedVocab: number, label: string): Outcome {
  const as = asTokenizer(bytes, expectedVocab);
  const ts = tsTokenizer(bytes, expectedVocab);
  if (ts.code || as.code) assert.is(as.code, ts.code, `${label}: code (AS: ${as.message ?? 'parsed'}; TS: ${ts.message ?? 'parsed'})`);
  else assert.equal(as.spec, ts.spec, label);
  return as;
}

tok('tok512.bin: pieces, scores, types and ids equal the TS parse (vocab given, and read to the end)', () => {
  const as = sameTokenizer(TOK512, 512, 'vocab 512');
  assert.is(as.spec.tokens.length, 512);
  assert.is(as.spec.tokens[1], '<s>');
  sameTokenizer(TOK512, 0, 'to the end');
});

tok('truncations, a smaller vocab, flipped bytes and invalid UTF-8 → the TS code', () => {
  for (let cut = 0; cut < TOK512.length; cut += cut < 64 ? 1 : 37) sameTokenizer(TOK512.slice(0, cut), 512, `cut at ${cut}`);
  sameTokenizer(TOK512, 100, 'vocab 100: bytes left over');
  sameTokenizer(TOK512, 600, 'vocab 600: ends early');
  sameTokenizer(TOK512, 2, 'vocab 2');
  assert.is(asTokenizer(TOK512, -1).code, 'bad_option');
  const r = rng(3);
  for (let i = 0; i < 200; i++) {
    const copy = TOK512.slice();
    const at = Math.floor(r() * copy.length);
    copy[at] ^= 1 << Math.floor(r() * 8);
    sameTokenizer(copy, 512, `flip at ${at}`);
    sameTokenizer(copy, 0, `flip at ${at}, to the end`);
  }
  // invalid UTF-8 in a piece: a lone continuation byte, an overlong "/", a surrogate, a cut sequence
  for (const bad of [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x96]]) {
    const piece = Uint8Array.from(bad);
    const bytes = new Uint8Array(4 + 3 * 8 + '<unk><s></s>'.length + 8 + piece.length);
    const v = new DataView(bytes.buffer);
    v.setInt32(0, 8, true);
    let o = 4;
    for (const p of ['<unk>', '<s>', '</s>']) {
      v.setInt32(o + 4, p.length, true);
      bytes.set(new TextEncoder().encode(p), o + 8);
      o += 8 + p.length;
    }
    v.setInt32(o + 4, piece.length, true);
    bytes.set(piece, o + 8);
    const as = sameTokenizer(bytes, 0, `bytes ${bad}`);
    assert.is(as.code, 'corrupt');
  }
});

// ---------------------------------------------------------------------------------------------------

const hash = suite('xxh64');

function asXxh(bytes: Uint8Array, seed = 0n, misalign = 0): bigint {
  const p = ex.rt_alloc(bytes.length + 8) >>> 0;
  try {
    rt.u8.set(bytes, p + misalign);
    return BigInt.asUintN(64, ex.fmt_xxh64(p + misalign, bytes.length, seed));
  } finally {
    ex.rt_free(p);
  }
}

hash('every length 0..300 (all tail paths), several seeds and misalignments: equals the TS xxh64', () => {
  const r = rng(9);
  const data = Uint8Array.from({ length: MAX_XXH_LEN + 1 }, () => Math.floor(r() * 256));
  for (let n = 0; n <= MAX_XXH_LEN; n++) {
    const b = data.subarray(0, n);
    const seed = n % 3 === 0 ? 0n : (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
    assert.is(asXxh(b, seed, n % 8), xxh64(b, seed), `length ${n}, seed ${seed}`);
  }
});

hash('known values (xxhsum -H1) and a 3 MB input', () => {
  assert.is(asXxh(new Uint8Array(0)), 0xef46db3751d8e999n);
  assert.is(asXxh(new TextEncoder().encode('abc')), 0x44bc2cf5ad770999n);
  const r = rng(4);
  const big = Uint8Array.from({ length: 3 * 1024 * 1024 + 5 }, () => Math.floor(r() * 256));
  assert.is(asXxh(big), xxh64(big));
});

// ---------------------------------------------------------------------------------------------------

const verify = suite('verifyTensorBytes');

function asVerify(tensor: string, offset: number, bytes: Uint8Array): string {
  const p = rt.put(bytes);
  const [np, nl] = rt.putString(tensor);
  try {
    ex.rt_clear_error();
    return ex.fmt_verify(np, nl, offset, p, bytes.length) ? 'ok' : rt.errorCode();
  } finally {
    ex.rt_free(p);
    ex.rt_free(np);
  }
}

verify('ifp-demo: every tensor verifies whole, bundle rows one by one, and a flipped byte is a hash_mismatch', () => {
  const spec = asParse(DEMO, 'ifp-demo.q8_0.gguf').spec;
  for (const [name, , , offset, bytes] of spec.tensors as [string, number, number[], number, number][]) {
    assert.is(asVerify(name, 0, DEMO.subarray(offset, offset + bytes)), 'ok', name);
  }
  const b = spec.ifprune.bundles[2];
  for (const [row, rows] of [[0, 1], [1, 3], [100, 17], [b.nFF - 1, 1]]) {
    const at = b.offset + row * b.rowBytes; // a bundle's chunks are its rows
    assert.is(asVerify(b.name, row * b.rowBytes, DEMO.subarray(at, at + rows * b.rowBytes)), 'ok', `${rows} rows from ${row}`);
  }
  const r = rng(8);
  for (let i = 0; i < 20; i++) {
    const [name, , , offset, bytes] = spec.tensors[Math.floor(r() * spec.tensors.length)];
    const copy = DEMO.slice(offset, offset + bytes);
    copy[Math.floor(r() * bytes)] ^= 1 << Math.floor(r() * 8);
    assert.is(asVerify(name, 0, copy), 'hash_mismatch', name);
  }
});

verify('ranges: not chunk-aligned or outside the tensor → bad_option; unknown tensor → not_found; plain GGUF → true', () => {
  const spec = asParse(DEMO, 'ifp-demo.q8_0.gguf').spec;
  const b = spec.ifprune.bundles[0];
  const row = DEMO.subarray(b.offset, b.offset + b.rowBytes);
  assert.is(asVerify(b.name, 1, row.subarray(1)), 'bad_option', 'mid-row start');
  assert.is(asVerify(b.name, 0, row.subarray(0, b.rowBytes - 1)), 'bad_option', 'short of the row end');
  assert.is(asVerify(b.name, b.bytes, row), 'bad_option', 'past the end');
  assert.is(asVerify(b.name, 2 ** 52, row), 'bad_option', 'far past the end');
  assert.is(asVerify(b.name, 0, new Uint8Array(0)), 'ok', 'empty range');
  assert.is(asVerify('blk.9.ffn_bundle', 0, row), 'not_found');
  asParse(STORIES_GGUF, 'stories260K.gguf');
  assert.is(asVerify('token_embd.weight', 3, new Uint8Array(5)), 'ok', 'no ifprune info: nothing to verify');
});

parse.run();
bad.run();
tok.run();
hash.run();
verify.run();
