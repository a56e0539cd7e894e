// ifprune's own metadata in a GGUF file (docs/format.md; the TS oracle is src/formats/ifprune.ts and
// src/pruning/predictor-file.ts): format version, layout, chunk hashes, neuron bundles, permutation,
// predictor description, always-on neurons.
//
//   key                                   type            meaning
//   ifprune.version.major / .minor        UINT32          format version: a reader refuses a newer major
//   ifprune.version.reader                STRING          oldest ifprune release that reads this major
//   ifprune.converter                     STRING          the writer ("ifprune 0.1.0")
//   ifprune.layout                        STRING          "bundled" (FFN as blk.N.ffn_bundle) | "standard"
//   ifprune.type                          STRING          f32 | f16 | q8_0 | q4_0
//   ifprune.fallback.type / .tensors      STRING / ARRAY  matrices whose rows are not whole blocks
//   ifprune.source.*                      various         the source model (name, format, bytes, sha256)
//   ifprune.hash.algorithm                STRING          "xxh64" (seed 0), see xxh64.ts
//   ifprune.chunk_bytes.<tensor>          UINT64          chunk size of <tensor> (a whole number of its rows)
//   ifprune.chunk_hashes.<tensor>         ARRAY[UINT64]   hash of chunk i = bytes [i·c, min((i+1)·c, size))
//   ifprune.perm.<layer>                  ARRAY[UINT32]   bundled + reordered: row r holds source neuron perm[r]
//   ifprune.static                        F32 tensor      static ranking [n_ff, n_layers]
//   ifprune.shared.<layer>                ARRAY[UINT32]   always-on neuron rows of the layer
//   ifprune.pred.kind, .token_dim, .hidden, .window       the learned predictor ("deepsets-mlp"), whose
//   ifprune.pred.{E, W1, b1, W2, b2}      tensors         matrices are F32, F16 or Q8_0 tensors
//   ifprune.pred.codebook_size, .codebook                 "deepsets-mlp-codebook": and its score codebook
//   ifprune.pred.codebook_route                           (optional) C entry indices: the nearest entry c gives route[c]'s scores
//
// Bundled layout: blk.N.ffn_bundle, GGUF dims [3·dim, n_ff], row j = [gate_j | up_j | down[:, j]], each
// third whole blocks of the type; a bundle's chunks are one row each. Messages start "ifprune
// metadata: ..." (the spec has no file name): callers prefix the file with failContext.
import { ModelSpec, IfpruneInfo, TensorChunks, BundleInfo, PredictorInfo, MetaValue } from './spec';
import { fail } from './error';
import { MAX_SAFE_INTEGER, quoted } from './reader';
import { GGUF_STRING, GGUF_ARRAY, GGUF_UINT32, GGUF_UINT64, GGUF_INT64, isNumberType, scalarString } from './gguf';
import { GGML_F32, GGML_F16, GGML_Q8_0, GGML_Q4_0, typeName, blockElems, blockBytes, rowBytes, firstNonFiniteScale } from './quant';
import { dimsString, numString } from './spec-check';
import { xxh64 } from './xxh64';

/** This ifprune's release (package.json "version"; src/formats/ifprune.ts IFPRUNE_VERSION). */
export const IFPRUNE_VERSION = '0.1.0';
/** The newest format major this runtime reads. */
export const IFPRUNE_FORMAT_MAJOR: i32 = 1;
export const HASH_ALGORITHM = 'xxh64';
export const PRED_KIND = 'deepsets-mlp';
export const PRED_KIND_CODEBOOK = 'deepsets-mlp-codebook';

/** Weight types a file can be converted to (ifprune.type) → GGML type id; -1 for none. */
function ifpruneTypeId(name: string): i32 {
  if (name == 'f32') return GGML_F32;
  if (name == 'f16') return GGML_F16;
  if (name == 'q8_0') return GGML_Q8_0;
  if (name == 'q4_0') return GGML_Q4_0;
  return -1;
}

