// Files for the WASI command, over raw WASI preview 1 calls (the shim's streams throw, i.e. trap, on
// any error; these return a status after fail() instead):
//
//   preopens   fds 3, 4, … that fd_prestat_get describes, each with the guest path of a --dir
//   resolve    a path → (preopen fd, path relative to it): the longest preopen that is a prefix on a
//              path-component boundary ("." matches every relative path)
//   File       path_open + fd_filestat_get (size) + fd_pread in pieces of at most READ_PIECE bytes
//   listDir    fd_readdir names of a directory
//   writeOut / writeErr   fd_write to 1 / 2, looping over short writes
import {
  fd_pread, path_open, fd_filestat_get, fd_prestat_get, fd_prestat_dir_name, fd_readdir, fd_write, fd_close,
  errno, errnoToString, filetype, lookupflags, oflags, rights, prestat, filestat,
} from 'bindings/wasi_snapshot_preview1';
import { fail } from '../rt/error';

/** Bytes per fd_pread: wasmtime-py fails a single iovec ≥ 128 MiB (/work/shared/PLATFORMS.md). */
export const READ_PIECE: u32 = 16 << 20;

/** 64 bytes of scratch for out-values (filestat is 64 bytes; iovec + count, prestat, fd are smaller). */
const scratch: usize = memory.data(64, 16);

// ---------------------------------------------------------------------------------------------------
// stdout / stderr

/** Set once a write to stdout fails (a closed pipe): the run stops generating and exits 0, as Node's. */
export let stdoutClosed: bool = false;

function writeAll(fd: u32, s: string): bool {
  const bytes = String.UTF8.encode(s);
  let p = changetype<usize>(bytes);
  let left = <usize>bytes.byteLength;
  while (left > 0) {
    store<usize>(scratch, p); // iovec.buf
    store<usize>(scratch, left, sizeof<usize>()); // iovec.buf_len
    const err = fd_write(fd, scratch, 1, scratch + 2 * sizeof<usize>());
    const n = load<usize>(scratch, 2 * sizeof<usize>());
    if (err != errno.SUCCESS || n == 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

export function writeOut(s: string): void {
  if (!stdoutClosed && s.length > 0 && !writeAll(1, s)) stdoutClosed = true;
}

export function writeErr(s: string): void {
  if (s.length > 0) writeAll(2, s);
}

// ---------------------------------------------------------------------------------------------------
// preopened directories and path resolution

export class Preopen {
  constructor(public fd: u32, public name: string) {}
}

let preopenList: Array<Preopen> | null = null;

/** The preopened directories, in fd order (fd_prestat_get answers BADF after the last). */
export function preopens(): Array<Preopen> {
  let list = preopenList;
  if (list != null) return list;
  list = new Array<Preopen>();
  for (let fd: u32 = 3; fd < 1024; fd++) {
    // prestat: u8 type at 0, u32 name_len at 4 (wasm32)
    if (fd_prestat_get(fd, changetype<prestat>(scratch)) != errno.SUCCESS) break;
    if (load<u8>(scratch) != 0) continue; // not a directory
    const len = load<u32>(scratch, 4);
    const buf = heap.alloc(<usize>len + 1);
    if (fd_prestat_dir_name(fd, buf, len) == errno.SUCCESS) {
      // Some hosts count a trailing NUL in name_len.
      let n = len;
      while (n > 0 && load<u8>(buf + n - 1) == 0) n--;
      list.push(new Preopen(fd, String.UTF8.decodeUnsafe(buf, n, false)));
    }
    heap.free(buf);
  }
  preopenList = list;
  return list;
}

/** "./a//b/./c/" → "a/b/c"; "." and "" → ""; a leading "/" is kept. */
export function normalize(path: string): string {
  const abs = path.startsWith('/');
  const parts = path.split('/');
  const kept = new Array<string>();
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.length == 0 || p == '.') continue;
    kept.push(p);
  }
  const joined = kept.join('/');
  return abs ? '/' + joined : joined;
}

/** The directory part of a path as Node's path.dirname gives it ("." for a bare name). */
export function dirname(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) == 0x2f) end--;
  const i = path.lastIndexOf('/', end - 1);
  if (i < 0) return '.';
  if (i == 0) return '/';
  return path.substring(0, i);
}

/** path.join(dir, name) for a plain file name. */
export function joinPath(dir: string, name: string): string {
  if (dir == '.' || dir.length == 0) return name;
  return dir.endsWith('/') ? dir + name : dir + '/' + name;
}

export class Resolved {
  constructor(public dirFd: u32, public rel: string) {}
}

