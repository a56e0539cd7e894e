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
 * A body shorter or longer than asked is 'truncated' / 'corrupt'. Errors the binding itself throws
 * (R2 unavailable) become 'http_error' after `retries` retries with exponential backoff. Many small
 * ranges (neuron rows) are merged into few gets by the host's readRanges (ranges.ts), which calls
 * readInto once per planned request, several at a time. `stats()` counts gets and body bytes.
 *
 * Only the few R2 types used here are declared (structurally), so this file needs no
 * @cloudflare/workers-types and type-checks everywhere.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';

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
  stats(): R2Stats;
}

export async function r2Source(bucket: R2BucketLike, key: string, { retries = 2, backoffMs = 100 }: R2SourceOptions = {}): Promise<R2Source> {
  if (!bucket || typeof bucket.get !== 'function' || typeof bucket.head !== 'function') {
    throw new IfpruneError(
      'bad_option',
      'r2Source(bucket, key): bucket is not an R2 bucket binding; declare one in wrangler.toml ([[r2_buckets]] binding = "MODELS") and pass env.MODELS',
    );
  }
  if (typeof key !== 'string' || key === '') throw new IfpruneError('bad_option', `r2Source: key must be a non-empty string (the object's name in the bucket), got ${JSON.stringify(key)}`);
  if (!(Number.isSafeInteger(retries) && retries >= 0)) throw new IfpruneError('bad_option', `r2Source: retries must be an integer ≥ 0, got ${retries}`);
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

  const src: R2Source = {
    size,
    name,
    key,
    etag,
    async readInto(offset, target, signal) {
      checkRange(src, offset, target.length);
      if (target.length === 0) return;
      const what = `bytes ${offset}-${offset + target.length - 1}`;
      const obj = await call(what, () => bucket.get(key, { range: { offset, length: target.length }, onlyIf: { etagMatches: etag } }), signal);
      if (!obj) throw new IfpruneError('not_found', `${name} was deleted from the R2 bucket while open; upload it again and reopen the model`);
      if (!('body' in obj) || !obj.body) {
        throw new IfpruneError('corrupt', `${name} changed in the R2 bucket while open (ETag ${etag} → ${obj.etag}); reopen the model`);
      }
      const reader = obj.body.getReader();
      let got = 0;
      try {
        for (;;) {
          if (signal?.aborted) throw new IfpruneError('aborted', `reading ${name} was aborted`, { cause: signal.reason });
          const { done, value } = await reader.read();
          if (done) break;
          stats.bytes += value.length;
          if (got + value.length > target.length) throw new IfpruneError('corrupt', `R2 sent more than the ${target.length} bytes of ${what} of ${name}`);
          target.set(value, got);
          got += value.length;
        }
      } catch (e) {
        reader.cancel().catch(() => {});
        throw e;
      }
      if (got < target.length) throw new IfpruneError('truncated', `R2 sent ${got} of the ${target.length} bytes of ${what} of ${name}; the body ended early`);
    },
    stats: () => ({ ...stats }),
  };
  return src;
}
