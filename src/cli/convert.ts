/**
 * `ifprune convert IN -o OUT.gguf [options]`: any supported checkpoint → an ifprune GGUF (docs/format.md).
 *
 * Inputs: GGUF (llama / qwen2), llama2.c .bin + tokenizer.bin (default: tokenizer.bin or the only
 * tok*.bin beside it), safetensors + config.json + tokenizer.json (default: beside it).
 * Progress goes to stderr (a bar on a terminal, plain lines otherwise); with --json, stdout carries only
 * JSON lines: {"event":"progress",...} events, then one {"event":"result",...}.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { IfpruneError } from '../errors.ts';
import { fileSource } from '../sources/file.ts';
import { detectFormat, openModel } from '../formats/model.ts';
import type { ModelSpec } from '../formats/model-spec.ts';
import { parseTokenizerBin } from '../formats/tokenizer-bin.ts';
import { IFPRUNE_LAYOUTS, IFPRUNE_TYPES, isBundleName, type IfpruneType } from '../formats/ifprune.ts';
import type { TokenizerData } from '../tokenizer/types.ts';
import { createTokenizer } from '../tokenizer/index.ts';
import { Kernels } from '../engine/kernels.ts';
import { Engine } from '../engine/engine.ts';
import { findTokenizerBeside, loadKernels } from '../platform/node.ts';
import { checkConvert, convert, type ConvertProgress, type ConvertReorder, type ConvertResult } from '../convert/convert.ts';
import { fileSink } from '../convert/file-sink.ts';
import { parseHfChatTemplate, parseHfTokenizer } from '../convert/hf-tokenizer.ts';
import { DEFAULT_REORDER_DENSITY, collectCoSelection, parseCalibrationJsonl, spreadSample } from '../convert/calibrate.ts';
import { reorderNeurons } from '../convert/reorder.ts';
import {
  UsageError, choiceOption, escapeText, flagOption, formatHelp, intOption, numberOption, parseArgs, stringOption, type CommandInfo,
} from './args.ts';
import { Progress, sameFile } from './output.ts';

const TYPES = Object.keys(IFPRUNE_TYPES) as IfpruneType[];
const DEFAULT_CALIBRATION_LIMIT = 1024;

export const CONVERT: CommandInfo = {
  name: 'convert',
  usage: ['ifprune convert IN -o OUT.gguf [--type q8_0|q4_0|f16|f32] [--layout bundled|standard] [options]'],
  summary: 'convert a GGUF, llama2.c or safetensors model into an ifprune GGUF: FFN neuron bundles and chunk hashes',
  options: [
    { name: 'output', short: 'o', kind: 'string', value: 'OUT.gguf', help: 'the file to write (required; written as OUT.gguf.tmp, renamed when complete)' },
    { name: 'type', short: 't', kind: 'string', value: 'TYPE', help: `weight type: ${TYPES.join(', ')} (default q8_0); norms and biases stay f32` },
    { name: 'layout', kind: 'string', value: 'LAYOUT', help: 'bundled (default: blk.N.ffn_bundle rows [gate|up|down]) or standard (ffn_gate/up/down)' },
    { name: 'fallback', kind: 'string', value: 'TYPE', help: 'type of matrices whose rows are not whole 32-blocks: f16 (default) or f32' },
    { name: 'tokenizer', kind: 'string', value: 'FILE', help: 'llama2.c tokenizer.bin or Hugging Face tokenizer.json (default: found beside IN)' },
    { name: 'config', kind: 'string', value: 'FILE', help: 'config.json of a safetensors checkpoint (default: beside IN)' },
    { name: 'calibration', kind: 'string', value: 'DATA.jsonl[,...]', help: 'reorder neurons so co-selected ones are adjacent, measured on these examples' },
    { name: 'calibration-limit', kind: 'string', value: 'N', help: `use at most N examples, spread over the data (default ${DEFAULT_CALIBRATION_LIMIT})` },
    { name: 'reorder-density', kind: 'string', value: 'D', help: `fraction of neurons one example selects (default ${DEFAULT_REORDER_DENSITY})` },
    { name: 'json', kind: 'boolean', help: 'stdout: JSON lines only (progress events, then the result)' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'IN is a GGUF (llama, qwen2), a llama2.c .bin (with tokenizer.bin or tok*.bin beside it) or a\n' +
    'safetensors file (with config.json and tokenizer.json beside it). Calibration data is JSONL with\n' +
    '{"prompt": ..., "response": ...} or {"text": ...} per line; each example selects the top\n' +
    '--reorder-density of neurons by |activation| on its response, and neurons often selected together\n' +
    'are placed in adjacent rows (the permutation is recorded as ifprune.perm.N).',
};

export interface ConvertCommandResult extends ConvertResult {
  path: string;
  input: string;
  format: ModelSpec['format'];
  coreBytes: number;
  bundleBytes: number;
  bytesPerNeuron: number | null;
  reorder?: { examples: number; density: number; meanRangesBefore: (number | null)[]; meanRangesAfter: (number | null)[] };
}

export async function convertCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, CONVERT.options, 'convert');
  if (flagOption(args, 'help') || argv.length === 0) {
    process.stdout.write(formatHelp(CONVERT));
    return 0;
  }
  if (args.positionals.length !== 1) {
    throw new UsageError(args.positionals.length === 0 ? 'convert needs an input model: ifprune convert IN -o OUT.gguf' : `convert takes one input model; got ${args.positionals.length} arguments`, 'convert');
  }
  const input = args.positionals[0]!;
  const output = stringOption(args, 'output');
  if (!output) throw new UsageError('give the file to write with -o OUT.gguf', 'convert');
  const type = choiceOption(args, 'type', TYPES, 'convert') ?? 'q8_0';
  const layout = choiceOption(args, 'layout', IFPRUNE_LAYOUTS, 'convert') ?? 'bundled';
  const fallback = choiceOption(args, 'fallback', ['f16', 'f32'] as const, 'convert');
  const calibration = stringOption(args, 'calibration');
  const limit = intOption(args, 'calibration-limit', { min: 1 }, 'convert') ?? DEFAULT_CALIBRATION_LIMIT;
  const density = numberOption(args, 'reorder-density', { min: 0, max: 1, minExclusive: true }, 'convert') ?? DEFAULT_REORDER_DENSITY;
  const json = flagOption(args, 'json');
  if (calibration && layout !== 'bundled') throw new UsageError('--calibration reorders neuron bundles: it needs --layout bundled', 'convert');
  if (!calibration && (args.values.has('calibration-limit') || args.values.has('reorder-density'))) {
    throw new UsageError('--calibration-limit and --reorder-density apply only with --calibration', 'convert');
  }

  const out = new Progress(json);
  const src = await fileSource(input);
  try {
    if (await sameFile(input, output)) throw new UsageError(`the output ${output} is the input; choose another -o`, 'convert');
    const format = await detectFormat(src);
    const config = format === 'safetensors' ? await readJson(stringOption(args, 'config') ?? join(dirname(input), 'config.json'), 'config.json') : undefined;
    const spec = await openModel(src, { config });
    const tokenizer = await resolveTokenizer(spec, input, stringOption(args, 'tokenizer'), config as Record<string, unknown> | undefined);
    const chatTemplate = await chatTemplateBeside(input);
    const module = await loadKernels();

    checkConvert(spec, { type, layout, tokenizer, fallback }); // fail before calibrating

    let reorder: ConvertReorder | undefined;
    let reorderReport: ConvertCommandResult['reorder'];
    if (calibration) {
      const files = calibration.split(',').filter(Boolean);
      const texts = await Promise.all(files.map((f) => readFile(f).catch((cause) => {
        throw new IfpruneError('not_found', `cannot read calibration data ${f}: ${(cause as Error).message}`, { cause });
      })));
      const hash = createHash('sha256');
      for (const t of texts) hash.update(t);
      const examples = spreadSample(texts.flatMap((t, i) => parseCalibrationJsonl(t.toString('utf8'), files[i])), limit);
      const engine = await Engine.load(await Kernels.create(module), spec, { contextLength: Math.min(spec.config.seqLen, 2048) });
      const stats = await collectCoSelection(engine, createTokenizer(tokenizer), examples, {
        density,
        onProgress: (done, total) => showProgress(out, { type: 'calibrate', done, total }),
      });
      const perms = stats.map((s) => reorderNeurons(s));
      reorder = { perms, method: 'greedy co-selection chain', density, examples: examples.length, calibrationSha256: hash.digest('hex') };
      reorderReport = { examples: examples.length, density, meanRangesBefore: stats.map((s) => s.meanRanges(null)), meanRangesAfter: stats.map((s, l) => s.meanRanges(perms[l]!)) };
    }

    const sink = await fileSink(output);
    let result: ConvertResult;
    try {
      result = await convert(spec, sink, { type, layout, tokenizer, module, fallback, reorder, chatTemplate, sourceName: basename(input), onProgress: (e) => showProgress(out, e) });
      await sink.finish(result.bytes);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    out.end();
    const bundles = result.tensors.filter((t) => isBundleName(t.name));
    const bundleBytes = bundles.reduce((s, t) => s + t.bytes, 0);
    const full: ConvertCommandResult = {
      path: resolve(output),
      input: resolve(input),
      format: spec.format,
      ...result,
      coreBytes: result.bytes - bundleBytes,
      bundleBytes,
      bytesPerNeuron: bundles.length ? bundles[0]!.bytes / bundles[0]!.dims[1]! : null,
      ...(reorderReport ? { reorder: reorderReport } : {}),
    };
    if (json) process.stdout.write(JSON.stringify({ event: 'result', ...full }) + '\n');
    else process.stdout.write(formatResult(full));
    return 0;
  } finally {
    out.end();
    await src.close?.();
  }
}

/** The chat template of a Hugging Face tokenizer_config.json beside the input, if there is one (a GGUF
 * source's own tokenizer.chat_template is kept by convert otherwise). */
