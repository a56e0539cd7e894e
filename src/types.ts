/** Public API types (src/index.ts implements them). */
import type { ByteSource } from './sources/types.ts';
import type { ModelConfig } from './formats/model-spec.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import type { KernelBuild } from './engine/simd.ts';

export interface OpenOptions {
  /** A llama2.c tokenizer.bin (bytes or a source); required for llama2.c checkpoints, which carry no vocabulary. */
  tokenizer?: ByteSource | Uint8Array;
  /** config.json of a safetensors checkpoint. */
  config?: object;
  /** Kernel build: 'auto' (default) picks the fastest the runtime runs correctly: relaxed SIMD, else SIMD,
   * else scalar (docs/relaxed-simd.md). */
  kernels?: KernelBuild | 'auto';
  /** A compiled kernel module (Workers must import it); default: the platform adapter loads one. */
  module?: WebAssembly.Module;
  /**
   * 'dense' (default): load every weight. 'selective' (ifprune bundled files): load the core and the
   * predictor only; FFN neuron bundles are fetched per instruction (instruct + load, or generate with a
   * density) into a neuron cache. 'auto': selective for ifprune bundled files, dense otherwise.
   */
  ffn?: 'dense' | 'selective' | 'auto';
  /**
   * Bytes of wasm memory the model may use in all: the core (weights read at open, KV cache, scratch)
   * must fit, or open fails before reading weights; with ffn 'selective' the rest holds the neuron
   * cache (default: no limit).
   */
  memoryBudget?: number;
  /**
   * Gaps up to this many bytes between needed neuron rows are read through (default: the source's
   * `readThroughBytes` — 4 KiB (a page) for local files — else 0: exactly the selected rows; HTTP and R2 merge
   * their requests themselves, see HttpSourceOptions.gapBytes).
   */
  gapBytes?: number;
  /** Context length to allocate the KV cache for (default: the model's, capped at 2048). */
  contextLength?: number;
  /**
   * 1 (default) or 2: a worker thread computes half of each prefill step's matrix products and masked FFN
   * (the threads build of the runtime, on a shared memory; decode stays on one thread); the tokens are
   * those of one thread. Node, Deno and cross-origin isolated browser pages; elsewhere 2 is 'unsupported'.
   */
  threads?: number;
  signal?: AbortSignal;
}

export interface GenerateOptions {
  /** New tokens to generate at most (default 256). */
  maxTokens?: number;
  /** 0 = greedy (default 0.8). */
  temperature?: number;
  /** Nucleus sampling mass (default 0.9; 1 = off). */
  topP?: number;
  /** Keep only the k most likely tokens (default 0 = off). */
  topK?: number;
  /** Seed of the sampler's RNG (default: a fixed seed, so runs are reproducible). */
  seed?: number;
  /** Stop when the generated text contains one of these (the stop string is not emitted). */
  stop?: string[];
  /** Prepend BOS (default: the tokenizer's setting). */
  bos?: boolean;
  /**
   * Read the text of the vocabulary's special tokens in the prompt (chat markers such as `<|im_start|>`,
   * `<|im_end|>`, `<s>`: control and user-defined pieces) as those tokens, as llama.cpp's
   * `parse_special` does: for prompts rendered by a chat template (the server's chat completions set
   * it). Default false: the prompt is all text, so user input cannot forge a marker.
   */
  special?: boolean;
  /** Ends the generation: while it waits its turn or loads neurons, as an IfpruneError 'aborted'; once
   * it runs, between two tokens (or prefill tiles), with finishReason 'aborted' and an 'aborted' error. */
  signal?: AbortSignal;
  /**
   * A deadline for this call, in ms from the call to generate(): the time waiting for the model (other
   * generations queue before it), loading neurons, the prefill and decoding. If it passes before the
   * first token, generate fails with IfpruneError 'timeout'; after, the generation ends between two
   * tokens with finishReason 'timeout' and keeps what it produced. Default: none.
   */
  timeoutMs?: number;
  /** Prune the FFN for this prompt: keep this share of each layer's neurons (0 < density ≤ 1). */
  density?: number;
  /** Who picks the neurons (default: 'learned' if the file has a predictor, else 'static', else 'prompt'). */
  policy?: PolicyName;
}

/**
 * dense: every neuron. static: one calibrated ranking for all prompts. prompt: GRIFFIN-style, the
 * prompt's own FFN activations in a dense prefill (needs every neuron once). learned: the IFPruning
 * predictor reading only the prompt's tokens (needs no FFN weights).
 */
export type PolicyName = 'dense' | 'static' | 'prompt' | 'learned';

