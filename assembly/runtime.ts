// The ifprune runtime for JS hosts (build/ifprune.{simd,scalar}.wasm): the whole sans-I/O engine —
// model parsing, tokenizer, predictor, load plans, neuron cache, forward pass, sampling, stop strings —
// behind flat exports over one Session per instance (a host instantiates the module once per model).
// The host's only job is I/O: after a call returns NEED_IO (1) it reads every listed range
// (rt_need_count / rt_need_file / rt_need_offset / rt_need_length / rt_need_dest) into memory and
// calls rt_resume(); FAILED (-1) leaves the error in rt_error_code / rt_error_message.
// Strings in: (ptr, byteLength) of UTF-8 the host wrote into rt_alloc'ed memory. Strings out: a "str"
// ([u32 byte length | UTF-8]) valid until the next call returning one. See docs/architecture.md.
export * from './rt/abi';
import { toStr, fromUtf8 } from './rt/abi';
import { fail, failed, clearError } from './rt/error';
import { FAILED } from './rt/io';
import { Session, OpenOptions, GenOptions, DEFAULT_MAX_TOKENS } from './rt/session';
import { DEFAULT_CONTEXT } from './rt/engine';
import { StreamDecoder } from './rt/tokenizer';
import { JsonWriter } from './rt/json';
import { validateSamplerOptions, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_TOP_K, DEFAULT_SEED } from './rt/sampler';
import { StopMatcher } from './rt/stop';
import { GGUF_STRING, GGUF_ARRAY } from './rt/gguf';
import { setWorkers } from './rt/parallel';

let session: Session | null = null;

function ready(): Session | null {
  if (session === null) fail('bad_option', 'no model is open in this runtime instance');
  return session;
}

/** The threads build (build/ifprune.threads.wasm): 1 once the host runs a worker on this instance's
 * shared memory and answers ifp_par_start / ifp_par_wait (rt/parallel.ts), 0 to run alone. Other builds
 * accept 0 only. Returns 1, or 0 with bad_option. */
export function rt_set_workers(n: i32): i32 {
  if (setWorkers(n)) return 1;
  fail('bad_option', ASC_FEATURE_THREADS ? 'workers = ' + n.toString() + ': this runtime uses 0 or 1 worker' : 'this runtime build has no threads: load build/ifprune.threads.wasm to use a worker');
  return 0;
}

/** Starts opening a model of `fileSize` bytes. ffn: 0 dense, 1 selective, 2 auto. tokenizerSize > 0:
 * a llama2.c tokenizer.bin is read as file 1. */
export function rt_open(fileSize: f64, namePtr: usize, nameLen: usize, contextLength: i32, ffn: i32, memoryBudget: f64, gapBytes: i32, tokenizerSize: f64): i32 {
  clearError();
  const o = new OpenOptions();
  o.fileName = fromUtf8(namePtr, nameLen);
  o.contextLength = contextLength;
  o.ffn = ffn == 1 ? 'selective' : ffn == 2 ? 'auto' : 'dense';
  o.memoryBudget = memoryBudget;
  o.gapBytes = gapBytes;
  o.tokenizerFileSize = <u64>tokenizerSize;
  session = new Session(<u64>fileSize, o);
  return session!.open();
}

export function rt_resume(): i32 {
  const s = ready();
  return s === null ? FAILED : s.resume();
}

/** The model's config as JSON (src/formats/model-spec.ts ModelConfig) plus format and tokenizer facts. */
export function rt_model_json(): usize {
  const s = ready();
  if (s === null || s.spec === null || s.tokenizer === null) return toStr('');
  const c = s.spec!.config;
  const t = s.tokenizer!;
  const w = new JsonWriter();
  w.begin();
  w.str('format', s.spec!.format);
  c.writeJson(w, 'config');
  w.begin('tokenizer');
  w.str('model', t.model);
  w.num('vocabSize', t.vocabSize);
  w.num('bosId', t.bosId);
  w.num('eosId', t.eosId);
  w.end();
  w.bool('selective', s.selective);
  w.str('defaultPolicy', s.defaultPolicy());
  const info = s.info;
  if (info !== null && info.bundles.length > 0) {
    w.begin('layout');
    w.num('rowBytes', info.bundles[0].rowBytes);
    w.num('rows', info.bundles[0].nFF);
    w.beginArray('offsets');
    for (let l = 0; l < info.bundles.length; l++) w.num('', <f64>info.bundles[l].offset);
    w.endArray();
    w.end();
  }
  return toStr(w.end());
}

