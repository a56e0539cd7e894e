/**
 * The request handler (handler.ts) on Node's http server: each IncomingMessage becomes a Web
 * `Request` (body streamed, signal aborted when the client goes away) and each `Response` is written
 * back with backpressure, so server-sent events go out token by token. Deno (`Deno.serve`) and Workers
 * (`fetch`) take the handler as it is and need nothing like this.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { IfpruneError } from '../errors.ts';
import { errorBody, type Handler } from './handler.ts';

export interface NodeServeOptions {
  /** TCP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1: this machine only). */
  host?: string;
}

export interface NodeServer {
  server: Server;
  /** http://host:port (the port actually bound). */
  url: string;
  close(): Promise<void>;
}

/** Serves `handler` with node:http until close(). */
export async function serveNode(handler: Handler, opts: NodeServeOptions = {}): Promise<NodeServer> {
  const host = opts.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    void respond(handler, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (cause: NodeJS.ErrnoException) =>
      reject(new IfpruneError('bad_option', `cannot listen on ${host}:${opts.port ?? 8080}: ${cause.code === 'EADDRINUSE' ? 'the port is in use; choose another with --port' : cause.message}`, { cause })),
    );
    server.listen(opts.port ?? 8080, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Runs one request through the handler and writes its response. */
export async function respond(handler: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  // 'close' before the response finished: the client went away (or the connection broke).
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let response: Response;
  try {
    response = await handler(toRequest(req, abort.signal));
  } catch (e) {
    const { status, body } = errorBody(e);
    response = new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }
  await writeResponse(res, response);
}

/** An IncomingMessage as a Web Request (the body streams; `signal` aborts it). */
export function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (hasBody) {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = 'half'; // a streamed request body (fetch requires saying so)
  }
  return new Request(new URL(req.url ?? '/', 'http://localhost'), init);
}

/** Writes a Web Response to a ServerResponse, waiting for 'drain' when the socket is full. */
export async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((v, k) => (headers[k] = v));
  res.writeHead(response.status, headers);
  if (!response.body) return void res.end();
  const reader = response.body.getReader();
  // The client went away: cancel the body, which stops the generation behind it.
  const onClose = () => void reader.cancel().catch(() => {});
  res.on('close', onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
    }
  } catch {
    // a body that failed mid-way: end what was sent
  } finally {
    res.off('close', onClose);
    res.end();
  }
}
