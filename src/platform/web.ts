/**
 * Browser and webview entry point (dist/web/index.js; the `browser` and `default` export conditions):
 * the same names as node.ts. The runtime module is fetched from beside the bundle
 * (`new URL('./ifprune.relaxed.wasm', import.meta.url)` where relaxed SIMD runs) and compiled while it downloads
 * (compileStreaming; a server that does not send `Content-Type: application/wasm` falls back to
 * compiling the bytes). Models are URLs, resolved against the page (read with Range requests: a server
 * on another origin must allow the Range header and expose Content-Range), a File the user picked
 * (fileSource), or any ByteSource. No threads, SharedArrayBuffer or COOP/COEP are needed; threads: 2 (a
 * Web Worker on a shared memory, src/threads.ts) needs a cross-origin isolated page (COOP + COEP headers).
 */
import { IfpruneError } from '../errors.ts';
import { chooseBuild, type KernelBuild } from '../engine/simd.ts';
import type { SourceLike } from '../index.ts';
import { checkRange } from '../sources/read.ts';
import { httpSource } from '../sources/http.ts';
import type { ByteSource } from '../sources/types.ts';
import type { GenerateOptions, Model, Token } from '../types.ts';
import { capabilities } from './detect.ts';
import { spawnWebWorker, type ThreadSupport } from '../threads.ts';
import { MODEL_HTTP, generateNamed, openNamed, type EntryPoint, type NamedOpenOptions, type PlatformIO } from './resolve.ts';

export * from './common.ts';

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/**
 * The runtime module, compiled once per page: relaxed SIMD where the probe passes (engine/simd.ts), else
 * SIMD, else scalar. `base`: the folder holding ifprune.{relaxed,simd,scalar}.wasm
 * (default: beside this bundle; from the sources, the repository's build/).
 */
export function loadRuntime(requested: KernelBuild | 'auto' = 'auto', base?: string | URL): Promise<WebAssembly.Module> {
  return loadWasm(`ifprune.${chooseBuild(requested)}.wasm`, base);
}

/** A module shipped beside this bundle (or in `base`, or the repository's build/), compiled once per page. */
function loadWasm(name: string, base?: string | URL): Promise<WebAssembly.Module> {
  const urls = base ? [new URL(name, base)] : [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
  const key = urls[0]!.href;
  let m = compiled.get(key);
  if (!m) {
    m = compileFirst(urls).catch((e) => {
      compiled.delete(key);
      throw e;
    });
    compiled.set(key, m);
  }
  return m;
}

/** Compiles the first URL that answers 200. */
async function compileFirst(urls: URL[]): Promise<WebAssembly.Module> {
  const tried: string[] = [];
  for (const url of urls) {
    let res: Response;
    try {
      res = await fetch(url);
    } catch (cause) {
      tried.push(`${url.href} (${(cause as Error)?.message ?? cause})`);
      continue;
    }
    if (!res.ok) {
      tried.push(`${url.href} (HTTP ${res.status})`);
      res.body?.cancel().catch(() => {});
      continue;
    }
    try {
      if (capabilities.compileStreaming && /^application\/wasm\b/i.test(res.headers.get('content-type') ?? '')) return await WebAssembly.compileStreaming(res);
      return await WebAssembly.compile(await res.arrayBuffer());
    } catch (cause) {
      throw new IfpruneError('no_wasm', `could not compile ${url.href}: ${(cause as Error)?.message ?? cause}`, { cause });
    }
  }
  throw new IfpruneError('no_wasm', `the ifprune runtime module was not found: tried ${tried.join(', ')}; serve the .wasm files beside the bundle, or pass their folder to loadRuntime(build, base)`);
}

/** A ByteSource over a Blob or File (a model the user picked with <input type="file">). */
export async function fileSource(file: Blob, name = (file as File).name || 'blob'): Promise<ByteSource> {
  const src: ByteSource = {
    size: file.size,
    name,
    async readInto(offset, target, signal) {
      signal?.throwIfAborted();
      checkRange(src, offset, target.length);
      target.set(new Uint8Array(await file.slice(offset, offset + target.length).arrayBuffer()));
    },
  };
  return src;
}

/** Relative names resolve against the page (or the worker script). */
function resolveUrl(name: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(name, base).href;
  } catch (cause) {
    throw new IfpruneError('bad_option', `"${name}" is not a URL${base ? '' : ' (and there is no page to resolve it against)'}; pass an http(s) URL, a File (fileSource) or a ByteSource`, { cause });
  }
}

const WEB_IO: PlatformIO = {
  source: async (name, signal) => httpSource(resolveUrl(name), { ...MODEL_HTTP, signal }),
  beside: (model, file) => new URL(file, resolveUrl(model)).href,
};

/** threads: 2: the threads build with a Web Worker, on a cross-origin isolated page. */
async function threads(): Promise<ThreadSupport> {
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== true) {
    throw new IfpruneError('unsupported', 'threads: 2 needs a cross-origin isolated page for its shared memory: serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp, or open with threads: 1');
  }
  const [runtime, kernels] = await Promise.all([loadWasm('ifprune.threads.wasm'), loadWasm('kernels.threads.wasm')]);
  return { runtime, kernels, spawn: spawnWebWorker };
}

const WEB: EntryPoint = { io: WEB_IO, loadRuntime: (requested) => loadRuntime(requested), threads };

/** Opens a model from a URL (relative to the page), a ByteSource, bytes or an ArrayBuffer. */
export function open(model: string | URL | SourceLike, opts: NamedOpenOptions = {}): Promise<Model> {
  return openNamed(model, opts, WEB);
}

/** One call: open, generate, close. */
export function generate(model: string | URL | SourceLike, prompt: string, opts: NamedOpenOptions & GenerateOptions = {}): AsyncGenerator<Token> {
  return generateNamed(model, prompt, opts, WEB);
}
