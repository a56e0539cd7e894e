/**
 * `ifprune run -m MODEL -p PROMPT [options]`: generate a continuation of a prompt.
 *
 * Text mode prints the prompt, then each token's text as it arrives, then a newline on stdout, and
 * one or two lines of stats on stderr. `--json` prints only one JSON object on stdout at the end:
 * { prompt, ids (generated only), text (generated only), stats }. Ctrl-C stops generation, prints
 * what was produced and the stats, and exits 130; a second Ctrl-C kills the process.
 */
import { DEFAULTS } from '../defaults.ts';
import { open, resolveModel } from '../platform/node.ts';
import { KERNEL_BUILDS, type KernelBuild } from '../engine/simd.ts';
import type { ByteSource } from '../sources/types.ts';
import type { HttpSource } from '../sources/http.ts';
import { isIfpruneError } from '../errors.ts';
import type { GenerateOptions, Model, Stats } from '../types.ts';
import {
  UsageError, choiceOption, flagOption, formatHelp, intOption, listOption, numberOption, parseArgs, stringOption,
  type CommandInfo,
} from './args.ts';
import { formatBytes, formatSourceStats } from './inspect.ts';
import { sourceStats } from './output.ts';

/** Exit status after SIGINT (128 + 2), as shells report it. */
export const EXIT_INTERRUPTED = 130;

