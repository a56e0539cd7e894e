/**
 * A ByteSource over HTTP Range requests, using only the standard `fetch` (Node 18+, Deno, Workers,
 * browsers; pass `fetch` to use another one, e.g. a service binding's).
 *
 * Opening costs one request: a HEAD whose Content-Length gives the size and whose `Accept-Ranges: bytes`
 * says Range works. A server that refuses HEAD, omits either header or compresses the body is asked
 * `Range: bytes=0-0` instead, and the size is the total of the Content-Range in its 206 answer.
 *
 * Every read is `GET` with `Range: bytes=a-b` and must come back as
 *
 *   206 Partial Content
 *   Content-Range: bytes a-b/size     (exactly the range asked, and the size known since opening)
 *   body: b - a + 1 bytes             (streamed chunk by chunk straight into the caller's view)
 *
 * and, when opening gave a strong ETag, carries `If-Match: <that ETag>`: a file replaced on the server
 * meanwhile answers 412 instead of bytes of the new file (docs/platforms.md, "Network faults").
 * A 200 to a Range request means the server ignores Range and is sending the whole file: that is
 * IfpruneError('range_unsupported') and the body is cancelled, never downloaded by accident.
 *
 * Failures: network errors (a reset connection included), 429 and 5xx, and a request that receives
 * nothing for `timeoutMs` (headers or body stalled) are retried `retries` times with exponential
 * backoff, equal jitter and Retry-After (both capped at `maxBackoffMs`); a body cut short is retried
 * from the first missing byte. 404/410 → 'not_found', 401/403 → 'http_error' (access denied), other
 * statuses → 'http_error' at once; a Content-Range other than the one asked → 'http_error'; a different
 * total size, 412 to If-Match or another ETag (the file changed on the server) → 'corrupt'; a body
 * still short after the retries → 'truncated', still stalled → 'http_error'; the caller's AbortSignal →
 * 'aborted' at once, whether waiting for headers, body or a backoff. Bytes are never checked here: the
 * runtime verifies every tensor byte against the file's chunk hashes ('hash_mismatch').
 *
 * `readRanges` serves the load planner: many small ranges are merged into few requests (ranges.ts) and
 * run with bounded concurrency. Multi-range requests (`bytes=a-b,c-d`, multipart answers) are not used:
 * many servers and CDNs do not support them. `stats()` counts requests (HEAD, retries and probes
 * included), body bytes received (read-through gaps included) and retries.
 *
 * Messages name the URL without its query string, which often holds a signature or token.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';
import { MAX_REQUEST_BYTES, readSpans, type RangeRead } from './ranges.ts';

export type { RangeRead } from './ranges.ts';

export interface HttpSourceOptions {
  /** Sent with every request (e.g. `{ Authorization: 'Bearer …' }`). */
  headers?: HeadersInit;
  /** The fetch to use (default: the global one). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Extra attempts after a network error, a 429 or a 5xx (per request). */
  retries?: number;
  /** First backoff delay; it doubles on each retry, with jitter (ms). */
  backoffMs?: number;
  /** Cap on one backoff delay, Retry-After included (ms). */
  maxBackoffMs?: number;
  /** readRanges: ranges this close (bytes) are merged into one request and the gap read through. */
  gapBytes?: number;
  /** readRanges: largest span of one request (bytes). */
  maxRequestBytes?: number;
  /** readRanges: requests in flight at once. */
  concurrency?: number;
  /**
   * Longest wait (ms) for the answer's headers, and then between two pieces of its body: a request
   * that stalls that long is cancelled and retried like a network error (from the first byte not yet
   * received), then fails with 'http_error'. A slow but moving download never times out. A HEAD that
   * stalls at opening falls back to the one-byte probe. Default DEFAULT_TIMEOUT_MS (30 s).
   */
  timeoutMs?: number;
  /**
   * Guard against the file being replaced while open (default true): every read sends
   * `If-Match: <the ETag from opening>` (a strong ETag only: a weak one never matches), and an answer
   * of 412 Precondition Failed, or one with another ETag, is 'corrupt' (the file changed: reopen it).
   * A page reading another origin sends no If-Match (it would need a CORS preflight the server may
   * refuse) but still compares the ETags it can see. false: neither; only a changed size is noticed.
   */
  checkEtag?: boolean;
  /** Cancels the opening request(s). */
  signal?: AbortSignal;
}

