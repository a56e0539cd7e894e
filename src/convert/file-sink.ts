/**
 * Node.js file sink for convert(): positioned writes into `path`.tmp, renamed to `path` by finish();
 * abort() removes the partial file, so a failed conversion never leaves a plausible-looking model.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { IfpruneError } from '../errors.ts';
import type { ConvertSink } from './sink.ts';

export interface FileSink extends ConvertSink {
  readonly path: string;
  /** Sets the final size, closes and renames the temporary file into place. */
  finish(totalBytes: number): Promise<void>;
  /** Closes and deletes the temporary file. */
  abort(): Promise<void>;
}

export async function fileSink(path: string): Promise<FileSink> {
  const tmp = `${path}.tmp`;
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'w');
  } catch (cause) {
    throw new IfpruneError('not_found', `cannot create ${tmp}: ${(cause as Error).message}`, { cause });
  }
  let closed = false;
  return {
    path,
    async write(offset, bytes) {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, offset + done);
        done += bytesWritten;
      }
    },
    async finish(totalBytes) {
      await fh.truncate(totalBytes);
      await fh.close();
      closed = true;
      await rename(tmp, path);
    },
    async abort() {
      if (!closed) await fh.close().catch(() => {});
      closed = true;
      await rm(tmp, { force: true });
    },
  };
}
