/**
 * Where a converted model goes. A ConvertSink takes positioned writes; convert() writes every tensor,
 * then the header last (its chunk hashes are known only then). A `sequential` sink (an upload stream)
 * accepts only writes in increasing order with no gaps: convert() then makes two passes over the
 * tensors, the first only to hash them, and fills alignment gaps with zeros itself.
 */
export interface ConvertSink {
  /** Writes `bytes` at byte `offset` of the output. The bytes may be a view into wasm memory that is
   * reused after the returned promise settles: copy them if they are kept. */
  write(offset: number, bytes: Uint8Array): void | Promise<void>;
  /** Writes must arrive in order, gap-free (see above). Default false. */
  readonly sequential?: boolean;
}

/** A sink into a growing in-memory buffer (tests, small models). */
export function memorySink(): ConvertSink & { bytes(): Uint8Array } {
  let buf = new Uint8Array(1 << 16);
  let length = 0;
  return {
    write(offset, bytes) {
      const end = offset + bytes.length;
      if (end > buf.length) {
        const next = new Uint8Array(Math.max(end, buf.length * 2));
        next.set(buf.subarray(0, length));
        buf = next;
      }
      buf.set(bytes, offset);
      length = Math.max(length, end);
    },
    bytes: () => buf.slice(0, length),
  };
}

/** A sink that forwards in-order chunks to `push` (e.g. a WritableStream writer): sequential. */
export function streamSink(push: (bytes: Uint8Array) => void | Promise<void>): ConvertSink {
  return { sequential: true, write: (_offset, bytes) => push(bytes.slice()) };
}
