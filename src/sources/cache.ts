/**
 * A ByteSource that keeps what it reads in the Cache API (browsers, mobile webviews, Deno, Workers'
 * `caches.default`), so a later visit reads the model from the cache instead of the network.
 *
 * It caches exactly the byte ranges that were read, nothing rounded out, so selective loading stays
 * selective (a density-0.5 instruction caches the core and half the FFN rows, not the whole FFN).
 * Entries are disjoint intervals of the file:
 *
 *   key    <url>?…&ifprune-version=<ETag or size>&ifprune-at=<offset>&ifprune-len=<length>
 *   value  a Response whose body is bytes [offset, offset + length)
 *   index  <url>?…&ifprune-version=…&ifprune-index → JSON [[offset, length], ...], rewritten after
 *          each read that stored something
 *
 * A read copies what existing entries cover and reads the uncovered gaps from the inner source (all the
 * gaps of a readRanges batch in one inner readRanges, which HTTP merges into few requests), then stores
 * each gap as a new entry. The version in every key makes a changed file
 * miss instead of mixing old and new bytes.
 *
 * Bytes are stored as read, before the runtime checks them against the file's chunk hashes; when a
 * check fails, the host (src/runtime.ts drive) calls forget(ranges) with the batch just read, so a
 * byte damaged in transit is fetched again next time instead of served from the cache for good.
 *
 * The cache is best effort: a failed lookup or store (quota exceeded, private mode), an entry evicted
 * or of the wrong length, goes to the network and is counted in `cacheErrors`, never an error.
 */
import { IfpruneError } from '../errors.ts';
import type { ByteSource } from './types.ts';
import { checkRange } from './read.ts';
import { MAX_REQUEST_BYTES, checkTargets, readRanges, type RangeRead, type RangeSource } from './ranges.ts';

/** The part of the Cache API used here (`await caches.open('ifprune')`). */
export interface CacheLike {
  match(request: Request): Promise<Response | undefined>;
  put(request: Request, response: Response): Promise<void>;
}

export interface CachedSourceOptions {
  /** An absolute URL naming the file in cache keys (default: the inner source's url, else its name). */
  key?: string;
}

export interface CacheStats {
  /** Pieces of reads served by cache entries / gaps read from the inner source. */
  hits: number;
  misses: number;
  bytesFromCache: number;
  bytesFetched: number;
  /** Lookups or stores that failed (the read went to the inner source instead). */
  cacheErrors: number;
}

export interface CachedSource extends ByteSource {
  readonly inner: ByteSource;
  /** Many ranges at once: one cache pass, then every gap in one inner readRanges. */
  readRanges(ranges: readonly RangeRead[], signal?: AbortSignal): Promise<void>;
  /** Drops the entries overlapping `ranges` (the runtime found bytes there that fail their hash). */
  forget(ranges: readonly { offset: number; length: number }[]): Promise<void>;
  stats(): CacheStats;
}

