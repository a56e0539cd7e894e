// The WASI command's side of the sans-I/O boundary (assembly/rt/io.ts): a phase that returns NEED_IO has
// listed byte ranges; serve() reads each from its file into wasm memory with fd_pread and resumes (resume
// counts the bytes read and clears the list), until the phase is DONE or FAILED.
import { DONE, NEED_IO, FAILED, FILE_MODEL, FILE_TOKENIZER, needs } from '../rt/io';
import { fail, failed } from '../rt/error';
import { File } from './fs';
import { ModelSpec } from '../rt/spec';
import { Session, parseModelHeader, headerNeed } from './runtime';

/** The files a session reads: the model, and the llama2.c tokenizer.bin when one is given. */
export class Files {
  constructor(public model: File, public tokenizer: File | null) {}

  /** Reads every listed need; false after fail() (a short file, a read error, an unknown file id). */
  readNeeds(): bool {
    for (let i = 0; i < needs.length; i++) {
      const n = needs[i];
      const f: File | null = n.file == FILE_MODEL ? this.model : n.file == FILE_TOKENIZER ? this.tokenizer : null;
      if (f == null) return fail('bad_option', `the runtime asked for file ${n.file}, which this command did not open`);
      if (!f.read(n.offset, n.dest, <usize>n.length)) return false;
    }
    return true;
  }

  close(): void {
    this.model.close();
    const t = this.tokenizer;
    if (t != null) t.close();
  }
}

/** Serves a phase's needs until it is DONE or FAILED (a failed read makes it FAILED). */
export function serve(session: Session, status: i32, files: Files): i32 {
  while (status == NEED_IO) {
    if (!files.readNeeds()) return FAILED;
    status = session.resume();
  }
  return status == DONE ? DONE : FAILED;
}

/** First header window (the session's): most headers fit. */
const HEADER_WINDOW: u64 = 256 << 10;

/** The model header alone (inspect; run, to tell a llama2.c checkpoint that needs a tokenizer.bin): reads a
 * growing window of the file until the header parser has all it needs.
 * null after fail(). */
export function readHeader(file: File): ModelSpec | null {
  let len = min<u64>(file.size, HEADER_WINDOW);
  let buf = heap.alloc(<usize>len);
  let spec: ModelSpec | null = null;
  if (file.read(0, buf, <usize>len)) {
    for (;;) {
      spec = parseModelHeader(buf, <usize>len, file.size, file.path);
      if (spec != null || failed()) break;
      const want = min<u64>(file.size, max<u64>(headerNeed, len * 2));
      if (want <= len) {
        fail('truncated', file.path + ': the header ends past the end of the file');
        break;
      }
      buf = heap.realloc(buf, <usize>want);
      if (!file.read(len, buf + <usize>len, <usize>(want - len))) break;
      len = want;
    }
  }
  heap.free(buf);
  return spec;
}
