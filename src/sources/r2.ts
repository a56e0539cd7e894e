/**
 * A ByteSource over an object in a Cloudflare R2 bucket binding (Workers: `env.MODELS`), read with
 * ranged `get`s. No HTTP round trip through the public internet: the binding talks to R2 directly.
 *
 * Opening costs one `head(key)`: it gives the size and the ETag. Every read is then
 *
 *   bucket.get(key, { range: { offset, length }, onlyIf: { etagMatches: etag } })
 *     → R2ObjectBody (body: exactly `length` bytes, streamed chunk by chunk into the caller's view)
 *     → an R2Object without a body when the ETag no longer matches (the object was replaced): 'corrupt'
 *     → null when the object was deleted: 'not_found'
 *
 * A body that fails midway or ends early is asked again from its first missing byte, then is
 * 'http_error' / 'truncated'; a longer one is 'corrupt'. Errors the binding itself throws (R2
 * unavailable) become 'http_error' after `retries` retries with exponential backoff. readRanges
 * merges many small ranges (neuron rows) closer than `gapBytes` into one get (ranges.ts; the gap is
 * read through), several gets at a time: each get is a billed R2 operation, and one per row would be
 * thousands per instruction. `stats()` counts gets and body bytes.
 *
 * Only the few R2 types used here are declared (structurally), so this file needs no
 * @cloudflare/workers-types and type-checks everywhere.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';
import { MAX_REQUEST_BYTES, readSpans, type RangeRead } from './ranges.ts';

/** The part of an R2 object's metadata used here. */
export interface R2ObjectLike {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
}

/** An R2 object with its body (what a successful ranged get returns). */
export interface R2ObjectBodyLike extends R2ObjectLike {
  readonly body: ReadableStream<Uint8Array>;
}

/** The part of an R2Bucket binding used here. */
export interface R2BucketLike {
  head(key: string): Promise<R2ObjectLike | null>;
  get(
    key: string,
    options?: { range?: { offset: number; length: number }; onlyIf?: { etagMatches?: string } },
  ): Promise<R2ObjectBodyLike | R2ObjectLike | null>;
}

export interface R2SourceOptions {
  /** Extra attempts after the binding throws (per read). */
  retries?: number;
  /** readRanges: ranges this close (bytes) are merged into one get and the gap read through. */
  gapBytes?: number;
  /** readRanges: gets in flight at once. */
  concurrency?: number;
  /** First backoff delay; it doubles on each retry (ms). */
  backoffMs?: number;
}

export interface R2Stats {
  /** Calls made to the binding: the head and every get, retries included. */
  requests: number;
  /** Body bytes received. */
  bytes: number;
}

export interface R2Source extends ByteSource {
  readonly key: string;
  readonly etag: string;
  /** Fills every range's target, merging near ranges into few gets (each get is a billed R2 operation). */
  readRanges(ranges: readonly RangeRead[], signal?: AbortSignal): Promise<void>;
  stats(): R2Stats;
}

