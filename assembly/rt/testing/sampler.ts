// Test-only exports for assembly/rt (sampler) (build: node tools/build.mjs rt-test:sampler). Prefix every export.
// test/rt-sampler.test.ts drives these to hold assembly/rt/sampler.ts and stop.ts to the TS oracles.
export * from '../abi';
import { fromUtf8, toStr } from '../abi';
import {
  Sampler, Mulberry32, expFdlibm, softmaxNumerators, nucleusBoundary, selectTopK, boundary,
  DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_TOP_K, DEFAULT_SEED,
} from '../sampler';
import { StopMatcher, StopToken } from '../stop';

// ---- sampler

export function smp_default_temperature(): f64 { return DEFAULT_TEMPERATURE; }
export function smp_default_top_p(): f64 { return DEFAULT_TOP_P; }
export function smp_default_top_k(): i32 { return DEFAULT_TOP_K; }
export function smp_default_seed(): f64 { return DEFAULT_SEED; }

/** Writes n draws of mulberry32(seed) as f64 at out. */
export function smp_mulberry32(seed: f64, n: i32, out: usize): void {
  const r = new Mulberry32(seed);
  for (let i = 0; i < n; i++) store<f64>(out + (<usize>i << 3), r.next());
}

/** Replaces the n f64 at p with expFdlibm of each. */
export function smp_exp(p: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f64>(p + (<usize>i << 3), expFdlibm(load<f64>(p + (<usize>i << 3))));
}

/** softmaxNumerators over the n f32 at x, in place; returns the sum. */
export function smp_numerators(x: usize, n: i32, max: f32, T: f64): f64 {
  return softmaxNumerators(x, n, max, T);
}

let sampler: Sampler | null = null;

/** Makes the sampler smp_sample uses; false (error set) for bad options. */
export function smp_create(temperature: f64, topP: f64, topK: f64, seed: f64, vocabSize: i32): bool {
  sampler = Sampler.create(temperature, topP, topK, seed, vocabSize);
  return sampler != null;
}

/** The current sampler's next id from the f32 logits at p (-1: error, or no sampler). */
export function smp_sample(logits: usize): i32 {
  const s = sampler;
  return s == null ? -1 : s.sample(logits);
}

/** selectTopK over n f32 probs at p into k i32 at heap. */
export function smp_select_top_k(p: usize, n: i32, k: i32, heap: usize): void {
  selectTopK(p, n, k, heap);
}

/** nucleusBoundary over m i32 ids at cand; the result is read with smp_boundary_v / _ties. */
export function smp_nucleus_boundary(p: usize, cand: usize, m: i32, threshold: f64): void {
  nucleusBoundary(p, cand, m, threshold);
}
export function smp_boundary_v(): f64 { return boundary.v; }
export function smp_boundary_ties(): i32 { return boundary.ties; }

// ---- stop strings: smp_stop_add each stop, smp_stop_create, then smp_stop_push / smp_stop_flush, whose
// tokens are read with smp_stop_id(i) / smp_stop_text(i)

let stops = new Array<string>();
let matcher: StopMatcher | null = null;
let out = new Array<StopToken>();
let stopped = false;

export function smp_stop_reset(): void {
  stops = [];
  matcher = null;
  out = [];
  stopped = false;
}

export function smp_stop_add(p: usize, n: usize): void {
  stops.push(fromUtf8(p, n));
}

export function smp_stop_create(): bool {
  matcher = StopMatcher.create(stops);
  return matcher != null;
}

/** Pushes token (id, UTF-8 text at p); returns how many tokens it emitted (-1: no matcher). */
export function smp_stop_push(id: i32, p: usize, n: usize): i32 {
  const m = matcher;
  if (m == null) return -1;
  const r = m.push(id, fromUtf8(p, n));
  out = r.emit;
  stopped = r.stopped;
  return out.length;
}

export function smp_stop_stopped(): bool {
  return stopped;
}

export function smp_stop_flush(): i32 {
  const m = matcher;
  if (m == null) return -1;
  out = m.flush();
  return out.length;
}

export function smp_stop_id(i: i32): i32 {
  return i >= 0 && i < out.length ? out[i].id : -1;
}

export function smp_stop_text(i: i32): usize {
  return toStr(i >= 0 && i < out.length ? out[i].text : '');
}
