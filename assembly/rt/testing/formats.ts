// Test-only exports for assembly/rt (formats) (build: node tools/build.mjs rt-test:formats). Prefix every export with fmt_.
// test/rt-formats.test.ts compares what these return with the TS parsers (src/formats/*) on the same bytes.
export * from '../abi';
import { toStr, fromUtf8 } from '../abi';
import { toF32, TensorLoader } from '../tensors';
import { ModelSpec, TokenizerData, IfpruneInfo, MetaValue } from '../spec';
import { failed } from '../error';
import { parseModelHeader, parseTokenizerBin, headerNeed } from '../model-file';
import { readIfpruneInfo, verifyTensorBytes } from '../ifprune';
import { xxh64 } from '../xxh64';

export function fmt_to_f32(type: i32, src: usize, dst: usize, n: i32): bool { return toF32(type, src, dst, n); }
export function fmt_loader_smoke(): i32 { const l = new TensorLoader(new ModelSpec(), null, 'x'); l.add('a', 0); l.request(); return l.finish() ? 1 : 0; }

/** The spec and ifprune info of the last successful fmt_parse (fmt_verify checks bytes against it). */
let lastSpec: ModelSpec | null = null;
let lastInfo: IfpruneInfo | null = null;

/**
 * parseModelHeader over the first `len` bytes of a `fileSize`-byte file at buf, then readIfpruneInfo;
 * returns a str holding the spec as JSON (see specJson), or 0: failed (rt_error_code) or, without an
 * error, more bytes needed (fmt_header_need).
 */
export function fmt_parse(buf: usize, len: usize, fileSize: f64, namePtr: usize, nameLen: usize): usize {
  lastSpec = null;
  lastInfo = null;
  const spec = parseModelHeader(buf, len, <u64>fileSize, fromUtf8(namePtr, nameLen));
  if (spec == null) return 0;
  const info = spec.format == 'gguf' ? readIfpruneInfo(spec) : null;
  if (failed()) return 0;
  lastSpec = spec;
  lastInfo = info;
  return toStr(specJson(spec, info));
}

export function fmt_header_need(): f64 {
  return <f64>headerNeed;
}

/** parseTokenizerBin → a str of the tokenizer as JSON, or 0 after fail(). */
export function fmt_tokenizer_bin(buf: usize, len: usize, expectedVocab: i32, namePtr: usize, nameLen: usize): usize {
  const tok = parseTokenizerBin(buf, len, expectedVocab, fromUtf8(namePtr, nameLen));
  if (tok == null) return 0;
  const j = new Json();
  tokenizerJson(j, tok);
  return toStr(j.done());
}

export function fmt_xxh64(ptr: usize, len: usize, seed: u64): u64 {
  return xxh64(ptr, len, seed);
}

/** verifyTensorBytes against the last parsed file's info: 1 ok, 0 failed (see rt_error_code). */
export function fmt_verify(namePtr: usize, nameLen: usize, offsetInTensor: f64, ptr: usize, len: usize): i32 {
  return verifyTensorBytes(lastInfo, fromUtf8(namePtr, nameLen), <u64>offsetInTensor, ptr, len) ? 1 : 0;
}

// ---- JSON ----------------------------------------------------------------------------------------

class Json {
  parts: Array<string> = [];

  raw(s: string): Json {
    this.parts.push(s);
    return this;
  }

  /** Numbers; NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers). */
  num(x: f64): Json {
    if (isFinite(x)) return this.raw(x.toString());
    return this.raw(isNaN(x) ? '"NaN"' : x > 0 ? '"Infinity"' : '"-Infinity"');
  }

  u64(x: u64): Json {
    return this.raw(x.toString());
  }

  bool(b: bool): Json {
    return this.raw(b ? 'true' : 'false');
  }

  str(s: string): Json {
    let plain = true;
    for (let i = 0; i < s.length && plain; i++) {
      const c = s.charCodeAt(i);
      plain = c >= 0x20 && c != 0x22 && c != 0x5c;
    }
    if (plain) return this.raw('"' + s + '"');
    const out = new Array<string>();
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c == 0x22) out.push('\\"');
      else if (c == 0x5c) out.push('\\\\');
      else if (c < 0x20) out.push('\\u00' + (c < 16 ? '0' : '') + c.toString(16));
      else out.push(String.fromCharCode(c));
    }
    return this.raw('"' + out.join('') + '"');
  }

  key(k: string): Json {
    return this.str(k).raw(':');
  }

  done(): string {
    return this.parts.join('');
  }
}