export async function r2Source(bucket: R2BucketLike, key: string, { retries = 2, backoffMs = 100, gapBytes = 16 << 10, concurrency = 4 }: R2SourceOptions = {}): Promise<R2Source> {
  if (!bucket || typeof bucket.get !== 'function' || typeof bucket.head !== 'function') {
    throw new IfpruneError(
      'bad_option',
      'r2Source(bucket, key): bucket is not an R2 bucket binding; declare one in wrangler.toml ([[r2_buckets]] binding = "MODELS") and pass env.MODELS',
    );
  }
  if (typeof key !== 'string' || key === '') throw new IfpruneError('bad_option', `r2Source: key must be a non-empty string (the object's name in the bucket), got ${JSON.stringify(key)}`);
  for (const [k, v, min] of [['retries', retries, 0], ['gapBytes', gapBytes, 0], ['concurrency', concurrency, 1]] as const) {
    if (!(Number.isSafeInteger(v) && v >= min)) throw new IfpruneError('bad_option', `r2Source: ${k} must be an integer ≥ ${min}, got ${v}`);
  }
  const name = `r2://${key}`;
  const stats: R2Stats = { requests: 0, bytes: 0 };

  /** One binding call, retried when the binding throws (not when it answers). */
  async function call<T>(what: string, f: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new IfpruneError('aborted', `reading ${name} was aborted`, { cause: signal.reason });
      stats.requests++;
      try {
        return await f();
      } catch (cause) {
        if (attempt >= retries) {
          throw new IfpruneError('http_error', `R2 failed on ${what} of ${name} (after ${attempt + 1} attempts): ${(cause as Error)?.message ?? cause}`, { cause });
        }
        await new Promise((r) => setTimeout(r, backoffMs * 2 ** attempt));
      }
    }
  }

  const head = await call('head', () => bucket.head(key));
  if (!head) {
    throw new IfpruneError(
      'not_found',
      `the R2 bucket has no object ${JSON.stringify(key)}; upload the model first (wrangler r2 object put BUCKET/${key} --file model.gguf) or fix the key`,
    );
  }
  const { size, etag } = head;

  /**
   * Bytes [offset, offset + length), streamed chunk by chunk into `sink(pos, chunk)`: one ranged get,
   * and when its body fails or ends early, another from the first missing byte (`retries` times).
   */
  async function getRange(offset: number, length: number, sink: (pos: number, chunk: Uint8Array) => void, signal?: AbortSignal): Promise<void> {
    let got = 0;
    for (let attempt = 0; ; attempt++) {
      const what = `bytes ${offset + got}-${offset + length - 1}`;
      const obj = await call(what, () => bucket.get(key, { range: { offset: offset + got, length: length - got }, onlyIf: { etagMatches: etag } }), signal);
      if (!obj) throw new IfpruneError('not_found', `${name} was deleted from the R2 bucket while open; upload it again and reopen the model`);
      if (!('body' in obj) || !obj.body) {
        throw new IfpruneError('corrupt', `${name} changed in the R2 bucket while open (ETag ${etag} → ${obj.etag}); reopen the model`);
      }
      const reader = obj.body.getReader();
      let broken: unknown; // the error of a body that failed midway
      try {
        for (;;) {
          if (signal?.aborted) throw new IfpruneError('aborted', `reading ${name} was aborted`, { cause: signal.reason });
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (cause) {
            broken = cause ?? new Error('the body failed');
            break;
          }
          if (chunk.done) break;
          const value = chunk.value;
          stats.bytes += value.length;
          if (got + value.length > length) throw new IfpruneError('corrupt', `R2 sent more than the ${length} bytes of bytes ${offset}-${offset + length - 1} of ${name}`);
          sink(got, value);
          got += value.length;
        }
      } catch (e) {
        reader.cancel().catch(() => {});
        throw e;
      }
      if (got === length) return;
      if (broken !== undefined) reader.cancel().catch(() => {});
      if (attempt >= retries) {
        const after = `after ${attempt + 1} attempts`;
        throw broken !== undefined
          ? new IfpruneError('http_error', `R2 failed while sending ${what} of ${name}, ${got} of ${length} bytes in (${after}): ${(broken as Error)?.message ?? broken}`, { cause: broken })
          : new IfpruneError('truncated', `R2 sent ${got} of the ${length} bytes of bytes ${offset}-${offset + length - 1} of ${name}; the body ended early (${after})`);
      }
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** attempt));
    }
  }

  const src: R2Source = {
    size,
    name,
    key,
    etag,
    async readInto(offset, target, signal) {
      checkRange(src, offset, target.length);
      if (target.length === 0) return;
      await getRange(offset, target.length, (pos, chunk) => target.set(chunk, pos), signal);
    },
    // The first failure stops the batch; it is thrown once no get is still writing into a target.
    readRanges: (ranges, signal) => readSpans(src, ranges, { gapBytes, maxRequestBytes: MAX_REQUEST_BYTES, concurrency }, getRange, signal),
    stats: () => ({ ...stats }),
  };
  return src;
}
