/**
 * ifprune as a Cloudflare Worker: an OpenAI-style endpoint over a model stored in R2.
 *
 * The runtime module and the model's core (header, attention, embeddings, predictor) are loaded once
 * per isolate, on the first request, and reused by every later request the isolate serves. A request
 * with a `density` makes the predictor choose that share of each layer's FFN neurons; only the rows
 * not already in the neuron cache are read from R2 (ranged gets), so a warm isolate answering a
 * similar instruction reads little or nothing.
 *
 *   POST /v1/completions   { "prompt": "def main(argv):", "max_tokens": 40, "temperature": 0, "density": 0.5 }
 *   GET  /ifprune/stats    the model's stats (memory, bytes read, neuron cache) and the R2 source's
 */
import runtime from '../../../build/ifprune.simd.wasm';
import { open, IfpruneError, isIfpruneError, type Model, type PolicyName } from '../../../src/index.ts';
import { r2Source, type R2BucketLike, type R2Source } from '../../../src/sources/r2.ts';

export interface Env {
  MODELS: R2BucketLike;
  /** The model object's key in the bucket. */
  MODEL_KEY?: string;
  /** Bytes of wasm memory the model may use (core + neuron cache); default 100 MB, under the 128 MB isolate limit. */
  MEMORY_BUDGET?: string;
}

interface Loaded {
  model: Model;
  source: R2Source;
  /** Requests this isolate has served (shows reuse across requests). */
  served: number;
}

/** The model of this isolate: opened on the first request, kept for the isolate's lifetime. */
let loaded: Promise<Loaded> | undefined;

function getModel(env: Env): Promise<Loaded> {
  loaded ??= (async () => {
    const source = await r2Source(env.MODELS, env.MODEL_KEY ?? 'model.gguf');
    const memoryBudget = Number(env.MEMORY_BUDGET ?? 100e6);
    const model = await open(source, { module: runtime, ffn: 'auto', memoryBudget });
    return { model, source, served: 0 };
  })().catch((e) => {
    loaded = undefined; // the next request tries again
    throw e;
  });
  return loaded;
}

/** One generation at a time per model: requests wait their turn. */
let queue: Promise<unknown> = Promise.resolve();
function serial<T>(f: () => Promise<T>): Promise<T> {
  const run = queue.then(f, f);
  queue = run.catch(() => {});
  return run;
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const url = new URL(req.url);
    try {
      const m = await getModel(env);
      if (url.pathname === '/ifprune/stats' && req.method === 'GET') {
        return json({ served: m.served, model: m.model.stats(), source: m.source.stats() });
      }
      if (url.pathname === '/v1/completions' && req.method === 'POST') {
        const body = await readBody(req);
        return await serial(() => complete(m, body, req.signal));
      }
      return error(404, 'not_found', `no route ${req.method} ${url.pathname}; try POST /v1/completions`);
    } catch (e) {
      if (isIfpruneError(e)) return error(e.code === 'not_found' ? 404 : e.code === 'bad_option' || e.code === 'context_overflow' ? 400 : 500, e.code, e.message);
      return error(500, 'internal', String((e as Error)?.message ?? e));
    }
  },
};

interface CompletionBody {
  prompt: string;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  density?: number;
  policy?: PolicyName;
}

async function readBody(req: Request): Promise<CompletionBody> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new IfpruneError('bad_option', 'the request body is not JSON; send {"prompt": "...", "max_tokens": N}');
  }
  if (!body || typeof body !== 'object' || typeof (body as CompletionBody).prompt !== 'string') {
    throw new IfpruneError('bad_option', 'the request body needs "prompt" (a string)');
  }
  return body as CompletionBody;
}

async function complete(m: Loaded, b: CompletionBody, signal: AbortSignal): Promise<Response> {
  let text = '';
  let n = 0;
  for await (const t of m.model.generate(b.prompt, {
    maxTokens: b.max_tokens ?? 16,
    temperature: b.temperature,
    topP: b.top_p,
    seed: b.seed,
    // A model keeps its last selection for a generate() without a density: each request says its own.
    density: b.density ?? 1,
    policy: b.policy,
    signal,
  })) {
    text += t.text;
    n++;
  }
  m.served++;
  const s = m.model.stats();
  return json({
    object: 'text_completion',
    choices: [{ index: 0, text, finish_reason: s.finishReason === 'length' ? 'length' : 'stop' }],
    usage: { prompt_tokens: s.promptTokens, completion_tokens: n, total_tokens: s.promptTokens + n },
    ifprune: { density: s.density, policy: s.policy, neuronBytesRead: s.neuronBytesRead, neuronCacheHits: s.neuronCacheHits, memoryBytes: s.memoryBytes },
  });
}

function json(v: unknown, status = 200): Response {
  return new Response(JSON.stringify(v), { status, headers: { 'content-type': 'application/json' } });
}

function error(status: number, code: string, message: string): Response {
  return json({ error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', code } }, status);
}
