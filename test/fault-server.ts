/**
 * A fault-injecting HTTP Range server for tests (test/faults.test.ts), on 127.0.0.1: it serves byte
 * arrays by path, honours Range and If-Match like a static file server, and misbehaves on the GETs a
 * test schedules. Every request is logged.
 *
 *   const server = await FaultServer.start({ '/m.gguf': bytes });
 *   server.schedule({ kind: 'reset' }, { from: 3 });   // the 4th GET from now: half the body, then a TCP RST
 *   ... server.log, server.gets() ...
 *   await server.quiet();                              // requests the client gave up on have arrived
 *   server.reset();                                    // no faults, empty log
 *
 * Faults (one GET each):
 *   status          answer `status` (with Retry-After if given), no body
 *   ignore-range    200 with the whole file
 *   wrong-range     206, Content-Range start off by one
 *   no-content-range 206 without Content-Range
 *   short           half the body, then a clean end (chunked, no Content-Length): a body cut short
 *   reset           half the body, then a TCP reset (socket.resetAndDestroy)
 *   reset-headers   a TCP reset before any answer
 *   stall-headers   no answer at all, until the client gives up
 *   stall-body      headers and half the body, then nothing until the client gives up
 *   flip            one byte of the body inverted: the file byte `at` if the body covers it (else the
 *                   fault waits for a GET that does), or the middle byte of the body
 *   replace         the file is replaced before this GET is answered (same bytes, new ETag: a re-upload)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string }
  | { kind: 'ignore-range' | 'wrong-range' | 'no-content-range' | 'short' | 'reset' | 'reset-headers' | 'stall-headers' | 'stall-body' | 'replace' }
  | { kind: 'flip'; at?: number };

export interface Logged {
  method: string;
  path: string;
  range?: string;
  ifMatch?: string;
  status: number;
  /** The fault applied to this request, if any. */
  fault?: Fault['kind'];
}

export interface ServerOptions {
  /** ETags as W/"…" (weak), or none at all. Default strong. */
  etag?: 'strong' | 'weak' | 'none';
  /** Answer 412 to an If-Match that does not match (default true; false: ignore If-Match, as some servers do). */
  honorIfMatch?: boolean;
  /** Never answer a HEAD (until the client gives up). */
  stallHead?: boolean;
}

interface File {
  bytes: Uint8Array;
  version: number;
}

/** Writes body bytes [a, b) of `bytes` in 64 KiB chunks, waiting for drain; stops after `limit` bytes or on close. */
export async function sendBody(res: ServerResponse, bytes: (a: number, b: number) => Uint8Array, a: number, b: number, limit = Infinity, st = { written: 0 }): Promise<void> {
  let pos = a;
  while (pos < b && pos - a < limit && !res.destroyed) {
    const chunk = bytes(pos, Math.min(b, pos + (64 << 10), a + limit));
    pos += chunk.length;
    st.written += chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((r) => {
        const done = () => (res.off('drain', done), res.off('close', done), r());
        res.on('drain', done).on('close', done);
      });
    }
  }
}