export const RUN: CommandInfo = {
  name: 'run',
  usage: ['ifprune run -m MODEL -p PROMPT [options]'],
  summary: 'generate text: print the prompt and its continuation as tokens arrive, stats on stderr',
  options: [
    { name: 'model', short: 'm', kind: 'string', value: 'MODEL', help: 'model file or http(s) URL (read with Range requests): GGUF, llama2.c .bin or safetensors (required)' },
    { name: 'tokenizer', kind: 'string', value: 'FILE', help: 'llama2.c tokenizer.bin, a path or URL (default: tokenizer.bin or tok*.bin beside the model)' },
    { name: 'prompt', short: 'p', kind: 'string', value: 'TEXT', help: "the prompt (required; -p '' starts from BOS alone)" },
    { name: 'max-tokens', short: 'n', kind: 'string', value: 'N', help: `new tokens to generate at most (default ${DEFAULTS.maxTokens})` },
    { name: 'temperature', kind: 'string', value: 'T', help: 'sampling temperature, >= 0; 0 = greedy (default 0.8)' },
    { name: 'top-p', kind: 'string', value: 'P', help: 'nucleus sampling mass in (0, 1]; 1 = off (default 0.9)' },
    { name: 'top-k', kind: 'string', value: 'K', help: 'keep only the K most likely tokens; 0 = off (default 0)' },
    { name: 'seed', short: 's', kind: 'string', value: 'S', help: 'sampler seed, a whole number >= 0 (default: fixed, so runs repeat)' },
    { name: 'stop', kind: 'string', value: 'STR', multiple: true, help: 'stop when the text contains STR (repeatable; STR is not printed)' },
    { name: 'kernels', kind: 'string', value: 'BUILD', help: `kernel build: auto, ${KERNEL_BUILDS.join(', ')} (default auto: the fastest this runtime runs)` },
    { name: 'threads', short: 't', kind: 'string', value: 'N', help: 'threads: 1 or 2 (2: a worker thread computes half of each prefill step; SIMD kernels) (default 1)' },
    { name: 'context', short: 'c', kind: 'string', value: 'N', help: `context length to allocate (default: the model's, at most ${DEFAULTS.contextLength})` },
    { name: 'density', kind: 'string', value: 'D', help: 'prune the FFN for this prompt: keep a share D in (0, 1] of each layer\'s neurons' },
    { name: 'policy', kind: 'string', value: 'P', help: 'who picks the neurons: learned, static, prompt or dense (default: learned if the model has a predictor, else static, else prompt)' },
    { name: 'selective', kind: 'boolean', help: 'load only the core, then only the chosen neurons (ifprune bundled models; default with --density)' },
    { name: 'memory-budget', kind: 'string', value: 'BYTES', help: 'wasm memory the model may use in all; what the core leaves holds the neuron cache (default: no limit)' },
    { name: 'json', kind: 'boolean', help: 'print one JSON object {prompt, ids, text, stats} instead of text' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'Examples:\n' +
    "  ifprune run -m models/stories260K/stories260K.bin -p 'Once upon a time' -n 120\n" +
    "  ifprune run -m model.gguf -p 'The capital of France is' --temperature 0 --stop '.' --json\n" +
    "  ifprune run -m https://example.com/ifp-demo.q8_0.gguf -p 'def main(argv):' --density 0.5   # Range requests\n\n" +
    'A URL model reads only the byte ranges it needs; the stats (and --json: "source") report the HTTP\n' +
    'requests made and the bytes received.',
};

interface RunArgs {
  model: string;
  tokenizer?: string;
  prompt: string;
  kernels?: 'auto' | KernelBuild;
  threads?: number;
  contextLength?: number;
  generate: GenerateOptions;
  selective: boolean;
  memoryBudget?: number;
  json: boolean;
}

/** Validates the command line into RunArgs; every mistake is a UsageError naming the option. */
export function parseRunArgs(argv: string[]): RunArgs | 'help' {
  const args = parseArgs(argv, RUN.options, 'run');
  if (flagOption(args, 'help')) return 'help';
  if (args.positionals.length) {
    throw new UsageError(`run takes no positional arguments; got "${args.positionals[0]}" (the model goes after -m, the prompt after -p)`, 'run');
  }
  const model = stringOption(args, 'model');
  if (model === undefined || model === '') throw new UsageError('run needs a model file: -m MODEL', 'run');
  const prompt = stringOption(args, 'prompt');
  if (prompt === undefined) throw new UsageError("run needs a prompt: -p TEXT (-p '' starts from BOS alone)", 'run');
  const stop = listOption(args, 'stop');
  if (stop.some((s) => s === '')) throw new UsageError('--stop needs a non-empty string', 'run');
  return {
    model,
    tokenizer: stringOption(args, 'tokenizer'),
    prompt,
    kernels: choiceOption(args, 'kernels', ['auto', ...KERNEL_BUILDS] as const, 'run'),
    threads: intOption(args, 'threads', { min: 1, max: 2 }, 'run'),
    contextLength: intOption(args, 'context', { min: 1 }, 'run'),
    generate: {
      maxTokens: intOption(args, 'max-tokens', { min: 1 }, 'run') ?? DEFAULTS.maxTokens,
      temperature: numberOption(args, 'temperature', { min: 0 }, 'run'),
      topP: numberOption(args, 'top-p', { min: 0, minExclusive: true, max: 1 }, 'run'),
      topK: intOption(args, 'top-k', { min: 0 }, 'run'),
      seed: intOption(args, 'seed', { min: 0 }, 'run'),
      stop: stop.length ? stop : undefined,
      density: numberOption(args, 'density', { min: 0, minExclusive: true, max: 1 }, 'run'),
      policy: choiceOption(args, 'policy', ['learned', 'static', 'prompt', 'dense'] as const, 'run'),
    },
    selective: flagOption(args, 'selective') || numberOption(args, 'density', { min: 0, minExclusive: true, max: 1 }, 'run') !== undefined,
    memoryBudget: intOption(args, 'memory-budget', { min: 1 }, 'run'),
    json: flagOption(args, 'json'),
  };
}

export async function runCommand(argv: string[]): Promise<number> {
  const a = parseRunArgs(argv);
  if (a === 'help') {
    process.stdout.write(formatHelp(RUN));
    return 0;
  }

  // Ctrl-C aborts loading or generation; `once`, so a second Ctrl-C falls back to Node's default (exit).
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  // A closed pipe (`ifprune run ... | head -1`) stops generation instead of crashing on EPIPE.
  let stdoutClosed = false;
  const onStdoutError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutClosed = true;
    controller.abort();
  };
  process.stdout.on('error', onStdoutError);
  const write = (s: string) => {
    if (!stdoutClosed && s) process.stdout.write(s);
  };
  // The prompt goes out with the first token (or at the end), so a failure leaves stdout empty.
  let echoed = a.json;
  const echo = (s: string) => {
    if (!echoed) write(a.prompt);
    echoed = true;
    write(s);
  };

  let model: Model | undefined;
  let source: ByteSource | undefined;
  const ids: number[] = [];
  let text = '';
  let interrupted = false;
  try {
    try {
      const r = await resolveModel(a.model, { tokenizer: a.tokenizer, signal: controller.signal });
      source = r.source;
      const m = await open(r.source, {
        tokenizer: r.tokenizer,
        config: r.config,
        kernels: a.kernels,
        threads: a.threads,
        contextLength: a.contextLength,
        signal: controller.signal,
        // Selective where the file allows it (ifprune bundled), dense otherwise: decided from the header open() reads anyway.
        ...(a.selective ? { ffn: 'auto' as const } : {}),
        memoryBudget: a.memoryBudget,
      });
      model = m;
      for await (const token of m.generate(a.prompt, { ...a.generate, signal: controller.signal })) {
        ids.push(token.id);
        text += token.text;
        if (!a.json) echo(token.text);
      }
    } catch (e) {
      if (!(controller.signal.aborted && isAbort(e))) throw e;
      interrupted = !stdoutClosed;
    }
    if (stdoutClosed) return 0;
    if (!model) {
      process.stderr.write('ifprune: interrupted while loading the model\n');
      return EXIT_INTERRUPTED;
    }
    const stats = model.stats();
    const http = sourceStats(source);
    if (a.json) {
      write(JSON.stringify({ prompt: a.prompt, ids, text, stats, ...(http ? { source: http } : {}), ...(interrupted ? { interrupted } : {}) }) + '\n');
    } else {
      echo('\n');
      process.stderr.write(formatStats(stats) + (http ? `\n${formatSourceStats(http)}` : '') + '\n');
    }
    return interrupted ? EXIT_INTERRUPTED : 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.stdout.off('error', onStdoutError);
    await model?.close();
  }
}

/** The library's abort (IfpruneError 'aborted') or a platform AbortError from an aborted read. */
function isAbort(e: unknown): boolean {
  return isIfpruneError(e, 'aborted') || (e as Error)?.name === 'AbortError';
}

/** Two lines: this generation (how it ended, its speed), then the cost of loading. */
export function formatStats(s: Stats): string {
  const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
  const rate = (x: number) => (Number.isFinite(x) && x > 0 ? `${x < 100 ? x.toFixed(1) : Math.round(x)} tok/s` : '-');
  return (
    `${s.generatedTokens} tokens (prompt ${s.promptTokens}, end: ${s.finishReason}), TTFT ${ms(s.ttftMs)}, ` +
    `prefill ${rate(s.prefillTokPerS)}, decode ${rate(s.decodeTokPerS)}\n` +
    `load ${ms(s.loadMs)}, read ${formatBytes(s.bytesRead)}, kernels ${s.kernels}, context ${s.contextLength}` +
    (s.density < 1 || s.ffnBytesTotal > 0
      ? `\nFFN ${s.policy} at density ${s.density.toFixed(2)}: loaded ${formatBytes(s.neuronBytesRead)} of ${formatBytes(s.ffnBytesTotal)} in ${s.neuronRequests} requests ` +
        `(${s.neuronCacheHits} neurons cached); TTFT = tokenize ${ms(s.tokenizeMs)} + predict ${ms(s.predictMs)} + load ${ms(s.loadNeuronsMs)} + prefill ${ms(s.prefillMs)}`
      : '')
  );
}