export interface HttpStats {
  /** Requests sent: HEAD, probe, reads and their retries. */
  requests: number;
  /** Body bytes received, read-through gaps and the bytes of failed attempts included. */
  bytes: number;
  /** Attempts repeated after a transient failure. */
  retries: number;
}

export interface HttpSource extends ByteSource {
  /** The URL as given (resolved), query string included. */
  readonly url: string;
  /** The ETag the server sent when the source was opened, if any (for caches). */
  readonly etag?: string;
  /**
   * Fills every range's target (target.length === length), merging near ranges into few requests.
   * Rejects with the first failure (the other requests are cancelled, and it rejects only once none
   * is still writing into a target) or 'truncated' for a range outside the file, before any request.
   */
  readRanges(ranges: readonly RangeRead[], signal?: AbortSignal): Promise<void>;
  stats(): HttpStats;
}

/** Receives body bytes: `pos` counts from the first byte of the request's range. */
type Sink = (pos: number, chunk: Uint8Array) => void;

/** What went wrong in one attempt, and whether another attempt may help. */
interface Failure {
  error: IfpruneError;
  retry: boolean;
  retryAfterMs?: number;
}

export async function httpSource(
  url: string | URL,
  {
    headers,
    fetch: fetchImpl = (input, init) => globalThis.fetch(input, init),
    retries = 3,
    backoffMs = 200,
    maxBackoffMs = 10_000,
    gapBytes = 16 << 10,
    maxRequestBytes = MAX_REQUEST_BYTES,
    concurrency = 4,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    checkEtag = true,
    signal: openSignal,
  }: HttpSourceOptions = {},
): Promise<HttpSource> {
  checkCount('retries', retries, 0);
  checkCount('backoffMs', backoffMs, 0);
  checkCount('maxBackoffMs', maxBackoffMs, 0);
  checkCount('gapBytes', gapBytes, 0);
  checkCount('maxRequestBytes', maxRequestBytes, 1);
  checkCount('concurrency', concurrency, 1);
  checkCount('timeoutMs', timeoutMs, 1);
  let parsed: URL;
  try {
    parsed = new URL(String(url), (globalThis as { location?: { href?: string } }).location?.href);
  } catch (cause) {
    throw new IfpruneError('bad_option', `httpSource: ${JSON.stringify(String(url))} is not a valid URL; pass an absolute http(s) URL`, { cause });
  }
  const href = parsed.href;
  const name = displayName(parsed);
  const stats: HttpStats = { requests: 0, bytes: 0, retries: 0 };
  let size = -1; // unknown until opened
  let etag: string | undefined;

  // If-Match needs a strong ETag (RFC 9110 13.1.1 compares strongly), and from a page a CORS preflight.
  const page = (globalThis as { location?: { origin?: string } }).location?.origin;
  const ifMatch = checkEtag && !(page !== undefined && page !== parsed.origin);
  const sendsIfMatch = () => ifMatch && etag !== undefined && !etag.startsWith('W/');

  const aborted = (signal: AbortSignal) => new IfpruneError('aborted', `reading ${name} was aborted`, { cause: signal.reason });

  async function send(method: 'HEAD' | 'GET', range: string | undefined, signal?: AbortSignal): Promise<Response> {
    const h = new Headers(headers);
    if (range) h.set('range', range);
    if (method === 'GET' && sendsIfMatch()) h.set('if-match', etag!);
    stats.requests++;
    return fetchImpl(href, { method, headers: h, signal, redirect: 'follow' });
  }

  /** The message of a request that got no bytes for timeoutMs. */
  const stalled = (asked: string, after: string) =>
    new IfpruneError('http_error', `${name} sent nothing for ${timeoutMs} ms ${after} ${asked}; the server or the network stalled (timeoutMs: ${timeoutMs})`);

  /** The failure a non-206 status means (`asked` names the request for the message). */
  function statusFailure(res: Response, asked: string): Failure {
    const s = res.status;
    const line = `HTTP ${s}${res.statusText ? ' ' + res.statusText : ''}`;
    if (s === 429 || s >= 500) {
      return { error: new IfpruneError('http_error', `${name} answered ${line} to ${asked}`), retry: true, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
    }
    if (s === 404 || s === 410) {
      return { error: new IfpruneError('not_found', `${name} was not found (${line}); check the URL`), retry: false };
    }
    if (s === 401 || s === 403) {
      return {
        error: new IfpruneError('http_error', `access to ${name} was denied (${line}); pass credentials with httpSource(url, { headers: { Authorization: … } }) or use a signed URL`),
        retry: false,
      };
    }
    if (s === 200) {
      const len = res.headers.get('content-length');
      return {
        error: new IfpruneError(
          'range_unsupported',
          `${name} ignores HTTP Range requests: asked for ${asked}, it answered ${line} with the whole file${len ? ` (${len} bytes)` : ''}. ` +
            'ifprune reads a model in pieces and will not download it whole by accident: serve the file from a server that supports ' +
            'Range requests (most static file servers, CDNs, S3 and R2 do), or download it first and open the local file',
        ),
        retry: false,
      };
    }
    if (s === 412 && sendsIfMatch()) {
      return {
        error: new IfpruneError('corrupt', `${name} changed on the server since it was opened: it answered ${line} to ${asked} with If-Match: ${etag} (the ETag from opening); open it again to read the new file`),
        retry: false,
      };
    }
    if (s === 416) {
      const cr = res.headers.get('content-range');
      return {
        error: new IfpruneError('http_error', `${name} answered ${line} to ${asked}${cr ? ` (Content-Range: ${cr})` : ''}; the file on the server is shorter than expected: was it changed? open it again`),
        retry: false,
      };
    }
    return { error: new IfpruneError('http_error', `${name} answered ${line} to ${asked}; expected 206 Partial Content`), retry: false };
  }

  /**
   * Reads bytes [start, end) into `sink`, retrying transient failures and resuming a cut-short body
   * from its first missing byte. Returns the total size from the last Content-Range, and the ETag.
   */
  async function fetchRange(start: number, end: number, sink: Sink, signal: AbortSignal | undefined): Promise<{ total: number; etag?: string }> {
    let got = 0; // bytes delivered to the sink, from `start`
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw aborted(signal);
      const from = start + got;
      const asked = `bytes ${from}-${end - 1}`;
      const outcome = await attemptRange(from, end, asked, signal, (chunk) => {
        sink(got, chunk);
        got += chunk.length;
      });
      if (!('error' in outcome)) return outcome;
      if (!outcome.retry || attempt >= retries) {
        if (outcome.retry && attempt > 0) outcome.error.message += ` (after ${attempt + 1} attempts)`;
        throw outcome.error;
      }
      stats.retries++;
      await sleep(backoff(attempt, outcome.retryAfterMs), signal, () => aborted(signal!));
    }

    /**
     * One attempt: the total size on success, or what failed. Throws only 'aborted' and what `deliver`
     * throws. A watchdog cancels it when no bytes come for timeoutMs.
     */
    async function attemptRange(
      from: number,
      to: number,
      asked: string,
      signal: AbortSignal | undefined,
      deliver: (chunk: Uint8Array) => void,
    ): Promise<{ total: number; etag?: string } | Failure> {
      const watch = new Watchdog(timeoutMs, signal);
      try {
        let res: Response;
        try {
          res = await send('GET', `bytes=${from}-${to - 1}`, watch.signal);
        } catch (cause) {
          if (signal?.aborted) throw aborted(signal);
          if (watch.fired) return { error: stalled(asked, 'in answer to'), retry: true };
          return { error: new IfpruneError('http_error', `could not fetch ${asked} of ${name}: ${describe(cause)}`, { cause }), retry: true };
        }
        // The whole file asked and sent: a 200 is then exactly the bytes asked for.
        const whole = res.status === 200 && from === 0 && to === size && size >= 0;
        let total = size;
        if (res.status !== 206 && !whole) {
          cancel(res);
          return statusFailure(res, asked);
        }
        if (!whole) {
          const cr = res.headers.get('content-range');
          const m = cr ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(cr) : null;
          const expected = `bytes ${from}-${to - 1}/${size >= 0 ? size : '<size>'}`;
          if (!m || Number(m[1]) !== from || Number(m[2]) !== to - 1) {
            cancel(res);
            const why = cr
              ? 'the server or a proxy mangles Range requests'
              : 'in a browser, a server on another origin must list Content-Range (and Accept-Ranges, ETag) in Access-Control-Expose-Headers';
            return { error: new IfpruneError('http_error', `${name} answered ${asked} with Content-Range: ${cr ?? '(none)'}; expected Content-Range: ${expected}. ${why}`), retry: false };
          }
          if (m[3] === '*' && size < 0) {
            cancel(res);
            return { error: new IfpruneError('http_error', `${name} does not say how large it is (Content-Range: ${cr}, and no Content-Length in answer to HEAD); ifprune needs the size to read the file`), retry: false };
          }
          if (m[3] !== '*') total = Number(m[3]);
          if (size >= 0 && total !== size) {
            cancel(res);
            return { error: new IfpruneError('corrupt', `${name} is now ${total} bytes, but was ${size} bytes when opened (Content-Range: ${cr}); the file changed on the server: open it again`), retry: false };
          }
        }
        const tag = res.headers.get('etag') ?? undefined;
        if (checkEtag && etag && tag && opaque(tag) !== opaque(etag)) {
          cancel(res);
          return { error: new IfpruneError('corrupt', `${name} changed on the server since it was opened (ETag ${etag}, now ${tag} in answer to ${asked}); open it again to read the new file`), retry: false };
        }
        const enc = res.headers.get('content-encoding');
        if (enc && enc.toLowerCase() !== 'identity') {
          cancel(res);
          return { error: new IfpruneError('http_error', `${name} sent ${asked} with Content-Encoding: ${enc}; byte ranges of a compressed body cannot be used: configure the server not to compress this file`), retry: false };
        }
        const n = to - from;
        let received = 0;
        if (res.body) {
          const reader = res.body.getReader();
          for (;;) {
            let chunk: ReadableStreamReadResult<Uint8Array>;
            try {
              watch.arm();
              chunk = await reader.read();
            } catch (cause) {
              reader.cancel().catch(() => {});
              if (signal?.aborted) throw aborted(signal);
              if (watch.fired) return { error: stalled(asked, `after ${received} of the ${n} bytes of`), retry: true };
              return {
                error: new IfpruneError('truncated', `the connection to ${name} failed after ${received} of the ${n} bytes of ${asked}: ${describe(cause)}`, { cause }),
                retry: true,
              };
            }
            if (chunk.done) break;
            const value = chunk.value;
            stats.bytes += value.length;
            if (received + value.length > n) {
              reader.cancel().catch(() => {});
              return { error: new IfpruneError('http_error', `${name} sent more than the ${n} bytes of ${asked}; the server or a proxy mangles Range requests`), retry: false };
            }
            try {
              deliver(value); // a detached target (wasm memory grown meanwhile) throws here: not the network's fault
            } catch (e) {
              reader.cancel().catch(() => {});
              throw e;
            }
            received += value.length;
          }
        }
        if (received < n) {
          return { error: new IfpruneError('truncated', `${name} sent ${received} of the ${n} bytes of ${asked}; the body ended early`), retry: true };
        }
        return { total, etag: tag };
      } finally {
        watch.stop();
      }
    }
  }

  /** Delay before retry `attempt` + 1: exponential with equal jitter, at least Retry-After, capped. */
  function backoff(attempt: number, retryAfterMs?: number): number {
    const exp = Math.min(maxBackoffMs, backoffMs * 2 ** attempt);
    const d = exp / 2 + (Math.random() * exp) / 2;
    return retryAfterMs === undefined ? d : Math.max(d, Math.min(retryAfterMs, maxBackoffMs));
  }

  // --- Open: size (and Range support) from HEAD, else from a one-byte probe.
  if (openSignal?.aborted) throw aborted(openSignal);
  let head: Response | undefined;
  const headWatch = new Watchdog(timeoutMs, openSignal);
  try {
    head = await send('HEAD', undefined, headWatch.signal);
  } catch {
    if (openSignal?.aborted) throw aborted(openSignal);
    // A network error or a stall: the probe below retries it.
  } finally {
    headWatch.stop();
  }
  if (head) {
    if (head.status === 404 || head.status === 410) throw statusFailure(head, 'HEAD').error;
    const len = head.headers.get('content-length');
    const ranges = (head.headers.get('accept-ranges') ?? '').toLowerCase();
    const enc = head.headers.get('content-encoding');
    if (head.ok && /^\s*none\s*$/.test(ranges)) {
      throw new IfpruneError(
        'range_unsupported',
        `${name} does not accept Range requests (its answer to HEAD says Accept-Ranges: none). ifprune reads a model in pieces: serve the file from a server ` +
          'that supports Range requests (most static file servers, CDNs, S3 and R2 do), or download it first and open the local file',
      );
    }
    if (head.ok && len && /^\d+$/.test(len.trim()) && /\bbytes\b/.test(ranges) && (!enc || enc.toLowerCase() === 'identity')) {
      size = Number(len);
      etag = head.headers.get('etag') ?? undefined;
    }
    cancel(head);
  }
  if (size < 0) ({ total: size, etag } = await fetchRange(0, 1, () => {}, openSignal));

  const src: HttpSource = {
    size,
    name,
    url: href,
    etag,
    async readInto(offset, target, signal) {
      if (signal?.aborted) throw aborted(signal);
      checkRange(src, offset, target.length);
      if (target.length === 0) return;
      await fetchRange(offset, offset + target.length, (pos, chunk) => target.set(chunk, pos), signal);
    },
    async readRanges(ranges, signal) {
      if (signal?.aborted) throw aborted(signal);
      // The caller's abort or the first failure cancels the other requests of the batch.
      try {
        await readSpans(src, ranges, { gapBytes, maxRequestBytes, concurrency }, (offset, length, sink, batch) => fetchRange(offset, offset + length, sink, batch), signal);
      } catch (e) {
        if (signal?.aborted) throw aborted(signal);
        throw e;
      }
    },
    stats: () => ({ ...stats }),
  };
  return src;
}

