/**
 * A safetensors checkpoint (+ its config.json) presented as a GGUF file, so the wasm runtime, which
 * parses GGUF and llama2.c, runs it without a second copy of its loader: the view's header is a GGUF v3
 * header encoded here from the parsed safetensors table, and each tensor's data range maps onto the same
 * bytes of the original file (no copy, no conversion; padding between tensors reads as zeros).
 *
 *   view:  [ GGUF header | pad ][ tensor 0 | pad ][ tensor 1 | pad ] …
 *   file:                       ^ safetensors offset of tensor 0   ^ … of tensor 1
 *
 * Hugging Face Llama and Qwen2 checkpoints rotate query/key halves (NeoX RoPE), which GGUF expresses by
 * the qwen2 architecture; attention biases and a tied classifier follow from the tensors present.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';
import { GGUFValueType as T } from './gguf.ts';
import { encodeGGUFHeader, type GGUFKVInput } from './gguf-write.ts';
import { parseSafetensors, safetensorsToModelSpec } from './safetensors.ts';
import { hyperparameterKeys } from '../convert/metadata.ts';

interface Segment {
  /** Offset in the view. */
  at: number;
  bytes: number;
  /** Offset in the source, or -1 for bytes held in `data`. */
  from: number;
  data?: Uint8Array;
}

export async function ggufView(src: ByteSource, config: object | undefined, signal?: AbortSignal): Promise<ByteSource> {
  if (!config) {
    throw new IfpruneError('bad_option', `${src.name} is a safetensors checkpoint: pass its config.json as { config } (the command line reads config.json beside the model)`);
  }
  const spec = safetensorsToModelSpec(await parseSafetensors(src, signal), src, config);
  const arch = spec.config.ropeStyle === 'neox' ? 'qwen2' : 'llama';
  const metadata: GGUFKVInput[] = [
    { key: 'general.architecture', type: T.STRING, value: arch },
    { key: 'general.name', type: T.STRING, value: src.name },
    ...hyperparameterKeys(arch, spec.config),
  ];
  const tensors = [...spec.tensors.values()];
  const layout = encodeGGUFHeader(metadata, tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims })));
  const segments: Segment[] = [{ at: 0, bytes: layout.header.length, from: -1, data: layout.header }];
  tensors.forEach((t, i) => segments.push({ at: layout.tensorOffsets[i]!, bytes: t.bytes, from: t.offset }));
  return {
    size: layout.totalBytes,
    name: src.name,
    async readInto(offset: number, target: Uint8Array, sig?: AbortSignal): Promise<void> {
      if (offset < 0 || offset + target.length > layout.totalBytes) {
        throw new IfpruneError('truncated', `${src.name}: read of [${offset}, ${offset + target.length}) past the end of its GGUF view (${layout.totalBytes} bytes)`);
      }
      target.fill(0); // padding
      const end = offset + target.length;
      const reads: Promise<void>[] = [];
      for (const s of segments) {
        const lo = Math.max(offset, s.at);
        const hi = Math.min(end, s.at + s.bytes);
        if (lo >= hi) continue;
        const into = target.subarray(lo - offset, hi - offset);
        if (s.data) into.set(s.data.subarray(lo - s.at, hi - s.at));
        else reads.push(src.readInto(s.from + (lo - s.at), into, sig));
      }
      await Promise.all(reads);
    },
    close: src.close ? () => src.close!() : undefined,
  };
}
