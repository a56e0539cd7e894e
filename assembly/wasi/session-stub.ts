// Stand-in for the runtime's session (assembly/rt/session.ts) and header parser (assembly/rt/
// model-file.ts) while they are being written: the same names and shapes, every phase failing with
// 'unsupported'. runtime.ts chooses between this and the real files; delete this file once they land.
import { fail } from '../rt/error';
import { FAILED } from '../rt/io';
import { ModelSpec, IfpruneInfo } from '../rt/spec';
import { JsonWriter } from '../rt/json';

export const STEP_END: i32 = 0;
export const STEP_MORE: i32 = 1;
export const DEFAULT_MAX_TOKENS: i32 = 256;

export let headerNeed: u64 = 0;

export function parseModelHeader(buf: usize, len: usize, fileSize: u64, fileName: string): ModelSpec | null {
  fail('unsupported', fileName + ': this WASI build has no model reader yet (assembly/rt/model-file.ts)');
  return null;
}

export class OpenOptions {
  fileName: string = 'model';
  contextLength: i32 = 0;
  ffn: string = 'dense';
  memoryBudget: f64 = 0;
  gapBytes: i32 = -1;
  tokenizerFileSize: u64 = 0;
  tokenizerName: string = 'tokenizer.bin';
  kernels: string = ASC_FEATURE_SIMD ? 'simd' : 'scalar';
}

export class GenOptions {
  maxTokens: i32 = DEFAULT_MAX_TOKENS;
  temperature: f64 = NaN;
  topP: f64 = NaN;
  topK: i32 = -1;
  seed: f64 = NaN;
  stop: Array<string> = [];
  bos: i32 = -1;
  density: f64 = NaN;
  policy: string = '';
}

export class EmittedToken {
  constructor(public id: i32, public text: string) {}
}

export class Stats {
  loadMs: f64 = 0;
  bytesRead: f64 = 0;
  promptTokens: i32 = 0;
  generatedTokens: i32 = 0;
  ttftMs: f64 = 0;
  prefillMs: f64 = 0;
  prefillTokPerS: f64 = 0;
  decodeMs: f64 = 0;
  decodeTokPerS: f64 = 0;
  kernels: string = '';
  contextLength: i32 = 0;
  finishReason: string = 'none';
  density: f64 = 1;
  policy: string = 'dense';
  tokenizeMs: f64 = 0;
  predictMs: f64 = 0;
  loadNeuronsMs: f64 = 0;
  neuronBytesRead: f64 = 0;
  neuronRequests: i32 = 0;
  neuronCacheHits: i32 = 0;
  ffnBytesTotal: f64 = 0;
  memoryBytes: f64 = 0;
}

export class Session {
  spec: ModelSpec | null = null;
  info: IfpruneInfo | null = null;
  stats: Stats = new Stats();
  emitted: Array<EmittedToken> = [];
  constructor(public fileSize: u64, public opts: OpenOptions) {}
  open(): i32 {
    fail('unsupported', this.opts.fileName + ': this WASI build has no runtime session yet (assembly/rt/session.ts)');
    return FAILED;
  }
  resume(): i32 {
    return FAILED;
  }
  begin(prompt: string, g: GenOptions): i32 {
    return FAILED;
  }
  step(): i32 {
    return FAILED;
  }
  statsJson(): string {
    const w = new JsonWriter();
    w.begin();
    return w.end();
  }
}
