/**
 * ifprune as a Cloudflare Worker: the OpenAI-compatible handler (src/server/handler.ts) over a model
 * stored in R2.
 *
 * The runtime module and the model's core (header, attention, embeddings, predictor) are loaded once
 * per isolate, on the first request, and reused by every later request the isolate serves. A request
 * with a `density` makes the predictor choose that share of each layer's FFN neurons; only the rows
 * not already in the neuron cache are read from R2 (ranged gets), so a warm isolate answering a
 * similar instruction reads little or nothing.
 *
 *   POST /v1/completions, /v1/chat/completions, GET /v1/models   (OpenAI shapes; `density`, `policy`)
 *   GET  /ifprune/stats    the model's stats (memory, bytes read, neuron cache) and the R2 source's
 */
// The Worker entry point of the package (`import … from 'ifprune'` under the workerd condition resolves
// to its bundle, dist/worker/index.js); in this repository wrangler bundles it from the sources.
import { open, isIfpruneError, r2Source, createHandler, errorBody, type R2BucketLike, type R2Source, type Handler, type Model } from '../../../src/platform/worker.ts';

export interface Env {
  MODELS: R2BucketLike;
  /** The model object's key in the bucket. */
  MODEL_KEY?: string;
  /** Bytes of wasm memory the model may use (core + neuron cache); default 100 MB, under the 128 MB isolate limit. */
  MEMORY_BUDGET?: string;
  /** KV-cache positions (default: the model's context, at most 2048); the KV cache is part of the core. */
  CONTEXT_LENGTH?: string;
}

interface Loaded {
  model: Model;
  source: R2Source;
  handler: Handler;
  /** Requests this isolate has served (shows reuse across requests). */
  served: number;
}

/** The model of this isolate: opened on the first request, kept for the isolate's lifetime. */
let loaded: Promise<Loaded> | undefined;

function getModel(env: Env): Promise<Loaded> {
  loaded ??= (async () => {
    const source = await r2Source(env.MODELS, env.MODEL_KEY ?? 'model.gguf');
    const memoryBudget = Number(env.MEMORY_BUDGET ?? 100e6);
    const contextLength = env.CONTEXT_LENGTH ? Number(env.CONTEXT_LENGTH) : undefined;
    const model = await open(source, { ffn: 'auto', memoryBudget, contextLength });
    return { model, source, handler: createHandler(model), served: 0 };
  })().catch((e) => {
    loaded = undefined; // the next request tries again
    throw e;
  });
  return loaded;
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    try {
      const m = await getModel(env);
      if (new URL(req.url).pathname === '/ifprune/stats' && req.method === 'GET') {
        return Response.json({ served: m.served, model: m.model.stats(), source: m.source.stats() });
      }
      m.served++;
      return await m.handler(req);
    } catch (e) {
      // The model could not be opened (no such object, not a model file): the handler's error shape.
      const { status, body } = errorBody(e);
      return Response.json(body, { status: isIfpruneError(e, 'not_found') ? 404 : status });
    }
  },
};