/** Whether `name` is a bundle tensor's (/^blk\.\d+\.ffn_bundle$/). */
export function isBundleName(name: string): boolean {
  if (!name.startsWith('blk.') || !name.endsWith('.ffn_bundle')) return false;
  const digits = name.substring(4, name.length - 11);
  if (digits.length == 0) return false;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The metadata accessors of readIfpruneInfo, each failing 'corrupt' as the TS str() / int() do. */
class Keys {
  constructor(public spec: ModelSpec) {}

  has(key: string): bool {
    return this.spec.meta.has(key);
  }

  get(key: string): MetaValue {
    return this.spec.meta.get(key); // callers check has() first
  }

  corrupt(msg: string): bool {
    return fail('corrupt', 'ifprune metadata: ' + msg + '; the file is damaged or was not written by ifprune convert');
  }

  /** A string value (or `fallback` when absent and one is given); null after fail(). */
  str(key: string, fallback: string | null = null): string | null {
    if (!this.has(key)) {
      if (fallback != null) return fallback;
      this.corrupt(key + ' should be a string; found nothing');
      return null;
    }
    const v = this.get(key);
    if (v.type != GGUF_STRING) {
      this.corrupt(key + ' should be a string; found ' + describe(v));
      return null;
    }
    return v.str;
  }

  /** A non-negative safe integer (any numeric type, as the TS's number / small bigint); -1 after fail(). */
  int(key: string): f64 {
    const v: MetaValue | null = this.has(key) ? this.get(key) : null;
    let n: f64 = -1;
    if (v != null) {
      if (isNumberType(v.type)) n = v.num;
      else if (v.type == GGUF_UINT64 && <u64>v.int <= <u64>MAX_SAFE_INTEGER) n = v.num;
      else if (v.type == GGUF_INT64) n = v.num;
    }
    if (!(n >= 0 && n <= MAX_SAFE_INTEGER && Math.floor(n) == n)) {
      this.corrupt(key + ' should be a non-negative integer; found ' + (v == null ? 'nothing' : describe(<MetaValue>v)));
      return -1;
    }
    return n;
  }
}

/** A value as the TS's describe() words it. */
function describe(v: MetaValue): string {
  if (v.type == GGUF_ARRAY) return 'an array of ' + v.count.toString();
  if (v.type == GGUF_STRING) return quoted(v.str);
  return scalarString(v);
}

/**
 * The file's ifprune info, or null for a plain GGUF (no ifprune.* keys). On a damaged ifprune section:
 * null with fail('corrupt' | 'bad_version' | 'unsupported', ...). Check failed() to tell them apart.
 * Checks in the TS order: version first, then layout, type, hash algorithm, chunk hashes of every tensor,
 * bundles, permutations; then the calibration the file carries (static ranking, shared neurons, predictor).
 */
export function readIfpruneInfo(spec: ModelSpec): IfpruneInfo | null {
  const k = new Keys(spec);
  if (!k.has('ifprune.version.major')) return null;
  const info = new IfpruneInfo();

  // --- version, before any other key is interpreted
  const major = k.get('ifprune.version.major');
  const minor: MetaValue | null = k.has('ifprune.version.minor') ? k.get('ifprune.version.minor') : null;
  if (!isIntegerNumber(major) || (minor != null && !isIntegerNumber(<MetaValue>minor))) {
    k.corrupt('ifprune.version.major / ifprune.version.minor must be UINT32; found ' + scalarString(major) + ' / ' + (minor == null ? '0' : scalarString(<MetaValue>minor)));
    return null;
  }
  const minorNum = minor == null ? 0 : (<MetaValue>minor).num;
  if (major.num > <f64>IFPRUNE_FORMAT_MAJOR) {
    const reader = k.has('ifprune.version.reader') ? k.get('ifprune.version.reader') : null;
    const need = reader != null && reader.type == GGUF_STRING && isVersionText(reader.str) ? 'ifprune ' + reader.str + ' or newer' : 'a newer ifprune';
    fail('bad_version', 'this is an ifprune model file of format ' + numString(major.num) + '.' + numString(minorNum) + '; this ifprune (' + IFPRUNE_VERSION + ') reads format ' +
      IFPRUNE_FORMAT_MAJOR.toString() + '.x. Upgrade to ' + need + ' (npm install ifprune@latest), or re-convert the model with this version (ifprune convert).');
    return null;
  }
  if (major.num < 1) {
    k.corrupt('format major ' + numString(major.num) + ' does not exist (the first is 1)');
    return null;
  }
  info.versionMajor = <i32>major.num;
  info.versionMinor = minorNum > <f64>i32.MAX_VALUE || minorNum < 0 ? 0 : <i32>minorNum;

  // --- layout, type, hash algorithm, fallback and source keys
  const layout = k.str('ifprune.layout');
  if (layout == null) return null;
  if (layout != 'bundled' && layout != 'standard') {
    k.corrupt('ifprune.layout is "' + layout + '"; expected bundled or standard');
    return null;
  }
  info.layout = layout;
  const type = k.str('ifprune.type');
  if (type == null) return null;
  if (ifpruneTypeId(type) < 0) {
    k.corrupt('ifprune.type is "' + type + '"; expected one of f32, f16, q8_0, q4_0');
    return null;
  }
  info.type = type;
  const algorithm = k.str('ifprune.hash.algorithm');
  if (algorithm == null) return null;
  if (algorithm != HASH_ALGORITHM) {
    fail('unsupported', 'chunk hash algorithm "' + algorithm + '" is not one this ifprune (' + IFPRUNE_VERSION + ') knows (' + HASH_ALGORITHM + '); upgrade ifprune');
    return null;
  }
  if (k.has('ifprune.fallback.tensors') && k.str('ifprune.fallback.type') == null) return null;
  if (k.has('ifprune.source.sha256')) {
    if (k.str('ifprune.source.name', '') == null || k.str('ifprune.source.format', '') == null) return null;
    if (k.int('ifprune.source.bytes') < 0 || k.str('ifprune.source.sha256') == null) return null;
  }

  // --- chunk hashes: every tensor has them, and no key names a tensor that does not exist
  const tensors = spec.tensorList;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const cKey = 'ifprune.chunk_bytes.' + t.name;
    const hKey = 'ifprune.chunk_hashes.' + t.name;
    if (!k.has(cKey) || !k.has(hKey)) {
      k.corrupt('tensor ' + t.name + ' has no chunk hashes (' + cKey + ', ' + hKey + ')');
      return null;
    }
    const chunkBytes = k.int(cKey);
    if (chunkBytes < 0) return null;
    const row = <f64>rowBytes(t.type, t.dims[0]);
    if (chunkBytes == 0 || row == 0 || chunkBytes % row != 0) {
      k.corrupt(cKey + ' = ' + numString(chunkBytes) + " is not a positive whole number of " + t.name + "'s " + numString(row) + '-byte rows');
      return null;
    }
    if (isBundleName(t.name) && chunkBytes != row) {
      // Larger chunks would make the loader read neurons it did not select.
      k.corrupt(cKey + ' = ' + numString(chunkBytes) + '; bundle chunks must be one ' + numString(row) + '-byte row');
      return null;
    }
    const hashes = k.get(hKey);
    const count = Math.ceil(<f64>t.bytes / chunkBytes);
    if (hashes.type != GGUF_ARRAY || hashes.arrayType != GGUF_UINT64 || <f64>hashes.count != count) {
      k.corrupt(hKey + ' should be ' + numString(count) + ' UINT64 (' + t.bytes.toString() + ' bytes in ' + numString(chunkBytes) + '-byte chunks); found ' + describe(hashes));
      return null;
    }
    const c = new TensorChunks();
    c.tensor = t.name;
    c.offset = t.offset;
    c.bytes = t.bytes;
    c.chunkBytes = <u32>chunkBytes;
    for (let i = 0; i < hashes.ints.length; i++) c.hashes.push(<u64>hashes.ints[i]);
    info.chunks.set(t.name, c);
  }
  for (let i = 0; i < spec.metaKeys.length; i++) {
    const key = spec.metaKeys[i];
    let rest = '';
    if (key.startsWith('ifprune.chunk_bytes.')) rest = key.substring(20);
    else if (key.startsWith('ifprune.chunk_hashes.')) rest = key.substring(21);
    else continue;
    if (rest.length > 0 && !spec.tensors.has(rest)) {
      k.corrupt(key + ' names a tensor the file does not have');
      return null;
    }
  }

  // --- the FFN: bundles (bundled) or the three standard matrices (standard)
  const arch = k.has('general.architecture') ? scalarString(k.get('general.architecture')) : 'undefined';
  const nLayers = k.int(arch + '.block_count');
  if (nLayers < 0) return null;
  const dim = k.int(arch + '.embedding_length');
  if (dim < 0) return null;
  const nFF = k.int(arch + '.feed_forward_length');
  if (nFF < 0) return null;
  if (nLayers > <f64>i32.MAX_VALUE || dim > <f64>i32.MAX_VALUE || nFF > <f64>i32.MAX_VALUE) {
    k.corrupt('block_count, embedding_length or feed_forward_length is more than this runtime supports (2^31 - 1)');
    return null;
  }
  for (let l = 0; l < <i32>nLayers; l++) {
    const bName = 'blk.' + l.toString() + '.ffn_bundle';
    const ffn = new Array<string>();
    const parts = ['ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight'];
    for (let p = 0; p < 3; p++) if (spec.tensors.has('blk.' + l.toString() + '.' + parts[p])) ffn.push('blk.' + l.toString() + '.' + parts[p]);
    if (layout == 'standard') {
      if (spec.tensors.has(bName)) {
        k.corrupt('layout is standard but the file has ' + bName);
        return null;
      }
      continue;
    }
    if (!spec.tensors.has(bName)) {
      k.corrupt('layout is bundled but tensor ' + bName + ' is missing');
      return null;
    }
    const b = spec.tensors.get(bName);
    if (ffn.length > 0) {
      k.corrupt('layout is bundled but the file also has ' + ffn.join(', '));
      return null;
    }
    if (b.type != GGML_F32 && b.type != GGML_F16 && b.type != GGML_Q8_0 && b.type != GGML_Q4_0) {
      k.corrupt(bName + ' has type ' + typeName(b.type) + '; bundles are F32, F16, Q8_0 or Q4_0');
      return null;
    }
    if (b.dims.length != 2 || <f64>b.dims[0] != 3 * dim || <f64>b.dims[1] != nFF) {
      k.corrupt(bName + ' has dims ' + dimsString(b.dims) + '; expected [' + numString(3 * dim) + ',' + numString(nFF) + '] (n_ff rows of 3 × dim ' + numString(dim) + ')');
      return null;
    }
    if (dim % <f64>blockElems(b.type) != 0) {
      k.corrupt(bName + ': dim ' + numString(dim) + ' is not a whole number of ' + typeName(b.type) + ' blocks');
      return null;
    }
    const bundle = new BundleInfo();
    bundle.layer = l;
    bundle.name = bName;
    bundle.type = b.type;
    bundle.dim = <i32>dim;
    bundle.nFF = <i32>nFF;
    bundle.partBytes = <i32>rowBytes(b.type, <i64>dim);
    bundle.rowBytes = 3 * bundle.partBytes;
    bundle.offset = b.offset;
    bundle.bytes = b.bytes;
    info.bundles.push(bundle);
  }

  // --- permutations
  for (let l = 0; l < <i32>nLayers; l++) {
    const key = 'ifprune.perm.' + l.toString();
    const perm = new Array<u32>();
    info.perms.push(perm);
    if (!k.has(key)) continue;
    if (layout != 'bundled') {
      k.corrupt(key + ' is only meaningful in the bundled layout');
      return null;
    }
    const p = k.get(key);
    if (p.type != GGUF_ARRAY || p.arrayType != GGUF_UINT32 || <f64>p.count != nFF || !isPermutation(p.nums)) {
      k.corrupt(key + ' should be a permutation of 0..' + numString(nFF - 1) + ' (UINT32 array of ' + numString(nFF) + '); found ' + describe(p));
      return null;
    }
    for (let i = 0; i < p.nums.length; i++) perm.push(<u32>p.nums[i]);
  }
  const reader = k.str('ifprune.version.reader', '0.1.0');
  if (reader == null) return null;
  const converter = k.str('ifprune.converter', '');
  if (converter == null) return null;
  info.converter = converter;

  return readCalibrationInfo(spec, k, info) ? info : null;
}

