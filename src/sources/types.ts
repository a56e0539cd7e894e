/**
 * A ByteSource is where model bytes come from: a file, an HTTP server (Range requests), an R2 binding
 * or memory. Parsers and the loader see only this interface.
 */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A short name for messages (a path, a URL, "memory"). */
  readonly name: string;
  /**
   * Fills `target` with the bytes [offset, offset + target.length). Rejects with
   * IfpruneError('truncated') when the range extends past `size`.
   */
  readInto(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void>;
  /**
   * readInto done synchronously, for sources where that is far cheaper (local files: a positioned read
   * from the page cache costs a few µs in the calling thread, against ~25 µs of CPU through the I/O
   * thread pool). The runtime's neuron loads use it when present: thousands of small reads, during which
   * the event loop waits as it does during a forward step.
   */
  readIntoSync?(offset: number, target: Uint8Array): void;
  /**
   * Gaps between needed ranges up to this many bytes are cheaper to read through than to skip with
   * another read: the runtime's neuron load plans use it unless OpenOptions.gapBytes is given (local
   * files: LOCAL_READ_THROUGH_BYTES; sources that merge requests themselves, such as HTTP, leave it out).
   */
  readonly readThroughBytes?: number;
  /** Releases a file handle or connection, if any. */
  close?(): Promise<void>;
}
