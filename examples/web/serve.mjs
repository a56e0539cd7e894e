#!/usr/bin/env node
/**
 * A static file server with HTTP Range support, for trying the web example locally:
 *
 *   npm run build && node examples/web/serve.mjs [--port 8080] [--isolated]
 *   open http://127.0.0.1:8080/examples/web/
 *
 * It serves the repository root (so the page finds dist/ and models/), answers HEAD, sends ETag and
 * Accept-Ranges, and answers `Range: bytes=a-b` with 206. No COOP/COEP headers: the page needs no
 * cross-origin isolation; `--isolated` (startServer({ isolated: true })) sends them, for open's
 * threads: 2, whose shared memory needs a cross-origin isolated page. test/web.test.ts starts it with
 * startServer().
 */
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * Serves `root` on 127.0.0.1:`port` (0: any free port). `mounts` maps a URL prefix to another folder.
 * Returns { url, close, log } where log lists `METHOD path range` of every request.
 */
export function startServer({ root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), port = 0, mounts = {}, isolated = false } = {}) {
  const log = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    log.push(`${req.method} ${path}${req.headers.range ? ' ' + req.headers.range : ''}`);
    let dir = root;
    let rel = path;
    for (const [prefix, d] of Object.entries(mounts)) {
      if (path.startsWith(prefix)) {
        dir = d;
        rel = path.slice(prefix.length - 1);
      }
    }
    let file = normalize(join(dir, rel));
    if (!file.startsWith(resolve(dir) + sep) && file !== resolve(dir)) return end(res, 403, 'forbidden');
    let st;
    try {
      st = statSync(file);
      if (st.isDirectory()) {
        file = join(file, 'index.html');
        st = statSync(file);
      }
    } catch {
      return end(res, 404, 'not found');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return end(res, 405, 'method not allowed');
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers = { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'accept-ranges': 'bytes', etag, 'cache-control': 'no-cache' };
    if (isolated) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' });
    let start = 0;
    let endByte = st.size - 1;
    let status = 200;
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (req.headers.range) {
      if (!m || (m[1] === '' && m[2] === '')) return end(res, 416, 'bad range', { 'content-range': `bytes */${st.size}` });
      if (m[1] === '') start = Math.max(0, st.size - Number(m[2]));
      else {
        start = Number(m[1]);
        if (m[2] !== '') endByte = Math.min(endByte, Number(m[2]));
      }
      if (start >= st.size || start > endByte) return end(res, 416, 'range not satisfiable', { 'content-range': `bytes */${st.size}` });
      status = 206;
      headers['content-range'] = `bytes ${start}-${endByte}/${st.size}`;
    }
    headers['content-length'] = String(endByte - start + 1);
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || st.size === 0) return res.end();
    createReadStream(file, { start, end: endByte }).pipe(res);
  });
  return new Promise((resolveListen) => {
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/`;
      resolveListen({ url, log, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) });
    });
  });
}

function end(res, status, text, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(text);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const { url } = await startServer({ port: i >= 0 ? Number(process.argv[i + 1]) : 8080, isolated: process.argv.includes('--isolated') });
  console.log(`serving the repository at ${url}; the page: ${url}examples/web/`);
}
