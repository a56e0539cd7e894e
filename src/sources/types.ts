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
  /** Releases a file handle or connection, if any. */
  close?(): Promise<void>;
}
