/** Helpers for tests of the request handler (server, concurrency). */
import * as assert from 'uvu/assert';
import type { Handler } from '../src/server/handler.ts';

export const post = (h: Handler, path: string, body: unknown, init: RequestInit = {}) =>
  h(new Request(`http://localhost${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' }, ...init }));

export interface Sse {
  events: Record<string, unknown>[];
  done: boolean;
}

/** Parses a server-sent event stream: the JSON events, and whether it ended with [DONE]. */
export function parseSse(text: string): Sse {
  const datas = text.split('\n\n').filter(Boolean).map((e) => {
    assert.ok(e.startsWith('data: '), `an SSE event: ${e}`);
    return e.slice('data: '.length);
  });
  const done = datas.at(-1) === '[DONE]';
  return { events: datas.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Record<string, unknown>), done };
}

export type Choice = { text?: string; delta?: { role?: string; content?: string }; message?: { role: string; content: string }; finish_reason: string | null };
export const choice = (e: Record<string, unknown>) => (e.choices as Choice[])[0]!;

export async function errorOf(r: Response, status: number, code: string, label = code): Promise<{ message: string; type: string; param: string | null; code: string }> {
  assert.is(r.status, status, label);
  assert.is(r.headers.get('content-type'), 'application/json', label);
  const body = (await r.json()) as { error: { message: string; type: string; param: string | null; code: string } };
  assert.equal(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], label);
  assert.is(body.error.code, code, label);
  assert.ok(body.error.message.length > 10, label);
  assert.is(body.error.type, status < 500 && status !== 499 ? 'invalid_request_error' : 'server_error', label);
  return body.error;
}
