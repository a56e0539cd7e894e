/**
 * One OpenAI-compatible request handler over an opened Model, in Web-standard terms: a function from a
 * `Request` to a `Promise<Response>`, so Node (src/server/node.ts), Deno.serve, a Worker's `fetch` and
 * a service worker all use it as it is.
 *
 *   GET  /v1/models              the one model served
 *   POST /v1/completions         { prompt, max_tokens, temperature, top_p, seed, stop, stream, ... }
 *   POST /v1/chat/completions    { messages, ... } rendered with the model's chat template (chat.ts)
 *
 * ifprune extensions in both POST bodies: `density` (0 < d ≤ 1, the share of FFN neurons kept) and
 * `policy` ('learned' | 'static' | 'prompt' | 'dense'), and `top_k`. `stream: true` answers with
 * server-sent events, one `data: {chunk}` per token, `usage` in the last chunk, then `data: [DONE]`.
 *
 * Bad requests are a 4xx with `{ error: { message, type, param, code } }` (ERROR_CODES below). One
 * generation runs at a time per Model: requests queue in the model's own queue (src/queue.ts, shared by
 * every handler and every direct caller of that model), and a request whose signal aborts (the client
 * went away) leaves the queue or stops its generation. Limits a public server needs (HandlerOptions):
 * the prompt's tokens, max_tokens, a deadline per request, and how many requests may wait.
 */
import { IfpruneError, isIfpruneError } from '../errors.ts';
import type { FinishReason, GenerateOptions, Generation, Model, PolicyName, Stats, Token } from '../types.ts';
import { chatFormatter, type ChatFormatter, type ChatMessage } from './chat.ts';

export type Handler = (request: Request) => Promise<Response>;

export interface HandlerOptions {
  /** Model id in responses and /v1/models (default: the file's general.name, else 'ifprune'). */
  id?: string;
  /** Density for requests that give none (default 1: every neuron). */
  density?: number;
  /** Policy for requests that give none (default: the model's, see GenerateOptions.policy). */
  policy?: PolicyName;
  /** A chat template to use instead of the model's tokenizer.chat_template. */
  chatTemplate?: string;
  /** Largest request body accepted, in bytes (default 1 MiB); larger is a 413. */
  maxBodyBytes?: number;
  /** Most prompt tokens a request may send (chat: after the template); more is a 400 prompt_too_long. Default: the context decides. */
  maxPromptTokens?: number;
  /** Most new tokens a request may ask for: a larger max_tokens is a 400, and requests that give none stop there. Default: no cap. */
  maxTokens?: number;
  /**
   * Deadline of each request in ms, from its arrival: waiting for its turn, loading neurons, prefill and
   * decoding. Passed before the first token: a 503 timeout (with Retry-After); after: the answer ends
   * there with finish_reason 'length'. Default: none.
   */
  timeoutMs?: number;
  /** Most requests waiting for the model (besides the one running); one more is a 503 overloaded with Retry-After. Default: no limit. */
  maxQueue?: number;
}

export const DEFAULT_MAX_BODY_BYTES = 1 << 20;
/** OpenAI's defaults (the library's are 0.8 / 0.9): a client that sends no sampling fields gets what it expects. */
export const DEFAULT_TEMPERATURE = 1;
export const DEFAULT_TOP_P = 1;
/** OpenAI's default max_tokens for /v1/completions; chat completions run to the end of the context. */
export const DEFAULT_COMPLETION_TOKENS = 16;
/** OpenAI accepts at most four stop sequences. */
export const MAX_STOP = 4;
const POLICIES: readonly PolicyName[] = ['learned', 'static', 'prompt', 'dense'];

/**
 * `error.code` values, by HTTP status:
 *   400 invalid_json, invalid_type, missing_parameter, out_of_range, unknown_parameter,
 *       unsupported_parameter, prompt_too_long (over maxPromptTokens), context_overflow, bad_option
 *       (the runtime refused an option or the chat template refused the messages)
 *   404 not_found      405 method_not_allowed      413 request_too_large
 *   499 aborted (the client closed the request; nobody reads it)
 *   503 overloaded (maxQueue requests already wait), timeout (timeoutMs passed before the first token);
 *       both with Retry-After
 *   500 the IfpruneError's code
 */
