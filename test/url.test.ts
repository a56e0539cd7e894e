/**
 * Models by URL: the CLI (`run`, `inspect`, `eval` with -m https://…) and the Node entry point's
 * open(url), against a static file server started here on 127.0.0.1 that serves models/ with Range
 * support, and under /no-range/ the same files from a server that ignores Range (answers 200 with the
 * whole file, as some proxies and dev servers do). The server counts requests and body bytes, so the
 * numbers ifprune reports can be checked against what really went over the wire.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createReadStream, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from '../src/platform/node.ts';
import { assertThrowsCode, runCli, type CliResult } from './helpers.ts';

const MODELS = fileURLToPath(new URL('../models/', import.meta.url));
const STORIES_GGUF = join(MODELS, 'stories260K/stories260K.gguf');
const STORIES_BIN = join(MODELS, 'stories260K/stories260K.bin');
const TOK512 = join(MODELS, 'stories260K/tok512.bin');
const DEMO = join(MODELS, 'ifp-demo/ifp-demo.q8_0.gguf');
const SAMPLE = join(MODELS, 'ifp-demo/eval-sample/python.jsonl');

// ---------------------------------------------------------------------------------------------------
// The server: GET/HEAD of models/<path>; /no-range/<path> ignores Range. `log` holds every request.

interface Logged {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
}
let log: Logged[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const noRange = url.pathname.startsWith('/no-range/');
  const rel = decodeURIComponent(url.pathname.replace(/^\/(no-range\/)?/, ''));
  const entry: Logged = { method: req.method!, path: url.pathname, range: req.headers.range, status: 0, bytes: 0 };
  log.push(entry);
  const file = normalize(join(MODELS, rel));
  let size = -1;
  try {
    if (file.startsWith(MODELS) && statSync(file).isFile()) size = statSync(file).size;
  } catch {
    // 404 below
  }
  const reply = (status: number, headers: Record<string, string | number>) => {
    entry.status = status;
    res.writeHead(status, headers);
  };
  if (size < 0) return void (reply(404, { 'content-type': 'text/plain' }), res.end('not found'));
  const ranges: Record<string, string> = noRange ? {} : { 'accept-ranges': 'bytes' };
  if (req.method === 'HEAD') return void (reply(200, { 'content-length': size, ...ranges }), res.end());
  const m = !noRange && req.headers.range ? /^bytes=(\d+)-(\d+)$/.exec(req.headers.range) : null;
  let [a, b] = [0, size];
  if (m) {
    [a, b] = [Number(m[1]), Math.min(Number(m[2]) + 1, size)];
    if (a >= size) return void (reply(416, { 'content-range': `bytes */${size}` }), res.end());
    reply(206, { 'content-range': `bytes ${a}-${b - 1}/${size}`, 'content-length': b - a, ...ranges });
  } else {
    reply(200, { 'content-length': size, ...ranges });
  }
  if (b === a) return void res.end();
  const stream = createReadStream(file, { start: a, end: b - 1 });
  stream.on('data', (chunk) => (entry.bytes += chunk.length));
  stream.pipe(res);
  res.on('close', () => stream.destroy());
}

const server = createServer(handle);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const BASE = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const url = (file: string, prefix = '') => `${BASE}/${prefix}${file.slice(MODELS.length)}`;

/** Requests and body bytes the server saw since `log` was cleared. */
const served = () => ({ requests: log.length, bytes: log.reduce((s, e) => s + e.bytes, 0) });

function json(r: CliResult): any {
  assert.is(r.code, 0, `exit status; stderr: ${r.stderr}`);
  assert.is(r.stderr, '', 'stderr in --json mode');
  return JSON.parse(r.stdout);
}

function assertOneLineError(r: CliResult, code: number, mentions: string[]): void {
  assert.is(r.code, code, `exit status; stderr: ${r.stderr}`);
  assert.is(r.stdout, '', 'stdout');
  assert.ok(/^ifprune: [^\n]+\n$/.test(r.stderr), `one stderr line, got: ${JSON.stringify(r.stderr)}`);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `"${m}" in: ${r.stderr}`);
}

const GREEDY = ['-p', 'Once upon a time', '-n', '24', '--temperature', '0', '--json'];

// ---
const run = suite('ifprune run -m URL');
run.before.each(() => void (log = []));

run('a GGUF by URL generates the same greedy text as the file, and reports the requests and bytes the server saw', async () => {
  const file = json(await runCli(['run', '-m', STORIES_GGUF, ...GREEDY]));
  log = [];
  const remote = json(await runCli(['run', '-m', url(STORIES_GGUF), ...GREEDY]));
  assert.equal(remote.ids, file.ids);
  assert.is(remote.text, file.text);
  assert.is(remote.ids.length, 24);
  assert.is(file.source, undefined, 'a local file has no HTTP stats');
  const s = served();
  assert.is(remote.source.url, url(STORIES_GGUF));
  assert.is(remote.source.requests, s.requests, 'requests: reported = served');
  assert.is(remote.source.bytes, s.bytes, 'bytes: reported = served');
  assert.is(remote.source.fileBytes, statSync(STORIES_GGUF).size);
  assert.ok(log.every((e) => e.method === 'HEAD' || e.status === 206), 'only HEAD and 206 answers');
});

run('text mode prints the HTTP line on stderr', async () => {
  const r = await runCli(['run', '-m', url(STORIES_GGUF), '-p', 'Once', '-n', '4', '--temperature', '0']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /HTTP: \d+ requests, [\d.]+ (KiB|MiB) received of the 1\.13 MiB file http:\/\/127\.0\.0\.1/);
});

run('a llama2.c checkpoint by URL takes --tokenizer as a URL, and without one says to pass it', async () => {
  const file = json(await runCli(['run', '-m', STORIES_BIN, '--tokenizer', TOK512, ...GREEDY]));
  const remote = json(await runCli(['run', '-m', url(STORIES_BIN), '--tokenizer', url(TOK512), ...GREEDY]));
  assert.equal(remote.ids, file.ids);
  // tokenizer.bin beside the URL is looked for, and is not there (the folder holds tok512.bin).
  assertOneLineError(await runCli(['run', '-m', url(STORIES_BIN), ...GREEDY]), 1, ['llama2.c checkpoint', `${BASE}/stories260K/tokenizer.bin`, 'not found', '--tokenizer']);
});

run('selective loading at density 0.5 over HTTP reads part of the file and reports it exactly', async () => {
  const args = ['-p', 'def parse(argv):', '-n', '16', '--temperature', '0', '--density', '0.5', '--policy', 'learned', '--json'];
  const file = json(await runCli(['run', '-m', DEMO, ...args]));
  log = [];
  const remote = json(await runCli(['run', '-m', url(DEMO), ...args]));
  assert.equal(remote.ids, file.ids, 'same neurons, same greedy ids');
  const s = served();
  const size = statSync(DEMO).size;
  assert.is(remote.source.requests, s.requests);
  assert.is(remote.source.bytes, s.bytes);
  assert.is(remote.stats.density, 0.5);
  assert.ok(remote.stats.neuronRequests > 0 && remote.stats.neuronBytesRead > 0, 'the neuron load is in stats');
  // Core + half the FFN is 78.5% of this file (ifprune inspect); the header window is read twice.
  assert.ok(s.bytes < 0.85 * size, `read ${s.bytes} of ${size} bytes`);
  assert.ok(s.bytes >= remote.stats.bytesRead, `served ${s.bytes} ≥ the runtime's ${remote.stats.bytesRead}`);
  console.log(`  density 0.5 over HTTP: ${s.requests} requests, ${s.bytes} of ${size} bytes (${((100 * s.bytes) / size).toFixed(1)}%); runtime: bytesRead ${remote.stats.bytesRead}, neuron requests ${remote.stats.neuronRequests}, neuron bytes ${remote.stats.neuronBytesRead}`);
});