/** A string in the model's GGUF metadata: key's value (index < 0), or element `index` of a string array
 * (e.g. tokenizer.ggml.tokens). 0 when the key is absent, of another type, or the index is out of range. */
export function rt_meta_string(keyPtr: usize, keyLen: usize, index: i32): usize {
  const s = ready();
  if (s === null || s.spec === null) return 0;
  const key = fromUtf8(keyPtr, keyLen);
  if (!s.spec!.meta.has(key)) return 0;
  const v = s.spec!.meta.get(key);
  if (index < 0) return v.type == <i32>GGUF_STRING ? toStr(v.str) : 0;
  return v.type == <i32>GGUF_ARRAY && v.arrayType == <i32>GGUF_STRING && index < v.strs.length ? toStr(v.strs[index]) : 0;
}

// ---- tokenizer -------------------------------------------------------------------------------------

let ids: usize = 0;
let idsCap: i32 = 0;

/** Encodes UTF-8 text (bos: -1 the tokenizer's rule, 0 no, 1 yes; special: read special-token text such
 * as "<|im_start|>" as those tokens); the ids are at rt_ids(). Returns the count, -1 after an error. */
export function rt_encode(ptr: usize, len: usize, bos: i32, special: bool): i32 {
  const s = ready();
  if (s === null || s.tokenizer === null) return -1;
  clearError();
  const out = s.tokenizer!.encode(fromUtf8(ptr, len), bos, special);
  if (failed()) return -1;
  if (out.length > idsCap) {
    if (ids != 0) heap.free(ids);
    idsCap = out.length + 64;
    ids = heap.alloc(<usize>idsCap << 2);
  }
  for (let i = 0; i < out.length; i++) store<i32>(ids + (<usize>i << 2), out[i]);
  return out.length;
}

export function rt_ids(): usize {
  return ids;
}

/** Decodes n ids (i32 at p) to a str. */
export function rt_decode(p: usize, n: i32, atStart: bool): usize {
  const s = ready();
  if (s === null || s.tokenizer === null) return toStr('');
  const a = new Array<i32>(n);
  for (let i = 0; i < n; i++) a[i] = load<i32>(p + (<usize>i << 2));
  return toStr(s.tokenizer!.decode(a, atStart));
}

export function rt_is_control(id: i32): bool {
  const s = ready();
  return s !== null && s.tokenizer !== null && s.tokenizer!.isControl(id);
}

const decoders = new Array<StreamDecoder | null>();

/** A new stream decoder; returns its handle. */
export function rt_stream_new(atStart: bool): i32 {
  const s = ready();
  if (s === null || s.tokenizer === null) return -1;
  decoders.push(new StreamDecoder(s.tokenizer!, atStart));
  return decoders.length - 1;
}

export function rt_stream_push(h: i32, id: i32): usize {
  if (h < 0 || h >= decoders.length || decoders[h] === null) return toStr('');
  return toStr(decoders[h]!.push(id));
}

/** Ends the stream (its handle is released). */
export function rt_stream_flush(h: i32): usize {
  if (h < 0 || h >= decoders.length || decoders[h] === null) return toStr('');
  const text = decoders[h]!.flush();
  decoders[h] = null;
  return toStr(text);
}

// ---- pruning ---------------------------------------------------------------------------------------

export function rt_instruct(ptr: usize, len: usize, density: f64, policyPtr: usize, policyLen: usize, bos: i32, special: bool): i32 {
  const s = ready();
  return s === null ? FAILED : s.instruct(fromUtf8(ptr, len), density, fromUtf8(policyPtr, policyLen), bos, special);
}

/** The last instruction as JSON: {policy, density, promptIds, predictMs, plan: {requests, readBytes, selectedBytes}}. */
export function rt_instruction_json(): usize {
  const s = ready();
  if (s === null) return toStr('');
  return toStr(s.instruction.toJson());
}

/** Layer l's chosen neuron ids of the last instruction: writes them as i32 at rt_ids(); returns the count. */
export function rt_instruction_layer(l: i32): i32 {
  const s = ready();
  if (s === null || l < 0 || l >= s.instruction.neurons.length) return -1;
  const set = s.instruction.neurons[l];
  if (set.length > idsCap) {
    if (ids != 0) heap.free(ids);
    idsCap = set.length + 64;
    ids = heap.alloc(<usize>idsCap << 2);
  }
  for (let i = 0; i < set.length; i++) store<i32>(ids + (<usize>i << 2), set[i]);
  return set.length;
}

let loadSets = new Array<Int32Array>();