export type ErrorCode =
  | 'invalid_json' | 'invalid_type' | 'missing_parameter' | 'out_of_range' | 'unknown_parameter' | 'unsupported_parameter'
  | 'prompt_too_long' | 'not_found' | 'method_not_allowed' | 'request_too_large' | 'overloaded';

/** Retry-After (seconds) on a 503: the queue was full or the deadline passed while waiting. */
export const RETRY_AFTER_S = 1;

/** A request the handler refuses: becomes a JSON error response. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

// ---------------------------------------------------------------------------------------------------
// The handler

/** The request handler for `model` (the caller opens and closes the model). */
export function createHandler(model: Model, opts: HandlerOptions = {}): Handler {
  if (opts.density !== undefined && !(typeof opts.density === 'number' && opts.density > 0 && opts.density <= 1)) {
    throw new IfpruneError('bad_option', `density = ${String(opts.density)}: expected a number in (0, 1]`);
  }
  if (opts.policy !== undefined && !POLICIES.includes(opts.policy)) {
    throw new IfpruneError('bad_option', `policy = ${String(opts.policy)}: expected one of ${POLICIES.join(', ')}`);
  }
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!(Number.isSafeInteger(maxBodyBytes) && maxBodyBytes > 0)) throw new IfpruneError('bad_option', `maxBodyBytes = ${maxBodyBytes}: expected a positive integer`);
  if (opts.id !== undefined && (typeof opts.id !== 'string' || opts.id === '')) throw new IfpruneError('bad_option', 'id must be a non-empty string');
  const id = opts.id ?? model.metadata('general.name') ?? 'ifprune';
  const chat = chatFormatter(model, opts.chatTemplate);
  const created = Math.floor(Date.now() / 1000);
  const limit = (name: 'maxPromptTokens' | 'maxTokens' | 'timeoutMs' | 'maxQueue', min: number) => {
    const v = opts[name];
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= min)) throw new IfpruneError('bad_option', `${name} = ${String(v)}: expected an integer ≥ ${min}`);
    return v;
  };
  const ctx: Ctx = {
    model, id, chat, defaults: { density: opts.density, policy: opts.policy }, maxBodyBytes, pending: 0,
    limits: { maxPromptTokens: limit('maxPromptTokens', 1), maxTokens: limit('maxTokens', 0), timeoutMs: limit('timeoutMs', 1), maxQueue: limit('maxQueue', 0) },
  };

  const routes: Record<string, Record<string, (req: Request) => Promise<Response>>> = {
    '/v1/models': { GET: async () => json(200, { object: 'list', data: [modelCard(id, created)] }) },
    [`/v1/models/${id}`]: { GET: async () => json(200, modelCard(id, created)) },
    '/v1/completions': { POST: (req) => completions(ctx, req, 'text') },
    '/v1/chat/completions': { POST: (req) => completions(ctx, req, 'chat') },
  };

  return async (request: Request): Promise<Response> => {
    try {
      const path = decodeURIComponent(new URL(request.url).pathname).replace(/\/+$/, '');
      const route = routes[path];
      if (!route) throw new RequestError(404, 'not_found', `no route for ${path || '/'}; this server answers GET /v1/models, POST /v1/completions and POST /v1/chat/completions`);
      if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: { ...CORS, 'access-control-allow-methods': `${Object.keys(route).join(', ')}, OPTIONS` } });
      const run = route[request.method];
      if (!run) {
        const allow = Object.keys(route).join(', ');
        return errorResponse(new RequestError(405, 'method_not_allowed', `${path} takes ${allow}, not ${request.method}`), { allow });
      }
      return await run(request);
    } catch (e) {
      return errorResponse(e);
    }
  };
}

interface Ctx {
  model: Model;
  id: string;
  chat: ChatFormatter;
  defaults: { density?: number; policy?: PolicyName };
  maxBodyBytes: number;
  limits: Pick<HandlerOptions, 'maxPromptTokens' | 'maxTokens' | 'timeoutMs' | 'maxQueue'>;
  /** Requests of this handler running or waiting for the model. */
  pending: number;
}