async function chatTemplateBeside(input: string): Promise<string | undefined> {
  const path = join(dirname(input), 'tokenizer_config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  return parseHfChatTemplate(text, path);
}

async function readJson(path: string, what: string): Promise<object> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new IfpruneError('not_found', `cannot read the ${what} ${path}: ${(cause as Error).message}; pass it with --config FILE`, { cause });
  }
  try {
    return JSON.parse(text) as object;
  } catch (cause) {
    throw new IfpruneError('corrupt', `${path} is not valid JSON (${(cause as Error).message})`, { cause });
  }
}

/** The tokenizer to write: --tokenizer, else the file's own (GGUF), else one found beside the input. */
async function resolveTokenizer(spec: ModelSpec, input: string, given: string | undefined, config: Record<string, unknown> | undefined): Promise<TokenizerData> {
  const vocab = spec.config.vocabSize;
  const read = async (path: string) => {
    try {
      return await readFile(path);
    } catch (cause) {
      throw new IfpruneError('not_found', `cannot read the tokenizer ${path}: ${(cause as Error).message}; pass it with --tokenizer FILE`, { cause });
    }
  };
  const fromFile = async (path: string): Promise<TokenizerData> => {
    const bytes = await read(path);
    if (path.endsWith('.json')) {
      const id = (k: string) => (typeof config?.[k] === 'number' ? (config[k] as number) : undefined);
      return parseHfTokenizer(bytes.toString('utf8'), vocab, { bosId: id('bos_token_id'), eosId: id('eos_token_id') }, path);
    }
    return parseTokenizerBin(new Uint8Array(bytes), vocab);
  };
  if (given) return fromFile(given);
  if (spec.tokenizer) return spec.tokenizer;
  if (spec.format === 'llama2c') return fromFile(findTokenizerBeside(input));
  return fromFile(join(dirname(input), 'tokenizer.json'));
}

