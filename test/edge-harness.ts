/**
 * Shared by the platform tests (worker, deno, web): the generations every platform must reproduce and
 * Node's text for them (src/platform/node.ts open + generate, greedy), plus a free local port.
 */
import { createServer } from 'node:net';
import { open } from '../src/platform/node.ts';
import type { GenerateOptions } from '../src/types.ts';

export const STORIES = 'models/stories260K/stories260K.gguf';
export const DEMO = 'models/ifp-demo/ifp-demo.q8_0.gguf';

export interface EdgeCase {
  label: string;
  model: string;
  prompt: string;
  opts: Pick<GenerateOptions, 'maxTokens' | 'density' | 'policy' | 'temperature' | 'topP' | 'seed'>;
}

/** Bundled models, dense and at density 0.5 with the learned policy; greedy. */
export const CASES: EdgeCase[] = [
  { label: 'stories260K dense', model: STORIES, prompt: 'Once upon a time', opts: { maxTokens: 40 } },
  { label: 'ifp-demo density 0.5 learned', model: DEMO, prompt: 'def main(argv):', opts: { maxTokens: 40, density: 0.5, policy: 'learned' } },
  { label: 'ifp-demo dense', model: DEMO, prompt: 'def main(argv):', opts: { maxTokens: 40 } },
];

/**
 * Seeded sampling: the same seed must give the same tokens on every platform (the sampler and its exp
 * are bit-exact in wasm; README "Reliability"). top_p is given: the server's default (1) is not the library's (0.9).
 */
export const SAMPLED: EdgeCase[] = [
  { label: 'ifp-demo density 0.5 learned, sampled with seed 7', model: DEMO, prompt: 'The history of', opts: { maxTokens: 40, density: 0.5, policy: 'learned', temperature: 0.9, topP: 0.95, seed: 7 } },
];

/** The request body of a case for the OpenAI handler. */
export function completionBody(c: EdgeCase): string {
  const o = c.opts;
  return JSON.stringify({ prompt: c.prompt, max_tokens: o.maxTokens, temperature: o.temperature ?? 0, top_p: o.topP, seed: o.seed, density: o.density, policy: o.policy });
}

/** Node's text for a case, greedy unless it says otherwise (opened selectively where the file allows, as every platform does). */
export async function nodeText(c: EdgeCase): Promise<string> {
  const m = await open(c.model, { ffn: 'auto' });
  try {
    let text = '';
    for await (const t of m.generate(c.prompt, { temperature: 0, ...c.opts })) text += t.text;
    return text;
  } finally {
    await m.close();
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
