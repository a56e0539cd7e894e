// `ifprune run -m MODEL -p PROMPT [options]` in the WASI command: the options, defaults, help, output and
// errors of the Node CLI's run (src/cli/run.ts), over a runtime Session whose reads this file serves.
//
// Text mode prints the prompt, then each token's text as it arrives, then a newline on stdout, and the
// stats on stderr. `--json` prints only one JSON object on stdout at the end: { prompt, ids (generated
// only), text (generated only), stats }. A closed stdout stops generation (exit 0), as in Node.
import { DONE, FAILED } from '../rt/io';
import { fail, failed } from '../rt/error';
import { JsonWriter } from '../rt/json';
import { DEFAULT_CONTEXT } from '../rt/engine';
import { Session, OpenOptions, GenOptions, Stats, STEP_MORE, STEP_END, DEFAULT_MAX_TOKENS } from './runtime';

/** As src/sources/file.ts LOCAL_READ_THROUGH_BYTES (a test checks they agree). */
export const LOCAL_READ_THROUGH_BYTES: i32 = 4096;
import {
  CommandInfo, OptionSpec, STRING, BOOLEAN, Bounds, ParsedArgs, parseArgs, usage, intOption, numberOption, choiceOption,
} from './args';
import { File, listDir, dirname, joinPath, writeOut, writeErr, stdoutClosed } from './fs';
import { Files, serve } from './host';
import { formatBytes, jsNumber, toFixed } from './text';

/** The kernel build compiled into this module (the WASI build cannot switch at run time). */
const BUILD: string = ASC_FEATURE_SIMD ? 'simd' : 'scalar';

export const RUN = new CommandInfo(
  'run',
  ['ifprune run -m MODEL -p PROMPT [options]'],
  'generate text: print the prompt and its continuation as tokens arrive, stats on stderr',
  [
    new OptionSpec('model', 'm', STRING, 'MODEL', 'model file: GGUF, llama2.c .bin or safetensors (required)'),
    new OptionSpec('tokenizer', '', STRING, 'FILE', 'llama2.c tokenizer.bin (default: tokenizer.bin or tok*.bin beside the model)'),
    new OptionSpec('prompt', 'p', STRING, 'TEXT', "the prompt (required; -p '' starts from BOS alone)"),
    new OptionSpec('max-tokens', 'n', STRING, 'N', `new tokens to generate at most (default ${DEFAULT_MAX_TOKENS})`),
    new OptionSpec('temperature', '', STRING, 'T', 'sampling temperature, >= 0; 0 = greedy (default 0.8)'),
    new OptionSpec('top-p', '', STRING, 'P', 'nucleus sampling mass in (0, 1]; 1 = off (default 0.9)'),
    new OptionSpec('top-k', '', STRING, 'K', 'keep only the K most likely tokens; 0 = off (default 0)'),
    new OptionSpec('seed', 's', STRING, 'S', 'sampler seed, a whole number >= 0 (default: fixed, so runs repeat)'),
    new OptionSpec('stop', '', STRING, 'STR', 'stop when the text contains STR (repeatable; STR is not printed)', true),
    new OptionSpec('kernels', '', STRING, 'BUILD', 'kernel build: auto, relaxed, simd, scalar (default auto: the fastest this runtime runs)'),
    new OptionSpec('threads', 't', STRING, 'N', 'threads: 1 or 2 (2: a worker thread computes half of each prefill step; SIMD kernels) (default 1)'),
    new OptionSpec('context', 'c', STRING, 'N', "context length to allocate (default: the model's, at most " + DEFAULT_CONTEXT.toString() + ')'),
    new OptionSpec('density', '', STRING, 'D', "prune the FFN for this prompt: keep a share D in (0, 1] of each layer's neurons"),
    new OptionSpec('policy', '', STRING, 'P', 'who picks the neurons: learned, static, prompt or dense (default: learned if the model has a predictor, else static, else prompt)'),
    new OptionSpec('selective', '', BOOLEAN, '', 'load only the core, then only the chosen neurons (ifprune bundled models; default with --density)'),
    new OptionSpec('memory-budget', '', STRING, 'BYTES', 'wasm memory the model may use in all; what the core leaves holds the neuron cache (default: no limit)'),
    new OptionSpec('json', '', BOOLEAN, '', 'print one JSON object {prompt, ids, text, stats} instead of text'),
    new OptionSpec('help', 'h', BOOLEAN, '', 'show this help'),
  ],
  'Examples:\n' +
    "  ifprune run -m models/stories260K/stories260K.bin -p 'Once upon a time' -n 120\n" +
    "  ifprune run -m model.gguf -p 'The capital of France is' --temperature 0 --stop '.' --json",
);