// ---------------------------------------------------------------------------------------------------
// output

type ProgressEvent = ConvertProgress | { type: 'calibrate'; done: number; total: number };

/** Shows one convert event on the shared progress display. */
function showProgress(out: Progress, e: ProgressEvent): void {
  if (e.type === 'done') return; // the result says it
  const [phase, done, total, what] = e.type === 'sha256'
    ? ['hashing source', e.bytesDone, e.bytesTotal, '']
    : e.type === 'calibrate'
      ? ['calibrating', e.done, e.total, `${e.done}/${e.total} examples`]
      : [e.pass === 2 ? 'writing' : e.type === 'tensor' ? 'converting' : '', e.bytesDone, e.bytesTotal, `${e.index + 1}/${e.count} ${escapeText(e.name)}`];
  out.update(phase, done, total, what, e);
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 2 ** 20 ? 3 : 1)} MiB`;

export function formatResult(r: ConvertCommandResult): string {
  const lines = [
    `wrote ${escapeText(r.path)}: ${mib(r.bytes)} (${r.bytes} bytes), ${r.tensors.length} tensors, ${r.arch}, type ${r.type}, layout ${r.layout}, in ${r.seconds.toFixed(1)} s`,
    `  source   ${escapeText(r.input)} (${r.format}), sha256 ${r.sourceSha256}`,
  ];
  if (r.layout === 'bundled') {
    lines.splice(2, 0, `  core     ${mib(r.coreBytes)} (header, embeddings, attention, norms, classifier)`);
    lines.push(`  bundles  ${mib(r.bundleBytes)} (${r.bytesPerNeuron} bytes per neuron); at density 0.25 a load reads ${mib(r.coreBytes + 0.25 * r.bundleBytes)} (${((100 * (r.coreBytes + 0.25 * r.bundleBytes)) / r.bytes).toFixed(1)}% of the file)`);
  }
  if (r.reorder) {
    const fmt = (xs: (number | null)[]) => xs.map((x) => (x === null ? '-' : x.toFixed(1))).join(' ');
    lines.push(`  reorder  ${r.reorder.examples} examples at density ${r.reorder.density}: ranges per selection by layer ${fmt(r.reorder.meanRangesBefore)} → ${fmt(r.reorder.meanRangesAfter)}`);
  }
  for (const w of r.warnings) lines.push(`  note     ${w}`);
  return lines.join('\n') + '\n';
}
