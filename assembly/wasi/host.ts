// The WASI command's side of the sans-I/O boundary (assembly/rt/io.ts): a phase that returns NEED_IO has
// listed byte ranges; serve() reads each from its file into wasm memory with fd_pread and resumes (resume
// counts the bytes read and clears the list), until the phase is DONE or FAILED.
import { DONE, NEED_IO, FAILED, FILE_MODEL, FILE_TOKENIZER, needs } from '../rt/io';
import { fail } from '../rt/error';
import { File } from './fs';
import { Session, OpenOptions } from './runtime';

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

/** The model header alone (inspect): the session's header phase (Session.openHeader) served from
 * `file`. The session, with spec and info set, or null after fail(). */
export function openHeader(file: File): Session | null {
  const o = new OpenOptions();
  o.fileName = file.path;
  const session = new Session(file.size, o);
  return serve(session, session.openHeader(), new Files(file, null)) == DONE ? session : null;
}