class RunArgs {
  model: string = '';
  tokenizer: string | null = null;
  prompt: string = '';
  kernels: string = 'auto';
  contextLength: i32 = 0;
  gen: GenOptions = new GenOptions();
  selective: bool = false;
  memoryBudget: f64 = 0;
  json: bool = false;
}

/** Validates the command line (null after usage(), or for --help with `help` set). */
function parseRunArgs(argv: Array<string>): RunArgs | null {
  const args = parseArgs(argv, RUN.options, 'run');
  if (args == null) return null;
  const a = new RunArgs();
  if (args.flag('help')) {
    wantsHelp = true;
    return null;
  }
  if (args.positionals.length > 0) {
    usage(`run takes no positional arguments; got "${args.positionals[0]}" (the model goes after -m, the prompt after -p)`, 'run');
    return null;
  }
  a.model = args.str('model');
  if (a.model.length == 0) {
    usage('run needs a model file: -m MODEL', 'run');
    return null;
  }
  if (!args.has('prompt')) {
    usage("run needs a prompt: -p TEXT (-p '' starts from BOS alone)", 'run');
    return null;
  }
  a.prompt = args.str('prompt');
  const stop = args.list('stop');
  for (let i = 0; i < stop.length; i++) {
    if (stop[i].length == 0) {
      usage('--stop needs a non-empty string', 'run');
      return null;
    }
  }
  if (args.has('tokenizer')) a.tokenizer = args.str('tokenizer');
  // In the Node CLI's order, so the first mistake reported is the same one.
  const kernels = choiceOption(args, 'kernels', ['auto', 'relaxed', 'simd', 'scalar'], 'run');
  if (kernels == 'relaxed') {
    usage('--kernels relaxed: the WASI command has no relaxed-SIMD build yet; use auto, simd or scalar', 'run');
    return null;
  }
  if (kernels.length > 0) a.kernels = kernels;
  // the same options as the Node CLI; a WASI command has no worker threads
  if (intOption(args, 'threads', new Bounds(1, 2), 'run') == 2) {
    usage('--threads 2: the WASI command runs on one thread (threads: the Node, Deno and browser entry points)', 'run');
    return null;
  }
  const context = intOption(args, 'context', new Bounds(1), 'run');
  const g = a.gen;
  const maxTokens = intOption(args, 'max-tokens', new Bounds(1), 'run');
  g.temperature = numberOption(args, 'temperature', new Bounds(0), 'run');
  g.topP = numberOption(args, 'top-p', new Bounds(0, 1, true), 'run');
  const topK = intOption(args, 'top-k', new Bounds(0), 'run');
  g.seed = intOption(args, 'seed', new Bounds(0), 'run');
  g.stop = stop;
  g.density = numberOption(args, 'density', new Bounds(0, 1, true), 'run');
  g.policy = choiceOption(args, 'policy', ['learned', 'static', 'prompt', 'dense'], 'run');
  const budget = intOption(args, 'memory-budget', new Bounds(1), 'run');
  if (failed()) return null;
  // Whole numbers beyond i32 cannot be a context or a count anyone runs; clamp rather than wrap.
  if (!isNaN(context)) a.contextLength = <i32>min<f64>(context, 2147483647);
  g.maxTokens = isNaN(maxTokens) ? DEFAULT_MAX_TOKENS : <i32>min<f64>(maxTokens, 2147483647);
  g.topK = isNaN(topK) ? -1 : <i32>min<f64>(topK, 2147483647);
  a.selective = args.flag('selective') || !isNaN(g.density);
  a.memoryBudget = isNaN(budget) ? 0 : budget;
  a.json = args.flag('json');
  return a;
}

let wantsHelp = false;

/** tokenizer.bin, else the only tok*.bin, beside a llama2.c checkpoint (src/platform/node.ts
 * findTokenizerBeside); "" after fail('not_found', ...). */
function findTokenizerBeside(modelPath: string): string {
  const dir = dirname(modelPath);
  const names = listDir(dir);
  if (names == null) return '';
  if (names.includes('tokenizer.bin')) return joinPath(dir, 'tokenizer.bin');
  const toks = new Array<string>();
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (n.startsWith('tok') && n.endsWith('.bin') && n.length >= 7) toks.push(n);
  }
  toks.sort();
  if (toks.length == 1) return joinPath(dir, toks[0]);
  fail('not_found', toks.length > 1
    ? `${modelPath} is a llama2.c checkpoint and ${dir} has several tokenizers (${toks.join(', ')}); choose one with --tokenizer FILE`
    : `${modelPath} is a llama2.c checkpoint, which carries no vocabulary, and no tokenizer.bin or tok*.bin is beside it; pass one with --tokenizer FILE`);
  return '';
}