/** Sets layer l of the neuron sets rt_load will load: n i32 ids at p. */
export function rt_load_layer(l: i32, p: usize, n: i32): void {
  while (loadSets.length <= l) loadSets.push(new Int32Array(0));
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = load<i32>(p + (<usize>i << 2));
  loadSets[l] = a;
}

/** Loads the sets given with rt_load_layer (the policy is recorded for stats). */
export function rt_load(policyPtr: usize, policyLen: usize): i32 {
  const s = ready();
  if (s === null) return FAILED;
  const sets = loadSets;
  loadSets = new Array<Int32Array>();
  return s.load(sets, fromUtf8(policyPtr, policyLen));
}

/** The last load's report as JSON (src/types.ts LoadReport). */
export function rt_load_json(): usize {
  const s = ready();
  if (s === null) return toStr('');
  return toStr(s.loadResult.toJson());
}

// ---- generation ------------------------------------------------------------------------------------

let stops = new Array<string>();

/** Adds a stop string for the next rt_begin. */
export function rt_add_stop(ptr: usize, len: usize): void {
  stops.push(fromUtf8(ptr, len));
}

/** Starts a generation. NaN / -1 arguments take the defaults; density NaN: no pruning request; special:
 * read special-token text in the prompt as those tokens (chat prompts). */
export function rt_begin(ptr: usize, len: usize, maxTokens: i32, temperature: f64, topP: f64, topK: i32, seed: f64, bos: i32, density: f64, policyPtr: usize, policyLen: usize, special: bool): i32 {
  const s = ready();
  if (s === null) return FAILED;
  const g = new GenOptions();
  g.maxTokens = maxTokens;
  g.temperature = temperature;
  g.topP = topP;
  g.topK = topK;
  g.seed = seed;
  g.bos = bos;
  g.special = special;
  g.density = density;
  g.policy = fromUtf8(policyPtr, policyLen);
  g.stop = stops;
  stops = new Array<string>();
  return s.begin(fromUtf8(ptr, len), g);
}

/** One prefill tile or one token: 1 more, 0 ended, -1 failed. Tokens to print: rt_emitted_*. */
export function rt_step(): i32 {
  const s = ready();
  return s === null ? FAILED : s.step();
}

export function rt_emitted_count(): i32 {
  const s = ready();
  return s === null ? 0 : s.emitted.length;
}

export function rt_emitted_id(i: i32): i32 {
  const s = ready();
  return s === null || i < 0 || i >= s.emitted.length ? -1 : s.emitted[i].id;
}

export function rt_emitted_text(i: i32): usize {
  const s = ready();
  return toStr(s === null || i < 0 || i >= s.emitted.length ? '' : s.emitted[i].text);
}

/** The host's AbortSignal fired: the generation ends with finishReason 'aborted'. */
export function rt_abort(): void {
  const s = ready();
  if (s !== null) s.abort();
}

/** The host's deadline for the request passed: the generation ends with finishReason 'timeout'; held-back
 * text comes out through rt_emitted_*. Returns 0 (ended). */
export function rt_end_by_deadline(): i32 {
  const s = ready();
  return s === null ? 0 : s.endByDeadline();
}

export function rt_stats_json(): usize {
  const s = ready();
  return toStr(s === null ? '' : s.statsJson());
}

/** Validates generation options before anything runs (NaN: the default), and the stop strings
 * added with rt_add_stop (which it clears). false with the error set on a bad option. */
export function rt_check_generate(temperature: f64, topP: f64, topK: f64, seed: f64): bool {
  clearError();
  const s = stops;
  stops = new Array<string>();
  if (!validateSamplerOptions(isNaN(temperature) ? DEFAULT_TEMPERATURE : temperature, isNaN(topP) ? DEFAULT_TOP_P : topP, isNaN(topK) ? <f64>DEFAULT_TOP_K : topK, isNaN(seed) ? DEFAULT_SEED : seed)) return false;
  return StopMatcher.create(s) !== null;
}

/** The runtime's defaults as JSON (test/defaults.test.ts checks src/defaults.ts against them). */
export function rt_defaults_json(): usize {
  const w = new JsonWriter();
  w.begin();
  w.num('maxTokens', DEFAULT_MAX_TOKENS);
  w.num('temperature', DEFAULT_TEMPERATURE);
  w.num('topP', DEFAULT_TOP_P);
  w.num('topK', DEFAULT_TOP_K);
  w.num('seed', DEFAULT_SEED);
  w.num('contextLength', DEFAULT_CONTEXT);
  return toStr(w.end());
}
