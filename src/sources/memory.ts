/** A ByteSource over bytes already in memory (tests, a fetched small file, a model written in memory). */
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';

export function memorySource(bytes: Uint8Array, name = 'memory'): ByteSource {
  const src: ByteSource = {
    size: bytes.length,
    name,
    async readInto(offset, target, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, target.length);
      target.set(bytes.subarray(offset, offset + target.length));
    },
  };
  return src;
}