/** Default of HttpSourceOptions.timeoutMs: how long a request may go without receiving anything. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * One request's stall timer: `signal` (for fetch) aborts when the caller's signal does, or when
 * `timeoutMs` pass without `arm()` being called again (armed at creation: the wait for headers).
 */
class Watchdog {
  private readonly ac = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onAbort = () => this.ac.abort(this.outer!.reason);
  fired = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly outer: AbortSignal | undefined,
  ) {
    if (outer?.aborted) this.ac.abort(outer.reason);
    else outer?.addEventListener('abort', this.onAbort, { once: true });
    this.arm();
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.fired = true;
        this.ac.abort(new Error(`no bytes for ${this.timeoutMs} ms`));
      },
      Math.min(this.timeoutMs, 2 ** 31 - 1), // setTimeout's longest delay (~24.8 days)
    );
  }

  stop(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onAbort);
  }
}

/** An ETag's opaque tag, without the weak marker: weak comparison (RFC 9110 8.8.3.2). */
function opaque(tag: string): string {
  return tag.trim().replace(/^W\//, '');
}

/** Throws 'bad_option' unless `v` is an integer ≥ `min`. */
function checkCount(option: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new IfpruneError('bad_option', `httpSource: ${option} must be an integer ≥ ${min}, got ${v}`);
  }
}

/** The URL for messages: no credentials, and the query string (often a signature) elided. */
function displayName(u: URL): string {
  const c = new URL(u.href);
  c.username = '';
  c.password = '';
  const hadQuery = c.search !== '';
  c.search = '';
  c.hash = '';
  return c.href + (hadQuery ? '?…' : '');
}

/** Retry-After as delay-seconds or an HTTP date, in ms (undefined when absent or unreadable). */
function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** Drops a response body we will not read (frees the connection; a large body is not downloaded). */
function cancel(res: Response): void {
  res.body?.cancel().catch(() => {});
}

function describe(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string; code?: string } };
  const inner = err?.cause?.code ?? err?.cause?.message;
  return `${err?.message ?? String(e)}${inner ? ` (${inner})` : ''}`;
}

/** Waits `ms`; rejects with `onAbort()` as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal | undefined, onAbort: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(onAbort());
    const done = () => {
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const abort = () => {
      clearTimeout(timer);
      reject(onAbort());
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