export function cachedSource(inner: ByteSource & RangeSource & { url?: string; etag?: string }, cache: CacheLike, { key }: CachedSourceOptions = {}): CachedSource {
  if (!cache || typeof cache.match !== 'function' || typeof cache.put !== 'function') {
    throw new IfpruneError('bad_option', "cachedSource(source, cache): cache is not a Cache API cache; pass `await caches.open('ifprune')`");
  }
  let base: URL;
  try {
    base = new URL(key ?? inner.url ?? `https://ifprune.invalid/${encodeURIComponent(inner.name)}`);
  } catch (cause) {
    throw new IfpruneError('bad_option', `cachedSource: key ${JSON.stringify(key)} is not an absolute URL; pass one such as 'https://models.example/model.gguf'`, { cause });
  }
  base.hash = '';
  base.searchParams.set('ifprune-version', inner.etag ?? String(inner.size));
  const request = (params: Record<string, number | string>) => {
    const u = new URL(base);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(`ifprune-${k}`, String(v));
    return new Request(u.href);
  };
  const stats: CacheStats = { hits: 0, misses: 0, bytesFromCache: 0, bytesFetched: 0, cacheErrors: 0 };

  /** Cached intervals [offset, length], sorted and disjoint; read from the index on first use. */
  let entries: [number, number][] | undefined;
  async function index(): Promise<[number, number][]> {
    if (!entries) {
      let list: [number, number][] = [];
      try {
        const res = await cache.match(request({ index: 1 }));
        const v: unknown = res ? await res.json() : [];
        if (Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2 && e.every((n) => Number.isSafeInteger(n) && n >= 0))) list = v as [number, number][];
      } catch {
        stats.cacheErrors++;
      }
      entries ??= list.filter(([o, n]) => n > 0 && o + n <= inner.size).sort((a, b) => a[0] - b[0]);
    }
    return entries;
  }

  async function lookup(o: number, n: number): Promise<Uint8Array | null> {
    try {
      const res = await cache.match(request({ at: o, len: n }));
      if (!res) return null;
      const b = new Uint8Array(await res.arrayBuffer());
      return b.length === n ? b : null;
    } catch {
      return null;
    }
  }

  async function store(o: number, b: Uint8Array): Promise<boolean> {
    try {
      await cache.put(request({ at: o, len: b.length }), new Response(b.slice(), { headers: { 'content-type': 'application/octet-stream' } }));
      return true;
    } catch {
      stats.cacheErrors++;
      return false;
    }
  }

  /** Adds [o, o + n) unless it overlaps an entry (two reads raced for the same gap: keep the first). */
  function add(list: [number, number][], o: number, n: number): boolean {
    let i = 0;
    while (i < list.length && list[i]![0] < o) i++;
    const prev = list[i - 1];
    const next = list[i];
    if ((prev && prev[0] + prev[1] > o) || (next && next[0] < o + n)) return false;
    list.splice(i, 0, [o, n]);
    return true;
  }

  /** Copies what cache entries hold of each range into its target; returns the rest (gaps) as reads. */
  async function fromCache(ranges: readonly RangeRead[]): Promise<RangeRead[]> {
    const list = await index();
    const gaps: RangeRead[] = [];
    const gap = (r: RangeRead, o: number, n: number) => gaps.push({ offset: o, length: n, target: r.target.subarray(o - r.offset, o - r.offset + n) });
    await Promise.all(
      ranges.map(async (r) => {
        const end = r.offset + r.length;
        const covered = list.filter(([o, n]) => o < end && o + n > r.offset);
        let pos = r.offset;
        for (const [o, n] of covered) {
          if (o > pos) gap(r, pos, o - pos);
          pos = Math.max(pos, o + n);
        }
        if (pos < end) gap(r, pos, end - pos);
        // Covered pieces from the cache; an entry that is gone becomes a gap.
        await Promise.all(
          covered.map(async ([o, n]) => {
            const b = await lookup(o, n);
            const from = Math.max(r.offset, o);
            const to = Math.min(end, o + n);
            if (b) {
              stats.hits++;
              stats.bytesFromCache += to - from;
              r.target.set(b.subarray(from - o, to - o), from - r.offset);
            } else {
              stats.cacheErrors++;
              const i = list.findIndex((e) => e[0] === o && e[1] === n);
              if (i >= 0) list.splice(i, 1);
              gap(r, from, to - from);
            }
          }),
        );
      }),
    );
    return gaps;
  }

  /** Reads the gaps from the inner source (its readRanges when it has one: HTTP merges them into few
   * requests), stores each as an entry, and rewrites the index. */
  async function fill(gaps: RangeRead[], signal?: AbortSignal): Promise<void> {
    if (gaps.length === 0) return;
    await readRanges(inner, gaps, { gapBytes: 0, maxRequestBytes: MAX_REQUEST_BYTES }, signal);
    const list = await index();
    let stored = false;
    await Promise.all(
      gaps.map(async ({ offset: o, length: n, target }) => {
        stats.misses++;
        stats.bytesFetched += n;
        if (!add(list, o, n)) return;
        if (await store(o, target)) stored = true;
        else list.splice(list.findIndex((e) => e[0] === o && e[1] === n), 1); // not in the cache after all
      }),
    );
    if (stored) await writeIndex(list);
  }

  async function writeIndex(list: [number, number][]): Promise<void> {
    try {
      await cache.put(request({ index: 1 }), new Response(JSON.stringify(list), { headers: { 'content-type': 'application/json' } }));
    } catch {
      stats.cacheErrors++;
    }
  }

  const src: CachedSource = {
    size: inner.size,
    name: inner.name,
    inner,
    async readInto(offset, target, signal) {
      checkRange(src, offset, target.length);
      if (target.length === 0) return;
      await fill(await fromCache([{ offset, length: target.length, target }]), signal);
    },
    async readRanges(ranges, signal) {
      checkTargets(ranges);
      for (const [i, r] of ranges.entries()) checkRange(src, r.offset, r.length, `readRanges: range ${i}`);
      await fill(await fromCache(ranges.filter((r) => r.length > 0)), signal);
    },
    async forget(ranges) {
      // Entries stay in the Cache API until overwritten, but a read only finds what the index lists.
      const list = await index();
      const before = list.length;
      for (const r of ranges) {
        for (let i = list.length - 1; i >= 0; i--) if (list[i]![0] < r.offset + r.length && list[i]![0] + list[i]![1] > r.offset) list.splice(i, 1);
      }
      if (list.length < before) await writeIndex(list);
      await inner.forget?.(ranges);
    },
    close: () => inner.close?.() ?? Promise.resolve(),
    stats: () => ({ ...stats }),
  };
  return src;
}