function modelCard(id: string, created: number) {
  return { id, object: 'model', created, owned_by: 'ifprune' };
}

const CORS = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type, authorization' };

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...CORS, ...headers } });
}

/** The OpenAI error body for anything thrown while serving a request. */
export function errorBody(e: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string } } } {
  if (e instanceof RequestError) {
    return { status: e.status, body: { error: { message: e.message, type: e.status >= 500 ? 'server_error' : 'invalid_request_error', param: e.param, code: e.code } } };
  }
  if (isIfpruneError(e)) {
    const status = e.code === 'context_overflow' || e.code === 'bad_option' ? 400 : e.code === 'aborted' ? 499 : e.code === 'timeout' ? 503 : 500;
    return { status, body: { error: { message: e.message, type: status === 400 ? 'invalid_request_error' : 'server_error', param: null, code: e.code } } };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return { status: 500, body: { error: { message: `${err.name}: ${err.message}`, type: 'server_error', param: null, code: 'internal_error' } } };
}

function errorResponse(e: unknown, headers: Record<string, string> = {}): Response {
  const { status, body } = errorBody(e);
  return json(status, body, status === 503 ? { 'retry-after': String(RETRY_AFTER_S), ...headers } : headers);
}

// ---------------------------------------------------------------------------------------------------
// Request bodies

/** Reads the body as JSON, refusing more than `limit` bytes (by Content-Length, then while reading). */
export async function readJsonBody(request: Request, limit: number): Promise<Record<string, unknown>> {
  const tooLarge = () => new RequestError(413, 'request_too_large', `the request body is larger than ${limit} bytes; send a shorter prompt`);
  const declared = Number(request.headers.get('content-length'));
  if (declared > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new RequestError(400, 'invalid_json', size === 0 ? 'the request needs a JSON body' : `the request body is not valid UTF-8 JSON: ${(cause as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'invalid_json', `the request body must be a JSON object, got ${Array.isArray(body) ? 'an array' : JSON.stringify(body)}`);
  return body as Record<string, unknown>;
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const wrongType = (name: string, expected: string, v: unknown) => new RequestError(400, 'invalid_type', `${name} must be ${expected}, got ${typeOf(v)}`, name);

/** A numeric field (null and absent are undefined). */
function numberField(body: Record<string, unknown>, name: string, range: { min: number; max?: number; minExclusive?: boolean; integer?: boolean; text: string }): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType(name, range.integer ? 'an integer' : 'a number', v);
  const ok = (range.minExclusive ? v > range.min : v >= range.min) && (range.max === undefined || v <= range.max) && (!range.integer || Number.isInteger(v));
  if (!ok) throw new RequestError(400, 'out_of_range', `${name} = ${v}: expected ${range.text}`, name);
  return v;
}

function boolField(body: Record<string, unknown>, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw wrongType(name, 'a boolean', v);
  return v;
}

/** Fields accepted and ignored (they change nothing a single local model does). */
const IGNORED = new Set(['user', 'metadata', 'store', 'service_tier', 'stream_options', 'parallel_tool_calls']);
/** Fields whose default is all ifprune does: any other value is an unsupported_parameter. */
const ONLY_DEFAULT: Record<string, (v: unknown) => boolean> = {
  n: (v) => v === 1,
  best_of: (v) => v === 1,
  echo: (v) => v === false,
  logprobs: (v) => v === false || v === 0,
  top_logprobs: (v) => v === 0,
  suffix: (v) => v === '',
  logit_bias: (v) => typeof v === 'object' && Object.keys(v as object).length === 0,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  tools: (v) => Array.isArray(v) && v.length === 0,
  tool_choice: (v) => v === 'none',
  functions: (v) => Array.isArray(v) && v.length === 0,
  function_call: (v) => v === 'none',
  response_format: (v) => typeof v === 'object' && (v as { type?: unknown }).type === 'text',
};
const COMMON = ['model', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'stream', 'density', 'policy'];
const FIELDS = {
  text: new Set([...COMMON, 'prompt']),
  chat: new Set([...COMMON, 'messages', 'max_completion_tokens']),
};

function checkFields(body: Record<string, unknown>, kind: 'text' | 'chat'): void {
  for (const [k, v] of Object.entries(body)) {
    if (FIELDS[kind].has(k) || IGNORED.has(k) || v === null) continue;
    const isDefault = ONLY_DEFAULT[k];
    if (isDefault) {
      if (!isDefault(v)) throw new RequestError(400, 'unsupported_parameter', `${k} = ${JSON.stringify(v)} is not supported by ifprune (leave it out)`, k);
      continue;
    }
    const other = kind === 'text' ? (k === 'messages' ? ' (messages go to /v1/chat/completions)' : '') : k === 'prompt' ? ' (a plain prompt goes to /v1/completions)' : '';
    throw new RequestError(400, 'unknown_parameter', `unknown parameter ${k}${other}`, k);
  }
}

/** What a request asks for, validated. */
interface Job {
  kind: 'text' | 'chat';
  prompt: string;
  gen: GenerateOptions & { maxTokens: number };
  stream: boolean;
}

function parseJob(ctx: Ctx, body: Record<string, unknown>, kind: 'text' | 'chat'): Job {
  checkFields(body, kind);
  if (body.model !== undefined && body.model !== null && typeof body.model !== 'string') throw wrongType('model', 'a string', body.model);

  let prompt: string;
  let bos: boolean | undefined;
  const stop: string[] = [];
  if (kind === 'text') {
    const p = body.prompt;
    if (p === undefined || p === null) throw new RequestError(400, 'missing_parameter', 'prompt is required (a string)', 'prompt');
    if (typeof p === 'string') prompt = p;
    else if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') prompt = p[0];
    else if (Array.isArray(p) && p.length > 1 && p.every((s) => typeof s === 'string')) throw new RequestError(400, 'unsupported_parameter', `prompt holds ${p.length} prompts; ifprune completes one prompt per request`, 'prompt');
    else throw wrongType('prompt', 'a string', p);
  } else {
    const rendered = ctx.chat.render(parseMessages(body.messages));
    prompt = rendered.prompt;
    bos = rendered.bos;
    stop.push(...ctx.chat.stop);
  }

  const s = body.stop;
  if (s !== undefined && s !== null) {
    const list = typeof s === 'string' ? [s] : s;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw wrongType('stop', 'a string or an array of strings', s);
    if (list.length > MAX_STOP) throw new RequestError(400, 'out_of_range', `stop has ${list.length} sequences; at most ${MAX_STOP}`, 'stop');
    if (list.some((x) => x === '')) throw new RequestError(400, 'out_of_range', 'stop sequences must not be empty', 'stop');
    stop.push(...list);
  }

  if (kind === 'chat' && body.max_tokens != null && body.max_completion_tokens != null) throw new RequestError(400, 'unsupported_parameter', 'give max_tokens or max_completion_tokens, not both', 'max_completion_tokens');
  const maxName = kind === 'chat' && body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const cap = ctx.limits.maxTokens;
  const asked = numberField(body, maxName, { min: 0, max: cap, integer: true, text: cap === undefined ? 'an integer ≥ 0' : `an integer in [0, ${cap}] (this server's limit)` });
  const byDefault = kind === 'text' ? DEFAULT_COMPLETION_TOKENS : ctx.model.config.seqLen; // chat: until the context is full
  const maxTokens = asked ?? Math.min(byDefault, cap ?? Infinity);
  const temperature = numberField(body, 'temperature', { min: 0, max: 2, text: 'a number in [0, 2]' }) ?? DEFAULT_TEMPERATURE;
  const topP = numberField(body, 'top_p', { min: 0, max: 1, minExclusive: true, text: 'a number in (0, 1]' }) ?? DEFAULT_TOP_P;
  const topK = numberField(body, 'top_k', { min: 0, integer: true, text: 'an integer ≥ 0 (0 = off)' });
  const seed = numberField(body, 'seed', { min: 0, max: 0xffffffff, integer: true, text: 'an integer in [0, 2^32)' }) ??
    Math.floor(Math.random() * 0x100000000); // as OpenAI: without a seed, each request samples afresh
  const density = numberField(body, 'density', { min: 0, max: 1, minExclusive: true, text: 'a number in (0, 1] (the share of FFN neurons kept)' }) ?? ctx.defaults.density ?? 1;
  const policy = body.policy ?? ctx.defaults.policy;
  if (policy !== undefined && policy !== null) {
    if (typeof policy !== 'string') throw wrongType('policy', 'a string', policy);
    if (!POLICIES.includes(policy as PolicyName)) throw new RequestError(400, 'out_of_range', `policy = ${JSON.stringify(policy)}: expected one of ${POLICIES.join(', ')}`, 'policy');
  }
  const stream = boolField(body, 'stream') ?? false;
  return {
    kind,
    prompt,
    stream,
    // density is always given: the runtime keeps the last generation's neurons otherwise.
    // special: a chat prompt's markers (<|im_start|>) are tokens; a plain prompt is all text.
    gen: { maxTokens, temperature, topP, topK, seed, stop: stop.length ? stop : undefined, density, policy: (policy ?? undefined) as PolicyName | undefined, bos, special: kind === 'chat' },
  };
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

function parseMessages(v: unknown): ChatMessage[] {
  if (v === undefined || v === null) throw new RequestError(400, 'missing_parameter', 'messages is required (an array of {role, content})', 'messages');
  if (!Array.isArray(v)) throw wrongType('messages', 'an array', v);
  if (v.length === 0) throw new RequestError(400, 'out_of_range', 'messages must not be empty', 'messages');
  return v.map((m, i) => {
    const name = `messages[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw wrongType(name, 'an object {role, content}', m);
    const { role, content, ...rest } = m as Record<string, unknown>;
    if (typeof role !== 'string') throw wrongType(`${name}.role`, 'a string', role);
    if (!ROLES.has(role)) throw new RequestError(400, 'out_of_range', `${name}.role = ${JSON.stringify(role)}: expected one of ${[...ROLES].join(', ')}`, `${name}.role`);
    if (rest.tool_calls !== undefined && rest.tool_calls !== null) throw new RequestError(400, 'unsupported_parameter', `${name}.tool_calls: ifprune does not call tools`, `${name}.tool_calls`);
    return { ...rest, role, content: messageText(content, `${name}.content`) };
  });
}

/** Message content as text: a string, null (an assistant turn with no text), or text parts joined. */
function messageText(c: unknown, name: string): string {
  if (typeof c === 'string') return c;
  if (c === null || c === undefined) return '';
  if (!Array.isArray(c)) throw wrongType(name, 'a string or an array of text parts', c);
  return c
    .map((p, i) => {
      const part = p as { type?: unknown; text?: unknown };
      if (part === null || typeof part !== 'object') throw wrongType(`${name}[${i}]`, 'an object {type, text}', p);
      if (part.type !== 'text') throw new RequestError(400, 'unsupported_parameter', `${name}[${i}].type = ${JSON.stringify(part.type)}: ifprune models read text parts only`, `${name}[${i}].type`);
      if (typeof part.text !== 'string') throw wrongType(`${name}[${i}].text`, 'a string', part.text);
      return part.text;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------------
// Generation

const FINISH: Record<FinishReason, 'stop' | 'length' | null> = { eos: 'stop', stop: 'stop', length: 'length', context: 'length', timeout: 'length', aborted: null, none: 'length' };

function usageOf(s: Stats) {
  return { prompt_tokens: s.promptTokens, completion_tokens: s.generatedTokens, total_tokens: s.promptTokens + s.generatedTokens };
}

/** A request over maxPromptTokens is refused before it queues (the tokenizer runs as generate's will). */
function checkPromptTokens(ctx: Ctx, job: Job): void {
  const max = ctx.limits.maxPromptTokens;
  if (max === undefined) return;
  const n = ctx.model.tokenizer.encode(job.prompt, { bos: job.gen.bos, special: job.gen.special }).length;
  if (n > max) {
    const param = job.kind === 'chat' ? 'messages' : 'prompt';
    throw new RequestError(400, 'prompt_too_long', `the ${job.kind === 'chat' ? 'conversation' : 'prompt'} is ${n} tokens; this server accepts at most ${max}: shorten it`, param);
  }
}

const newId = (prefix: string) => `${prefix}-${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`;

async function completions(ctx: Ctx, request: Request, kind: 'text' | 'chat'): Promise<Response> {
  const job = parseJob(ctx, await readJsonBody(request, ctx.maxBodyBytes), kind);
  checkPromptTokens(ctx, job);
  const { model } = ctx;
  const { maxQueue, timeoutMs } = ctx.limits;
  if (maxQueue !== undefined && ctx.pending > maxQueue) {
    throw new RequestError(503, 'overloaded', `${ctx.pending} requests are already running or waiting for the model (this server queues at most ${maxQueue}); retry later`);
  }
  ctx.pending++;
  // The generation's own signal: the client's, or a cancelled stream.
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  request.signal.addEventListener('abort', onAbort, { once: true });
  if (request.signal.aborted) abort.abort();
  let released = false;
  const done = () => {
    if (released) return;
    released = true;
    request.signal.removeEventListener('abort', onAbort);
    ctx.pending--;
  };
  let generation: Generation;
  let tokens: AsyncIterator<Token>;
  let first: IteratorResult<Token>;
  try {
    // Waits for the model's queue, then loads and prefills: a prompt beyond the context fails here, before any header is sent.
    generation = model.generate(job.prompt, { ...job.gen, signal: abort.signal, timeoutMs });
    tokens = generation[Symbol.asyncIterator]();
    first = await tokens.next();
  } catch (e) {
    done();
    throw e;
  }
  const stats = () => generation.stats() ?? model.stats();
  const id = newId(kind === 'chat' ? 'chatcmpl' : 'cmpl');
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created, model: ctx.id };

  if (!job.stream) {
    let text = '';
    try {
      for (let r = first; !r.done; r = await tokens.next()) text += r.value.text;
      const finish = FINISH[stats().finishReason];
      const choice = kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }
        : { index: 0, text, logprobs: null, finish_reason: finish };
      return json(200, { ...head, choices: [choice], usage: usageOf(stats()) });
    } finally {
      done();
    }
  }

  // --- server-sent events
  const enc = new TextEncoder();
  const event = (data: unknown) => enc.encode(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  const chunkHead = { ...head, object: kind === 'chat' ? 'chat.completion.chunk' : 'text_completion' };
  const chunk = (text: string | null, finish: string | null, extra: object = {}) =>
    event({
      ...chunkHead,
      choices: [kind === 'chat'
        ? { index: 0, delta: text === null ? {} : { content: text }, logprobs: null, finish_reason: finish }
        : { index: 0, text: text ?? '', logprobs: null, finish_reason: finish }],
      ...extra,
    });
  let next: IteratorResult<Token> | undefined = first;
  let started = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(out) {
      try {
        if (!started && kind === 'chat') out.enqueue(event({ ...chunkHead, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] }));
        started = true;
        // One event per pull that has text (a token may complete no character yet).
        for (;;) {
          const r: IteratorResult<Token> = next ?? (await tokens.next());
          next = undefined;
          if (r.done) {
            out.enqueue(chunk(null, FINISH[stats().finishReason], { usage: usageOf(stats()) }));
            out.enqueue(event('[DONE]'));
            out.close();
            done();
            return;
          }
          if (r.value.text) {
            out.enqueue(chunk(r.value.text, null));
            return;
          }
        }
      } catch (e) {
        done();
        try {
          // Headers are sent: a failure is the last event. An abort means the client is gone.
          if (!isIfpruneError(e, 'aborted')) {
            out.enqueue(event(errorBody(e).body));
            out.enqueue(event('[DONE]'));
          }
          out.close();
        } catch {
          // the stream was cancelled meanwhile
        }
      }
    },
    async cancel() {
      abort.abort();
      try {
        await tokens.return?.();
      } catch {
        // ended by the abort
      }
      done();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...CORS } });
}
