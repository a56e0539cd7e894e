/**
 * A ByteSource over a local file (Node.js; Deno runs it through its node: compatibility), reading with
 * positioned reads on one FileHandle straight into the caller's view (readIntoSync: the same reads
 * without the thread pool, for neuron loads). Call close() when done.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { readSync } from 'node:fs';
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';

/**
 * Read-through gap of local files: one page. A gap under a page costs the disk nothing (the kernel reads
 * whole pages), only a copy. Measured (bench/local-reads.ts, random 25% of a SmolLM2-135M-shaped bundled
 * Q8_0 file, warm page cache, medians of 3), through the thread pool: gap 0 8,603 reads 538 ms; 4 KiB
 * 4,850 reads 359 ms reading 1.46× the selected bytes; 16 KiB 873 reads 283 ms but 3.1×. With the
 * synchronous reads neuron loads now make (readIntoSync), a read costs a few µs and the gap matters
 * little: 107 / 105 / 118 ms. ifp-demo's learned 25% (612-byte rows): 309 → 105 requests, 1.7× the
 * bytes. Larger gaps trade bytes (the mission's cost) for fewer reads: pass OpenOptions.gapBytes.
 */
export const LOCAL_READ_THROUGH_BYTES = 4096;

export async function fileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new IfpruneError('not_found', `model file ${path} does not exist; check the path (relative paths resolve from ${process.cwd()})`, { cause });
    }
    throw new IfpruneError('not_found', `cannot open ${path}: ${(cause as Error)?.message ?? cause}`, { cause });
  }
  const stat = await fh.stat();
  if (!stat.isFile()) {
    await fh.close();
    throw new IfpruneError('bad_option', `${path} is not a regular file (a directory?); pass the path of the model file itself`);
  }
  /** bytesRead of a positioned read at offset + done, or 'truncated' when the file ended. */
  const counted = (offset: number, target: Uint8Array, done: number, bytesRead: number): number => {
    if (bytesRead === 0) {
      throw new IfpruneError('truncated', `${path} ended at byte ${offset + done} while reading ${target.length} bytes at ${offset}; was the file changed while open?`);
    }
    return bytesRead;
  };
  const src: ByteSource = {
    size: stat.size,
    name: path,
    readThroughBytes: LOCAL_READ_THROUGH_BYTES,
    async readInto(offset, target, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, target.length);
      // A positioned read may return fewer bytes than asked; loop until the view is full.
      let done = 0;
      while (done < target.length) {
        done += counted(offset, target, done, (await fh.read(target, done, target.length - done, offset + done)).bytesRead);
        signal?.throwIfAborted();
      }
    },
    readIntoSync(offset, target) {
      checkRange(src, offset, target.length);
      let done = 0;
      while (done < target.length) done += counted(offset, target, done, readSync(fh.fd, target, done, target.length - done, offset + done));
    },
    close: () => fh.close(),
  };
  return src;
}
