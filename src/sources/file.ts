/**
 * A ByteSource over a local file (Node.js; Deno runs it through its node: compatibility), reading with
 * positioned reads on one FileHandle straight into the caller's view. Call close() when done.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';

/**
 * Read-through gap of local files: one page. A gap under a page costs the disk nothing (the kernel reads
 * whole pages), only a copy. Measured (bench/local-reads.ts, random 25% of a SmolLM2-135M-shaped bundled
 * Q8_0 file, warm page cache, medians of 3): gap 0 8,603 reads 538 ms; 4 KiB 4,850 reads 359 ms reading
 * 1.46× the selected bytes; 16 KiB 873 reads 283 ms but 3.1×. ifp-demo's learned 25% (612-byte rows):
 * 309 → 105 requests, 1.7× the bytes. Larger gaps trade bytes (the mission's cost) for fewer reads:
 * pass OpenOptions.gapBytes.
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
        const { bytesRead } = await fh.read(target, done, target.length - done, offset + done);
        if (bytesRead === 0) {
          throw new IfpruneError('truncated', `${path} ended at byte ${offset + done} while reading ${target.length} bytes at ${offset}; was the file changed while open?`);
        }
        done += bytesRead;
        signal?.throwIfAborted();
      }
    },
    close: () => fh.close(),
  };
  return src;
}
