/**
 * The defaults a user sees, declared once for the TypeScript side (CLI help and parsing, the API docs,
 * the TS oracles). The runtime declares the same values in AssemblyScript (assembly/rt/sampler.ts,
 * session.ts, engine.ts); test/defaults.test.ts requires rt_defaults_json() to equal this object, so the
 * two cannot drift.
 */
export const DEFAULTS = Object.freeze({
  /** New tokens to generate at most. */
  maxTokens: 256,
  /** Sampling: 0 = greedy. */
  temperature: 0.8,
  /** Nucleus mass; 1 = off. */
  topP: 0.9,
  /** 0 = off. */
  topK: 0,
  seed: 42,
  /** KV-cache positions when the caller does not choose: the model's context, at most this. */
  contextLength: 2048,
});
