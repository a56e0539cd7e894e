import type { Miniflare } from 'miniflare';
export function bundleWorker(): Promise<{ script: string; wasm: Map<string, string> }>;
export function startWorker(opts: {
  models: Record<string, Uint8Array>;
  modelKey: string;
  memoryBudget?: number;
  contextLength?: number;
  port?: number;
  inspectorPort?: number;
}): Promise<{ mf: Miniflare; url: URL }>;