function strArray(j: Json, a: Array<string>): void {
  j.raw('[');
  for (let i = 0; i < a.length; i++) (i > 0 ? j.raw(',') : j).str(a[i]);
  j.raw(']');
}

function tokenizerJson(j: Json, t: TokenizerData): void {
  j.raw('{').key('model').str(t.model).raw(',').key('tokens');
  strArray(j, t.tokens);
  j.raw(',').key('scores').raw('[');
  for (let i = 0; i < t.scores.length; i++) (i > 0 ? j.raw(',') : j).num(<f64>t.scores[i]);
  j.raw('],').key('tokenTypes').raw('[');
  for (let i = 0; i < t.tokenTypes.length; i++) (i > 0 ? j.raw(',') : j).num(<f64>t.tokenTypes[i]);
  j.raw('],').key('merges');
  strArray(j, t.merges);
  j.raw(',').key('bosId').num(t.bosId).raw(',').key('eosId').num(t.eosId).raw(',').key('unkId').num(t.unkId);
  j.raw(',').key('addBos').bool(t.addBos).raw(',').key('addSpacePrefix').bool(t.addSpacePrefix).raw('}');
}

/** [type, arrayType, count, value]: value is the number, the string, the exact 64-bit integer as a
 * decimal string, or for arrays the numbers / strings / 64-bit integers as decimal strings. */
function metaJson(j: Json, v: MetaValue): void {
  j.raw('[').num(v.type).raw(',').num(v.arrayType).raw(',').num(<f64>v.count).raw(',');
  if (v.type == 8) j.str(v.str);
  else if (v.type == 10) j.str((<u64>v.int).toString());
  else if (v.type == 11) j.str(v.int.toString());
  else if (v.type != 9) j.num(v.num);
  else if (v.arrayType == 8) strArray(j, v.strs);
  else if (v.arrayType == 10 || v.arrayType == 11) {
    const ints = v.ints;
    j.raw('[');
    for (let i = 0; i < ints.length; i++) (i > 0 ? j.raw(',') : j).str(v.arrayType == 10 ? (<u64>ints[i]).toString() : ints[i].toString());
    j.raw(']');
  } else {
    j.raw('[');
    for (let i = 0; i < v.nums.length; i++) (i > 0 ? j.raw(',') : j).num(v.nums[i]);
    j.raw(']');
  }
  j.raw(']');
}

function hex64(x: u64): string {
  const s = x.toString(16);
  return '0000000000000000'.substring(0, 16 - s.length) + s;
}