export class FaultServer {
  log: Logged[] = [];
  private files = new Map<string, File>();
  /** Scheduled faults by GET ordinal (counted from the last reset). */
  private plan = new Map<number, Fault>();
  private pendingFlips: number[] = [];
  private getCount = 0;
  private opts: Required<ServerOptions> = { etag: 'strong', honorIfMatch: true, stallHead: false };

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(files: Record<string, Uint8Array>): Promise<FaultServer> {
    let self: FaultServer | undefined;
    const server = createServer((req, res) => void self!.handle(req, res).catch((e) => res.destroy(e)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    self = new FaultServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    for (const [path, bytes] of Object.entries(files)) self.files.set(path, { bytes, version: 1 });
    return self;
  }

  url(path: string): string {
    return this.base + path;
  }

  /** `fault` on GETs from+0 … from+count-1, counted from now (count Infinity: every GET from then on). */
  schedule(fault: Fault, { from = 0, count = 1 }: { from?: number; count?: number } = {}): void {
    if (count === Infinity) {
      this.persistent = { fault, from: this.getCount + from };
      return;
    }
    for (let i = 0; i < count; i++) this.plan.set(this.getCount + from + i, fault);
  }
  private persistent: { fault: Fault; from: number } | undefined;

  /** Replaces a file now (same bytes unless given, new ETag). */
  replace(path: string, bytes?: Uint8Array): void {
    const f = this.files.get(path)!;
    f.bytes = bytes ?? f.bytes;
    f.version++;
  }

  configure(opts: ServerOptions): void {
    this.opts = { ...this.opts, ...opts };
  }

  /**
   * Waits until no response is open and no request came for `ms`: a request the client cancelled may
   * still reach the server after the client has moved on, and would land in the next test's log.
   */
  async quiet(ms = 50): Promise<void> {
    while (this.open > 0 || performance.now() - this.lastRequest < ms) await new Promise((r) => setTimeout(r, 10));
  }
  private open = 0;
  private lastRequest = 0;

  /** Clears the log, the scheduled faults and the options; every file is back at its first version. */
  reset(): void {
    for (const f of this.files.values()) f.version = 1;
    this.log = [];
    this.plan.clear();
    this.persistent = undefined;
    this.pendingFlips = [];
    this.opts = { etag: 'strong', honorIfMatch: true, stallHead: false };
  }

  gets(): Logged[] {
    return this.log.filter((e) => e.method === 'GET');
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private etagOf(f: File): string | undefined {
    const tag = `"v${f.version}-${f.bytes.length}"`;
    return this.opts.etag === 'none' ? undefined : this.opts.etag === 'weak' ? `W/${tag}` : tag;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.open++;
    this.lastRequest = performance.now();
    res.once('close', () => {
      this.open--;
      this.lastRequest = performance.now();
    });
    const path = new URL(req.url!, 'http://x').pathname;
    const entry: Logged = { method: req.method!, path, range: req.headers.range, ifMatch: req.headers['if-match'], status: 0 };
    this.log.push(entry);
    const reply = (status: number, headers: Record<string, string | number | undefined> = {}) => {
      entry.status = status;
      res.writeHead(status, Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string | number>);
    };
    let fault: Fault | undefined;
    if (req.method === 'GET') {
      const n = this.getCount++;
      fault = this.plan.get(n) ?? (this.persistent && n >= this.persistent.from ? this.persistent.fault : undefined);
      this.plan.delete(n);
    }
    if (fault?.kind === 'replace') this.replace(path);
    const f = this.files.get(path);
    if (!f) return void (reply(404), res.end('not found'));
    const size = f.bytes.length;
    const etag = this.etagOf(f);
    if (req.method === 'HEAD' && this.opts.stallHead) return void (await new Promise((r) => res.once('close', r)));
    if (req.method === 'HEAD') return void (reply(200, { 'content-length': size, 'accept-ranges': 'bytes', etag }), res.end());

    if (fault) entry.fault = fault.kind;
    if (fault?.kind === 'reset-headers') return void req.socket.resetAndDestroy();
    if (fault?.kind === 'stall-headers') return void (await new Promise((r) => res.once('close', r)));
    if (fault?.kind === 'status') return void (reply(fault.status, { 'retry-after': fault.retryAfter }), res.end('fault'));
    const ifMatch = req.headers['if-match'];
    if (ifMatch && this.opts.honorIfMatch && !(etag && !etag.startsWith('W/') && ifMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*'))) {
      return void (reply(412, { etag }), res.end());
    }
    const m = req.headers.range ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range) : null;
    let [a, b] = [0, size];
    if (m && fault?.kind !== 'ignore-range') {
      [a, b] = [Number(m[1]), Math.min(Number(m[2]) + 1, size)];
      if (a >= size) return void (reply(416, { 'content-range': `bytes */${size}` }), res.end());
      const cr = fault?.kind === 'no-content-range' ? undefined : `bytes ${a + (fault?.kind === 'wrong-range' ? 1 : 0)}-${b - 1}/${size}`;
      reply(206, { 'content-range': cr, 'content-length': fault?.kind === 'short' ? undefined : b - a, 'accept-ranges': 'bytes', etag });
    } else {
      reply(200, { 'content-length': size, 'accept-ranges': 'bytes', etag });
    }
    // A flip of byte `at` waits for the GET whose body covers it.
    if (fault?.kind === 'flip') this.pendingFlips.push(fault.at ?? a + Math.floor((b - a) / 2));
    const flipHere = this.pendingFlips.filter((x) => x >= a && x < b);
    this.pendingFlips = this.pendingFlips.filter((x) => !(x >= a && x < b));
    if (flipHere.length && !fault) entry.fault = 'flip';
    const bytes = f.bytes;
    const slice = (x: number, y: number) => {
      const out = bytes.slice(x, y);
      for (const at of flipHere) if (at >= x && at < y) out[at - x]! ^= 0xff;
      return out;
    };
    const half = Math.floor((b - a) / 2);
    if (fault?.kind === 'short') {
      await sendBody(res, slice, a, b, half);
      return void res.end();
    }
    if (fault?.kind === 'reset' || fault?.kind === 'stall-body') {
      await sendBody(res, slice, a, b, half);
      await new Promise((r) => setTimeout(r, 5)); // let the half reach the client first
      if (fault.kind === 'reset') return void req.socket.resetAndDestroy();
      return void (await new Promise((r) => res.once('close', r)));
    }
    await sendBody(res, slice, a, b);
    res.end();
  }
}
