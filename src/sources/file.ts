/**
 * A ByteSource over a local file (Node.js; Deno runs it through its node: compatibility), reading with
 * positioned reads on one FileHandle straight into the caller's view. Call close() when done.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';

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