/** Opens the model (and its tokenizer.bin) and generates; the exit status, or -1 after fail(). */
export function runCommand(argv: Array<string>): i32 {
  const a = parseRunArgs(argv);
  if (a == null) {
    if (!wantsHelp) return -1;
    writeOut(RUN.help());
    return 0;
  }

  const model = File.open(a.model, 'model file');
  if (model == null) return -1;
  const o = new OpenOptions();
  o.fileName = a.model;
  o.contextLength = a.contextLength;
  // Selective where the file allows it (ifprune bundled), dense otherwise (src/cli/run.ts).
  o.ffn = a.selective ? 'auto' : 'dense';
  o.memoryBudget = a.memoryBudget;
  // Local reads: gaps up to a page (4 KiB) between needed neuron rows are read through (src/sources/file.ts LOCAL_READ_THROUGH_BYTES).
  o.gapBytes = LOCAL_READ_THROUGH_BYTES;
  // The header first: a llama2.c checkpoint needs a tokenizer.bin (given, or found beside it), which the
  // session then reads as its second file; open() goes on from the parsed header.
  const session = new Session(model.size, o);
  if (serve(session, session.openHeader(), new Files(model, null)) == FAILED) return -1;
  let tokenizer: File | null = null;
  const tokPath = a.tokenizer;
  if (tokPath != null) {
    tokenizer = File.open(tokPath, 'tokenizer');
  } else if (session.spec!.format == 'llama2c') {
    const path = findTokenizerBeside(a.model);
    if (path.length > 0) tokenizer = File.open(path, 'tokenizer');
  }
  if (failed()) return -1;
  const files = new Files(model, tokenizer);
  if (tokenizer != null) {
    o.tokenizerFileSize = tokenizer.size;
    o.tokenizerName = tokenizer.path;
  }
  if (serve(session, session.open(), files) == FAILED) return -1;

  // The prompt goes out with the first token (or at the end), so a failure leaves stdout empty.
  let echoed = a.json;
  const ids = new Array<i32>();
  let text = '';
  if (serve(session, session.begin(a.prompt, a.gen), files) == FAILED) return -1;
  for (;;) {
    const s = session.step();
    if (s == FAILED) return -1;
    const emitted = session.emitted;
    for (let i = 0; i < emitted.length; i++) {
      ids.push(emitted[i].id);
      text += emitted[i].text;
      if (!a.json) {
        if (!echoed) writeOut(a.prompt);
        echoed = true;
        writeOut(emitted[i].text);
      }
    }
    if (stdoutClosed) return 0;
    if (s == STEP_END) break;
  }
  files.close();

  if (a.json) {
    const w = new JsonWriter();
    w.begin();
    w.str('prompt', a.prompt);
    w.beginArray('ids');
    for (let i = 0; i < ids.length; i++) w.num('', <f64>ids[i]);
    w.endArray();
    w.str('text', text);
    w.raw('stats', session.statsJson());
    writeOut(w.end() + '\n');
  } else {
    if (!echoed) writeOut(a.prompt);
    writeOut('\n');
    let line = formatStats(session.stats);
    if (a.kernels != 'auto' && a.kernels != BUILD) line += ` (this module's build; --kernels ${a.kernels} needs ifprune.wasi.${a.kernels == 'scalar' ? 'scalar.' : ''}wasm)`;
    writeErr(line + '\n');
  }
  return 0;
}

function ms(x: f64): string {
  return x < 10 ? toFixed(x, 1) + ' ms' : jsNumber(Math.round(x)) + ' ms';
}

function rate(x: f64): string {
  return isFinite(x) && x > 0 ? (x < 100 ? toFixed(x, 1) : jsNumber(Math.round(x))) + ' tok/s' : '-';
}

/** src/cli/run.ts formatStats: this generation (how it ended, its speed), then the cost of loading,
 * then the FFN pruning when there was any. */
export function formatStats(s: Stats): string {
  let out =
    `${s.generatedTokens} tokens (prompt ${s.promptTokens}, end: ${s.finishReason}), TTFT ${ms(s.ttftMs)}, ` +
    `prefill ${rate(s.prefillTokPerS)}, decode ${rate(s.decodeTokPerS)}\n` +
    `load ${ms(s.loadMs)}, read ${formatBytes(s.bytesRead)}, kernels ${s.kernels}, context ${s.contextLength}`;
  if (s.density < 1 || s.ffnBytesTotal > 0) {
    out +=
      `\nFFN ${s.policy} at density ${toFixed(s.density, 2)}: loaded ${formatBytes(s.neuronBytesRead)} of ${formatBytes(s.ffnBytesTotal)} in ${s.neuronRequests} requests ` +
      `(${s.neuronCacheHits} neurons cached); TTFT = tokenize ${ms(s.tokenizeMs)} + predict ${ms(s.predictMs)} + load ${ms(s.loadNeuronsMs)} + prefill ${ms(s.prefillMs)}`;
  }
  return out;
}