/** A JS number (not a bigint, not a bool) that Number.isInteger accepts. */
function isIntegerNumber(v: MetaValue): bool {
  return isNumberType(v.type) && isFinite(v.num) && Math.floor(v.num) == v.num;
}

/** /^[0-9A-Za-z.+-]{1,32}$/ */
function isVersionText(s: string): bool {
  if (s.length < 1 || s.length > 32) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x2b || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

/** Whether p holds each of 0..p.length-1 exactly once. */
function isPermutation(p: Array<f64>): bool {
  const seen = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    if (!(v >= 0 && v < <f64>p.length)) return false;
    const j = <i32>v;
    if (seen[j] != 0) return false;
    seen[j] = 1;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// calibration: what readCalibration (src/pruning/predictor-file.ts) checks before reading any tensor

/** Tensor `name`, when present, holds n values stored F32, F16 or Q8_0; false after fail('corrupt'). */
function checkPredictorTensor(spec: ModelSpec, name: string, n: f64): bool {
  if (!spec.tensors.has(name)) return true;
  const t = spec.tensors.get(name);
  if ((t.type != GGML_F32 && t.type != GGML_F16 && t.type != GGML_Q8_0) || <f64>t.elements() != n) {
    return fail('corrupt', 'tensor ' + name + ' should hold ' + numString(n) + ' F32, F16 or Q8_0 values; found ' + typeName(t.type) + ' ' + dimsString(t.dims));
  }
  return true;
}

/** Fills info.hasStatic, info.shared and info.predictor from the ifprune.static / .shared.N / .pred.* entries. */
function readCalibrationInfo(spec: ModelSpec, k: Keys, info: IfpruneInfo): bool {
  const c = spec.config;
  const nff = <f64>c.hiddenDim;
  if (!checkPredictorTensor(spec, 'ifprune.static', <f64>c.nLayers * nff)) return false;
  info.hasStatic = spec.tensors.has('ifprune.static');

  let anyShared = false;
  for (let l = 0; l < c.nLayers; l++) anyShared = anyShared || k.has('ifprune.shared.' + l.toString());
  for (let l = 0; anyShared && l < c.nLayers; l++) {
    const key = 'ifprune.shared.' + l.toString();
    const ids = new Array<i32>();
    info.shared.push(ids);
    if (!k.has(key)) continue;
    const s = k.get(key);
    if (s.type != GGUF_ARRAY || s.arrayType == GGUF_STRING || s.arrayType == GGUF_ARRAY) return k.corrupt(key + ' should be a UINT32 array of neuron ids; found ' + describe(s));
    for (let i = 0; i < s.nums.length; i++) {
      const j = isFinite(s.nums[i]) ? Math.trunc(s.nums[i]) : 0; // Int32Array.from
      if (!(j >= 0 && j < nff)) return fail('corrupt', key + ' holds a neuron id outside [0, ' + c.hiddenDim.toString() + ')');
      ids.push(<i32>j);
    }
    ids.sort();
  }

  if (!k.has('ifprune.pred.kind')) return true;
  const kind = k.get('ifprune.pred.kind');
  if (kind.type != GGUF_STRING || (kind.str != PRED_KIND && kind.str != PRED_KIND_CODEBOOK)) {
    return fail('unsupported', 'predictor kind ' + scalarString(kind) + ' is not one this ifprune reads (' + PRED_KIND + ', ' + PRED_KIND_CODEBOOK + ')');
  }
  const H = k.int('ifprune.pred.token_dim');
  const U = k.int('ifprune.pred.hidden');
  const window = k.int('ifprune.pred.window');
  if (H < 0 || U < 0 || window < 0) return false;
  let C: f64 = 0;
  if (kind.str == PRED_KIND_CODEBOOK) {
    C = k.int('ifprune.pred.codebook_size');
    if (C < 0) return false;
    if (C < 1 || C > <f64>i32.MAX_VALUE) return k.corrupt('ifprune.pred.codebook_size should be a positive count; found ' + numString(C));
  }
  const route = new Array<i32>();
  const routeKey = 'ifprune.pred.codebook_route';
  if (C > 0 && k.has(routeKey)) {
    const r = k.get(routeKey);
    if (r.type != GGUF_ARRAY || r.arrayType == GGUF_STRING || r.arrayType == GGUF_ARRAY || <f64>r.nums.length != C) {
      return k.corrupt(routeKey + ' should be a UINT32 array of ' + numString(C) + ' codebook entry indices; found ' + describe(r));
    }
    for (let i = 0; i < r.nums.length; i++) {
      const e = isFinite(r.nums[i]) ? Math.trunc(r.nums[i]) : -1;
      if (!(e >= 0 && e < C)) return k.corrupt(routeKey + ' holds an entry index outside [0, ' + numString(C) + ')');
      route.push(<i32>e);
    }
  }
  const n = <f64>c.nLayers * nff;
  const names = ['ifprune.pred.E', 'ifprune.pred.W1', 'ifprune.pred.b1', 'ifprune.pred.W2', 'ifprune.pred.b2'];
  const sizes = [<f64>c.vocabSize * H, U * 2 * H, U, n * U, n];
  if (C > 0) {
    names.push('ifprune.pred.codebook');
    sizes.push(C * n);
  }
  for (let i = 0; i < names.length; i++) if (!checkPredictorTensor(spec, names[i], sizes[i])) return false;
  for (let i = 0; i < names.length; i++) if (!spec.tensors.has(names[i])) return fail('corrupt', 'predictor tensor ' + names[i] + ' is missing');
  if (H > <f64>i32.MAX_VALUE || U > <f64>i32.MAX_VALUE || window > <f64>i32.MAX_VALUE) return k.corrupt('predictor sizes do not fit an i32');
  const p = new PredictorInfo();
  p.kind = kind.str;
  p.tokenDim = <i32>H;
  p.hidden = <i32>U;
  p.window = <i32>window;
  p.codebook = <i32>C;
  p.route = route;
  info.predictor = p;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// verification

function hex64(x: u64): string {
  const s = x.toString(16);
  return '0000000000000000'.substring(0, 16 - s.length) + s;
}

/**
 * Verifies `len` bytes at wasm address `ptr`, which the host read from tensor `tensor` starting
 * `offsetInTensor` bytes into it, against the file's chunk hashes (every chunk the range covers
 * completely; a range must start on a chunk boundary). No info (plain GGUF, llama2.c): true.
 * A mismatch: fail('hash_mismatch', naming the tensor and the byte offset) and false.
 * A tensor without hashes: 'not_found'; a range outside the tensor or not whole chunks: 'bad_option'.
 */
export function verifyTensorBytes(info: IfpruneInfo | null, tensor: string, offsetInTensor: u64, ptr: usize, len: usize): bool {
  if (info == null) return true;
  if (!info.chunks.has(tensor)) return fail('not_found', 'tensor "' + tensor + '" has no chunk hashes in this ifprune file (is the name right?)');
  const c = info.chunks.get(tensor);
  const offset = offsetInTensor;
  const length = <u64>len;
  if (offset > c.bytes || length > c.bytes - offset) {
    return fail('bad_option', 'range [' + offset.toString() + ', ' + (offset + length).toString() + ') is not inside tensor ' + tensor + ' (' + c.bytes.toString() + ' bytes)');
  }
  if (length == 0) return true;
  // chunkSpan: the smallest chunk-aligned range covering [offset, offset + length)
  const cb = <u64>c.chunkBytes;
  const firstChunk = offset / cb;
  const start = firstChunk * cb;
  const end = min<u64>(c.bytes, ((offset + length + cb - 1) / cb) * cb);
  if (start != offset || end - start != length) {
    return fail('bad_option', 'cannot verify bytes [' + offset.toString() + ', ' + (offset + length).toString() + ') of ' + tensor + ': only whole ' + cb.toString() +
      '-byte chunks can be verified; read [' + start.toString() + ', ' + end.toString() + ') instead (chunkSpan)');
  }
  const count = (length + cb - 1) / cb;
  for (let k: u64 = 0; k < count; k++) {
    const i = <i32>(firstChunk + k);
    const rel = k * cb;
    const n = min<u64>(cb, length - rel);
    const got = xxh64(ptr + <usize>rel, <usize>n);
    const want = c.hashes[i]; // i < hashes.length: readIfpruneInfo checked the count against the tensor's bytes
    if (got != want) {
      const at = offset + rel;
      return fail('hash_mismatch', 'tensor ' + tensor + ': bytes ' + at.toString() + '..' + (at + n).toString() + ' (chunk ' + i.toString() + ', file offset ' + (c.offset + at).toString() +
        ') do not match their recorded ' + HASH_ALGORITHM + ' hash (' + hex64(got) + ' ≠ ' + hex64(want) + '); they were damaged in transit (try again: ' +
        'the next load reads them anew) or the file is damaged or was changed after conversion (download or convert it again)');
    }
  }
  // A hash proves the bytes are the file's, not that they are numbers. The masked FFN skips a block
  // whose h·d is not finite (assembly/ffn.ts coef1: it "adds nothing"), so a NaN or infinite block scale
  // of a bundle row would silently drop the neuron instead of reaching the logits (which the engine
  // checks): such rows are refused here.
  for (let b = 0; b < info.bundles.length; b++) {
    const bundle = info.bundles[b];
    if (bundle.name != tensor) continue;
    const bad = firstNonFiniteScale(bundle.type, ptr, len);
    if (bad < 0) break;
    const at = offset + <u64>bad * <u64>blockBytes(bundle.type);
    return fail('numeric', 'tensor ' + tensor + ': the ' + typeName(bundle.type) + ' block at byte ' + at.toString() + ' (neuron row ' + (at / <u64>bundle.rowBytes).toString() +
      ', file offset ' + (c.offset + at).toString() + ') has a NaN or infinite scale; the weights are damaged: convert the model again from its source');
  }
  return true;
}