export interface InstructOptions {
  density: number;
  policy?: PolicyName;
  bos?: boolean;
  /** Read special-token text in the prompt as those tokens (as GenerateOptions.special; default false). */
  special?: boolean;
}

/** The neurons chosen for one prompt, and what loading them costs. */
export interface Instruction {
  policy: PolicyName;
  density: number;
  /** Per layer, the selected bundle rows (ascending). */
  neurons: Int32Array[];
  promptIds: number[];
  predictMs: number;
  /** Requests and bytes a load from scratch would read (the neuron cache may save some). */
  plan: { requests: number; readBytes: number; selectedBytes: number };
}

/** What one load of neurons did. */
export interface LoadReport {
  /** Rows (neurons) selected over all layers. */
  rows: number;
  /** Rows that were already in the neuron cache. */
  cacheHits: number;
  /** Rows read now. */
  rowsRead: number;
  requests: number;
  /** Bytes read from the source (read-through gaps included). */
  bytesRead: number;
  ms: number;
}

export interface Token {
  id: number;
  /** The text this token completes (may be '' while a multi-byte character is incomplete). */
  text: string;
}

export interface Stats {
  /** Time to open the model: parse, load weights, build the engine. */
  loadMs: number;
  /** Bytes read from the source so far. */
  bytesRead: number;
  promptTokens: number;
  generatedTokens: number;
  /** From generate() to the first new token: tokenize + prefill + first sample. */
  ttftMs: number;
  prefillMs: number;
  prefillTokPerS: number;
  decodeMs: number;
  decodeTokPerS: number;
  /** 'simd' or 'scalar'. */
  kernels: KernelBuild;
  /** Positions the KV cache holds (prompt + generated tokens must fit). */
  contextLength: number;
  /** Why the last generation ended. */
  finishReason: FinishReason;
  /** Pruning of the last generation: neurons kept (mean share per layer; 1 = dense), the policy. */
  density: number;
  policy: PolicyName;
  /** TTFT split: tokenize, predict (choose neurons), load (fetch and pack neurons), prefill. */
  tokenizeMs: number;
  predictMs: number;
  loadNeuronsMs: number;
  /** Neuron loading of the last generation: bytes and requests read, rows found in the cache. */
  neuronBytesRead: number;
  neuronRequests: number;
  neuronCacheHits: number;
  /** Bytes of all FFN bundles in the file (0 for standard layouts). */
  ffnBytesTotal: number;
  /** Bytes of wasm memory in use: weights, KV cache, scratch, predictor, neuron cache. */
  memoryBytes: number;
}

/** eos: the model ended the text (EOS or BOS); stop: a stop string; length: maxTokens; context: the
 * KV cache is full; timeout: the call's timeoutMs passed; aborted: the signal fired; none: nothing
 * generated yet. */
export type FinishReason = 'eos' | 'stop' | 'length' | 'context' | 'timeout' | 'aborted' | 'none';

/** The tokens of one generate() call, and its own stats. */
export interface Generation extends AsyncIterable<Token> {
  /**
   * This generation's stats: undefined while it waits for its turn, live while it runs, and final once
   * it ended (model.stats() describes whichever generation ran last: with concurrent calls, use this).
   */
  stats(): Stats | undefined;
}

export interface Model {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /**
   * Streams new tokens for a prompt. A model runs one call at a time: concurrent generate, instruct and
   * load calls queue (first come, first served) and each runs as if alone — the same tokens as one at a
   * time. The wait starts at the first `next()`; leaving the loop (break, return, a thrown error) ends
   * the generation and lets the next call run. Do not await another call on the same model inside a
   * generate loop: it waits for that loop to end.
   */
  generate(prompt: string, opts?: GenerateOptions): Generation;
  /** Chooses the FFN neurons for a prompt (no I/O for static and learned). Queues as generate does. */
  instruct(prompt: string, opts: InstructOptions): Promise<Instruction>;
  /**
   * Fetches (or finds in the neuron cache) and activates an instruction's neurons. Queues as generate
   * does; a later generate() without a density uses them, unless another call loaded others meanwhile
   * (concurrent callers should pass `density` to generate, which chooses and loads in one turn).
   */
  load(instruction: Instruction, signal?: AbortSignal): Promise<LoadReport>;
  /** The stats of the generation that ran last (see Generation.stats for one call's own). */
  stats(): Stats;
  /**
   * A string from the model file's GGUF metadata (`tokenizer.chat_template`, `general.name`), or with
   * `index` element `index` of a string array (`tokenizer.ggml.tokens`); undefined when absent or not a string.
   */
  metadata(key: string, index?: number): string | undefined;
  close(): Promise<void>;
}