run('a server that ignores Range is a one-line range_unsupported error, and the file is not downloaded', async () => {
  const r = await runCli(['run', '-m', url(DEMO, 'no-range/'), '-p', 'x', '-n', '2']);
  assertOneLineError(r, 1, ['ignores HTTP Range requests', 'download it first']);
  assert.ok(served().bytes < statSync(DEMO).size, `served ${served().bytes} bytes`);
});

run('a URL that is not there is a one-line not_found error', async () => {
  assertOneLineError(await runCli(['run', '-m', `${BASE}/nope.gguf`, '-p', 'x']), 1, [`${BASE}/nope.gguf`, 'not found']);
});

run.after(() => {
  // suites below reuse the server; closed at the end of the file
});
run.run();

// ---
const inspect = suite('ifprune inspect URL');
inspect.before.each(() => void (log = []));

inspect('describes a model by URL as it does the file, from its header alone', async () => {
  const file = json(await runCli(['inspect', DEMO, '--json']));
  log = [];
  const remote = json(await runCli(['inspect', url(DEMO), '--json']));
  const { path: p1, source, ...a } = remote;
  const { path: p2, ...b } = file;
  assert.equal(a, b);
  assert.is(p1, url(DEMO));
  assert.is(p2, DEMO);
  assert.is(source.requests, served().requests);
  assert.is(source.bytes, served().bytes);
  assert.ok(source.bytes < file.fileBytes, `header only: ${source.bytes} of ${file.fileBytes} bytes`);
});

inspect.run();

// ---
const evalCmd = suite('ifprune eval -m URL');
evalCmd.before.each(() => void (log = []));

evalCmd('gives the rows the file gives', async () => {
  const args = ['-d', SAMPLE, '--limit', '2', '--policy', 'dense,learned', '--density', '0.5', '--json'];
  const last = (r: CliResult) => JSON.parse(r.stdout.trim().split('\n').pop()!);
  const f = await runCli(['eval', '-m', DEMO, ...args]);
  assert.is(f.code, 0, f.stderr);
  log = [];
  const u = await runCli(['eval', '-m', url(DEMO), ...args]);
  assert.is(u.code, 0, u.stderr);
  const [file, remote] = [last(f), last(u)];
  assert.equal(remote.rows, file.rows);
  assert.is(remote.model, url(DEMO));
  assert.is(remote.source.requests, served().requests);
  assert.is(remote.source.bytes, served().bytes);
});

evalCmd.run();

// ---
const api = suite('open(url) on the Node entry point');
api.before.each(() => void (log = []));
api.after(() => {
  server.closeAllConnections();
  server.close();
});

api('a URL string or URL object opens like the path, greedy ids equal', async () => {
  const greedy = async (m: Awaited<ReturnType<typeof open>>) => {
    const ids: number[] = [];
    for await (const t of m.generate('Once upon a time', { temperature: 0, maxTokens: 12 })) ids.push(t.id);
    await m.close();
    return ids;
  };
  const fromFile = await greedy(await open(STORIES_GGUF));
  assert.equal(await greedy(await open(url(STORIES_GGUF))), fromFile);
  assert.equal(await greedy(await open(new URL(url(STORIES_GGUF)))), fromFile);
  assert.equal(await greedy(await open(url(STORIES_BIN), { tokenizer: url(TOK512) })), await greedy(await open(STORIES_BIN)));
});

api('a server that ignores Range: IfpruneError range_unsupported', async () => {
  const e = await assertThrowsCode(() => open(url(STORIES_GGUF, 'no-range/')), 'range_unsupported');
  assert.match(e.message, /ignores HTTP Range requests/);
});

api.run();
