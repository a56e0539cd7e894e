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
  /** Kernel build: 'auto' (default) picks SIMD where the runtime validates it. */
  kernels?: KernelBuild | 'auto';
  /** A compiled kernel module (Workers must import it); default: the platform adapter loads one. */
  module?: WebAssembly.Module;
  /** Context length to allocate the KV cache for (default: the model's, capped at 2048). */
  contextLength?: number;
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
  signal?: AbortSignal;
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
}

/** eos: the model ended the text (EOS or BOS); stop: a stop string; length: maxTokens; context: the
 * KV cache is full; aborted: the signal fired; none: nothing generated yet. */
export type FinishReason = 'eos' | 'stop' | 'length' | 'context' | 'aborted' | 'none';

export interface Model {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /** Streams new tokens for a prompt. One generation at a time per model. */
  generate(prompt: string, opts?: GenerateOptions): AsyncIterable<Token>;
  stats(): Stats;
  close(): Promise<void>;
}