function specJson(spec: ModelSpec, info: IfpruneInfo | null): string {
  const j = new Json();
  const c = spec.config;
  j.raw('{').key('format').str(spec.format).raw(',').key('version').num(spec.version).raw(',').key('alignment').num(spec.alignment);
  j.raw(',').key('dataOffset').u64(spec.dataOffset).raw(',').key('headerBytes').u64(spec.headerBytes);
  j.raw(',').key('config').raw('{').key('dim').num(c.dim).raw(',').key('hiddenDim').num(c.hiddenDim).raw(',').key('nLayers').num(c.nLayers);
  j.raw(',').key('nHeads').num(c.nHeads).raw(',').key('nKvHeads').num(c.nKvHeads).raw(',').key('headSize').num(c.headSize);
  j.raw(',').key('vocabSize').num(c.vocabSize).raw(',').key('seqLen').num(c.seqLen).raw(',').key('normEps').num(<f64>c.normEps);
  j.raw(',').key('ropeBase').num(<f64>c.ropeBase).raw(',').key('ropeDim').num(c.ropeDim).raw(',').key('ropeNeox').bool(c.ropeNeox);
  j.raw(',').key('tiedEmbeddings').bool(c.tiedEmbeddings).raw(',').key('qkvBias').bool(c.qkvBias).raw('}');
  j.raw(',').key('tensors').raw('[');
  for (let i = 0; i < spec.tensorList.length; i++) {
    const t = spec.tensorList[i];
    if (i > 0) j.raw(',');
    j.raw('[').str(t.name).raw(',').num(t.type).raw(',[');
    for (let d = 0; d < t.dims.length; d++) (d > 0 ? j.raw(',') : j).num(<f64>t.dims[d]);
    j.raw('],').u64(t.offset).raw(',').u64(t.bytes).raw(']');
  }
  j.raw('],').key('tensorMapSize').num(spec.tensors.size);
  j.raw(',').key('metaKeys');
  strArray(j, spec.metaKeys);
  j.raw(',').key('meta').raw('{');
  for (let i = 0; i < spec.metaKeys.length; i++) {
    if (i > 0) j.raw(',');
    j.key(spec.metaKeys[i]);
    metaJson(j, spec.meta.get(spec.metaKeys[i]));
  }
  j.raw('},').key('tokenizer');
  const tok = spec.tokenizer;
  if (tok == null) j.raw('null');
  else tokenizerJson(j, tok);
  j.raw(',').key('ifprune');
  if (info == null) j.raw('null');
  else ifpruneJson(j, info, spec);
  return j.raw('}').done();
}

function ifpruneJson(j: Json, info: IfpruneInfo, spec: ModelSpec): void {
  j.raw('{').key('versionMajor').num(info.versionMajor).raw(',').key('versionMinor').num(info.versionMinor);
  j.raw(',').key('layout').str(info.layout).raw(',').key('type').str(info.type).raw(',').key('converter').str(info.converter);
  j.raw(',').key('chunks').raw('[');
  // in tensor order (a Map's key order is insertion order, the tensor list's)
  let first = true;
  for (let i = 0; i < spec.tensorList.length; i++) {
    const name = spec.tensorList[i].name;
    if (!info.chunks.has(name)) continue;
    const c = info.chunks.get(name);
    if (!first) j.raw(',');
    first = false;
    j.raw('[').str(c.tensor).raw(',').u64(c.offset).raw(',').u64(c.bytes).raw(',').num(c.chunkBytes).raw(',[');
    for (let k = 0; k < c.hashes.length; k++) (k > 0 ? j.raw(',') : j).str(hex64(c.hashes[k]));
    j.raw(']]');
  }
  j.raw('],').key('chunkCount').num(info.chunks.size).raw(',').key('bundles').raw('[');
  for (let i = 0; i < info.bundles.length; i++) {
    const b = info.bundles[i];
    if (i > 0) j.raw(',');
    j.raw('{').key('layer').num(b.layer).raw(',').key('name').str(b.name).raw(',').key('type').num(b.type).raw(',').key('dim').num(b.dim);
    j.raw(',').key('nFF').num(b.nFF).raw(',').key('rowBytes').num(b.rowBytes).raw(',').key('partBytes').num(b.partBytes);
    j.raw(',').key('offset').u64(b.offset).raw(',').key('bytes').u64(b.bytes).raw('}');
  }
  j.raw('],').key('perms').raw('[');
  for (let l = 0; l < info.perms.length; l++) {
    if (l > 0) j.raw(',');
    j.raw('[');
    const p = info.perms[l];
    for (let i = 0; i < p.length; i++) (i > 0 ? j.raw(',') : j).num(p[i]);
    j.raw(']');
  }
  j.raw('],').key('shared').raw('[');
  for (let l = 0; l < info.shared.length; l++) {
    if (l > 0) j.raw(',');
    j.raw('[');
    const s = info.shared[l];
    for (let i = 0; i < s.length; i++) (i > 0 ? j.raw(',') : j).num(s[i]);
    j.raw(']');
  }
  j.raw('],').key('hasStatic').bool(info.hasStatic).raw(',').key('predictor');
  const p = info.predictor;
  if (p == null) j.raw('null');
  else j.raw('{').key('kind').str(p.kind).raw(',').key('tokenDim').num(p.tokenDim).raw(',').key('hidden').num(p.hidden).raw(',').key('window').num(p.window).raw('}');
  j.raw('}');
}
