// ifprune's own metadata in a GGUF file (docs/format.md; the TS oracle is src/formats/ifprune.ts and
// src/pruning/predictor-file.ts): format version, layout, chunk hashes, neuron bundles, permutation,
// predictor description, always-on neurons.
import { ModelSpec, IfpruneInfo } from './spec';

/** The file's ifprune info, or null for a plain GGUF (no ifprune.* keys). On a damaged ifprune section:
 * null with fail('corrupt' | 'bad_version' | 'unsupported', ...). Check failed() to tell them apart. */
export function readIfpruneInfo(spec: ModelSpec): IfpruneInfo | null {
  // TODO(formats helper): implement (mirror src/formats/ifprune.ts readIfpruneInfo + predictor-file.ts).
  return null;
}

/**
 * Verifies `len` bytes at wasm address `ptr`, which the host read from tensor `tensor` starting
 * `offsetInTensor` bytes into it, against the file's chunk hashes (every chunk the range covers
 * completely; a range must start on a chunk boundary). No info (plain GGUF, llama2.c): true.
 * A mismatch: fail('hash_mismatch', naming the tensor and the byte offset) and false.
 */
export function verifyTensorBytes(info: IfpruneInfo | null, tensor: string, offsetInTensor: u64, ptr: usize, len: usize): bool {
  // TODO(formats helper): implement (mirror src/formats/ifprune.ts verifyTensorBytes).
  return true;
}