/** Where `path` lies among the preopens, or null after fail('not_found', how to grant access). */
export function resolve(path: string): Resolved | null {
  const want = normalize(path);
  const abs = want.startsWith('/');
  const list = preopens();
  let best: Resolved | null = null;
  let bestLen = -1;
  for (let i = 0; i < list.length; i++) {
    const name = normalize(list[i].name);
    if (name.startsWith('/') != abs) continue;
    let rel: string | null = null;
    if (name.length == 0 || name == '/') rel = abs ? want.substring(1) : want;
    else if (want == name) rel = '';
    else if (want.startsWith(name + '/')) rel = want.substring(name.length + 1);
    if (rel != null && name.length > bestLen) {
      best = new Resolved(list[i].fd, rel.length == 0 ? '.' : rel);
      bestLen = name.length;
    }
  }
  if (best == null) {
    const names = new Array<string>();
    for (let i = 0; i < list.length; i++) names.push(list[i].name);
    fail('not_found',
      `${path} is outside the directories this WASI command may read (${names.length > 0 ? names.join(', ') : 'none were given'}); ` +
      `give wasmtime its directory: wasmtime run --dir=${dirname(path)} ifprune.wasi.wasm ...`);
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------
// files

const READ_RIGHTS: u64 = rights.FD_READ | rights.FD_SEEK | rights.FD_TELL | rights.FD_FILESTAT_GET | rights.FD_READDIR;

/** Opens a path (file or directory) relative to a preopen; the fd, or -1 with the errno in lastErrno. */
function openAt(r: Resolved, flags: u16): i64 {
  const bytes = String.UTF8.encode(r.rel);
  const err = path_open(r.dirFd, lookupflags.SYMLINK_FOLLOW, changetype<usize>(bytes), bytes.byteLength, flags, READ_RIGHTS, READ_RIGHTS, 0, scratch);
  lastErrno = err;
  return err == errno.SUCCESS ? <i64>load<u32>(scratch) : -1;
}

let lastErrno: u16 = 0;

/** An open regular file: its size, positioned reads into wasm memory. */
export class File {
  constructor(public fd: u32, public path: string, public size: u64) {}

  /** Opens `path` for reading; null after fail('not_found' | 'bad_option', ...). `what` names it in
   * messages ("model file", "tokenizer"). */
  static open(path: string, what: string): File | null {
    const r = resolve(path);
    if (r == null) return null;
    const fd = openAt(r, 0);
    if (fd < 0) {
      if (lastErrno == errno.NOENT || lastErrno == errno.NOTDIR) {
        fail('not_found', `${what} ${path} does not exist; check the path (paths resolve against the directories given to wasmtime with --dir)`);
      } else {
        fail('not_found', `cannot open ${path}: ${errnoToString(lastErrno)}`);
      }
      return null;
    }
    // filestat: dev u64 @0, ino u64 @8, filetype u8 @16, nlink u64 @24, size u64 @32, ...
    const err = fd_filestat_get(<u32>fd, changetype<filestat>(scratch));
    if (err != errno.SUCCESS) {
      fd_close(<u32>fd);
      fail('not_found', `cannot read the size of ${path}: ${errnoToString(err)}`);
      return null;
    }
    if (load<u8>(scratch, 16) != filetype.REGULAR_FILE) {
      fd_close(<u32>fd);
      fail('bad_option', `${path} is not a regular file (a directory?); pass the path of the ${what} itself`);
      return null;
    }
    return new File(<u32>fd, path, load<u64>(scratch, 32));
  }

  /** Reads `length` bytes at `offset` into wasm memory at `dest`; false after fail('truncated' | 'not_found'). */
  read(offset: u64, dest: usize, length: usize): bool {
    let done: usize = 0;
    while (done < length) {
      const piece = min<usize>(length - done, <usize>READ_PIECE);
      store<usize>(scratch, dest + done);
      store<usize>(scratch, piece, sizeof<usize>());
      const err = fd_pread(this.fd, scratch, 1, offset + <u64>done, scratch + 2 * sizeof<usize>());
      if (err != errno.SUCCESS) {
        return fail('not_found', `cannot read ${length} bytes at ${offset} of ${this.path}: ${errnoToString(err)}`);
      }
      const n = load<usize>(scratch, 2 * sizeof<usize>());
      if (n == 0) {
        return fail('truncated', `${this.path} ended at byte ${offset + <u64>done} while reading ${length} bytes at ${offset}; was the file changed while open?`);
      }
      done += n;
    }
    return true;
  }

  close(): void {
    fd_close(this.fd);
  }
}

/** Names in the directory `path` (without "." and ".."), or null after fail('not_found', ...). */
export function listDir(path: string): Array<string> | null {
  const r = resolve(path);
  if (r == null) return null;
  const fd = openAt(r, oflags.DIRECTORY);
  if (fd < 0) {
    fail('not_found', `cannot list the directory ${path}: ${errnoToString(lastErrno)}`);
    return null;
  }
  const names = new Array<string>();
  const BUF: usize = 64 << 10;
  const buf = heap.alloc(BUF);
  let cookie: u64 = 0;
  let ok = true;
  for (;;) {
    const err = fd_readdir(<u32>fd, buf, BUF, cookie, scratch);
    if (err != errno.SUCCESS) {
      ok = fail('not_found', `cannot list the directory ${path}: ${errnoToString(err)}`);
      break;
    }
    const used = load<usize>(scratch);
    // dirent: next u64 @0, ino u64 @8, namlen u32 @16, type u8 @20, name @24
    let p: usize = 0;
    let progressed = false;
    while (p + 24 <= used) {
      const namlen = <usize>load<u32>(buf + p, 16);
      if (p + 24 + namlen > used) break; // cut off: read again from this entry's cookie
      const name = String.UTF8.decodeUnsafe(buf + p + 24, namlen, false);
      if (name != '.' && name != '..') names.push(name);
      cookie = load<u64>(buf + p);
      p += 24 + namlen;
      progressed = true;
    }
    if (used < BUF || !progressed) break;
  }
  heap.free(buf);
  fd_close(<u32>fd);
  return ok ? names : null;
}
