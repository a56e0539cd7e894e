/**
 * What every entry point (node.ts, deno.ts, worker.ts, web.ts) exports besides its own open(),
 * generate() and loadRuntime(): the platform-neutral API (src/index.ts), the OpenAI-compatible request
 * handler, the Cache API source, runtime detection, and defaultCache(). One list, so the entry points
 * cannot drift apart.
 */
import type { CacheLike } from '../sources/cache.ts';
import { getRuntimeKey } from './detect.ts';

export * from '../index.ts';
export { createHandler, errorBody, type Handler, type HandlerOptions } from '../server/handler.ts';
export { cachedSource, type CacheLike, type CachedSource, type CachedSourceOptions, type CacheStats } from '../sources/cache.ts';
export { getRuntimeKey, capabilities, type Capabilities, type RuntimeKey } from './detect.ts';
export { isHttpUrl, type NamedOpenOptions } from './resolve.ts';

/**
 * The Cache API cache that keeps model bytes between runs (for cachedSource): `caches.default` on
 * workerd, `caches.open(name)` in browsers and Deno; null where there is none (Node) or it cannot be
 * opened (some private modes, opaque origins).
 */
export async function defaultCache(name = 'ifprune'): Promise<CacheLike | null> {
  const caches = (globalThis as { caches?: { default?: CacheLike; open(name: string): Promise<CacheLike> } }).caches;
  if (!caches) return null;
  if (getRuntimeKey() === 'workerd' && caches.default) return caches.default;
  try {
    return await caches.open(name);
  } catch {
    return null;
  }
}
