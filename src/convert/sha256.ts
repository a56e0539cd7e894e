/**
 * SHA-256 of a whole ByteSource, read in order in SHA256_WINDOW_BYTES windows (memory stays constant).
 * Web Crypto has no incremental digest, so this uses node:crypto (Node, Deno, Bun, workerd with
 * nodejs_compat); where it is missing, pass convert() a precomputed `sourceSha256`.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from '../sources/types.ts';

export const SHA256_WINDOW_BYTES = 8 << 20;

export async function sha256Source(src: ByteSource, onBytes?: (done: number, total: number) => void, signal?: AbortSignal): Promise<string> {
  let crypto: typeof import('node:crypto');
  try {
    crypto = await import('node:crypto');
  } catch (cause) {
    throw new IfpruneError('unsupported', 'this runtime has no node:crypto for hashing the source model; pass convert() the sourceSha256 option', { cause });
  }
  const h = crypto.createHash('sha256');
  const buf = new Uint8Array(Math.min(SHA256_WINDOW_BYTES, Math.max(1, src.size)));
  for (let at = 0; at < src.size; at += buf.length) {
    signal?.throwIfAborted();
    const n = Math.min(buf.length, src.size - at);
    const view = buf.subarray(0, n);
    await src.readInto(at, view, signal);
    h.update(view);
    onBytes?.(at + n, src.size);
  }
  return h.digest('hex');
}
