/**
 * `ifprune calibrate -m MODEL -d DATA.jsonl[,...] -o OUT.gguf`: runs the dense model over prompt/response
 * pairs, fits the static ranking, the shared set and the learned predictor (src/pruning/calibrate.ts),
 * and writes a copy of MODEL that carries them (ifprune.static, ifprune.pred.*, ifprune.shared.N;
 * src/pruning/predictor-file.ts). MODEL must be an ifprune bundled GGUF, since neuron ids are bundle rows.
 *
 * Progress goes to stderr (phase collect, then train); with --json, stdout carries only JSON lines:
 * {"event":"progress",...} events, then one {"event":"result",...} holding the report.
 */
import { resolve } from 'node:path';
import { IfpruneError } from '../errors.ts';
import { fileSink } from '../convert/file-sink.ts';
import { calibrate, type CalibrateReport } from '../pruning/calibrate.ts';
import { writeCalibratedModel } from '../pruning/predictor-file.ts';
import {
  UsageError, escapeText, flagOption, formatHelp, intOption, numberOption, parseArgs, stringOption, type CommandInfo,
} from './args.ts';
import { Progress, sameFile } from './output.ts';
import { commaList, loadDenseEngine, openForPruning, readDomains, readTensorF32, tokenizerFor } from './pruning.ts';
import { formatBytes } from './inspect.ts';

const DEFAULT_EPOCHS = 8;
const DEFAULT_HELDOUT = 0.1;

export const CALIBRATE: CommandInfo = {
  name: 'calibrate',
  usage: ['ifprune calibrate -m MODEL -d DATA.jsonl[,DATA2.jsonl...] -o OUT.gguf [options]'],
  summary: 'fit the neuron predictors (static ranking, shared set, learned predictor) of an ifprune model on prompt/response pairs',
  options: [
    { name: 'model', short: 'm', kind: 'string', value: 'MODEL', help: 'an ifprune bundled GGUF, as written by ifprune convert (required)' },
    { name: 'data', short: 'd', kind: 'string', value: 'FILES', multiple: true, help: 'JSONL files of {"prompt", "response"[, "domain"]}, comma-separated or repeated (required)' },
    { name: 'output', short: 'o', kind: 'string', value: 'OUT.gguf', help: 'the calibrated copy to write (required; written as OUT.gguf.tmp, renamed when complete)' },
    { name: 'shared', kind: 'string', value: 'F', help: 'fraction of each layer\'s neurons always loaded, the top of the static ranking (default 0)' },
    { name: 'epochs', kind: 'string', value: 'N', help: `training epochs of the learned predictor (default ${DEFAULT_EPOCHS})` },
    { name: 'limit', kind: 'string', value: 'N', help: 'use at most N examples of each file, spread over it (default: all)' },
    { name: 'heldout', kind: 'string', value: 'F', help: `fraction of examples held out of training to measure recall, in [0, 0.5] (default ${DEFAULT_HELDOUT})` },
    { name: 'seed', kind: 'string', value: 'S', help: 'seed of the predictor\'s initialisation and batch order (default 1)' },
    { name: 'json', kind: 'boolean', help: 'stdout: JSON lines only (progress events, then the result with the report)' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'Each line of DATA is {"prompt": ..., "response": ...}, optionally with "domain" (default: the file\'s\n' +
    'base name, python.jsonl → python). Every example runs once through the dense model; a neuron\'s\n' +
    'importance is its mean |activation| over the response (the oracle). The static ranking averages\n' +
    'importance over all text with each domain weighted equally; the learned predictor is trained to\n' +
    'predict the oracle from the prompt alone. Recall of the oracle\'s top 25% is measured on the\n' +
    'held-out examples. Evaluate the result with ifprune eval -m OUT.gguf -d EVAL.jsonl.',
};

export interface CalibrateCommandResult {
  path: string;
  model: string;
  bytes: number;
  /** Examples per domain. */
  domains: Record<string, number>;
  shared: number;
  epochs: number;
  report: CalibrateReport;
  seconds: number;
}

export async function calibrateCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, CALIBRATE.options, 'calibrate');
  if (flagOption(args, 'help') || argv.length === 0) {
    process.stdout.write(formatHelp(CALIBRATE));
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`calibrate takes no positional arguments; got "${escapeText(args.positionals[0]!)}" (the model goes after -m)`, 'calibrate');
  const model = stringOption(args, 'model');
  if (!model) throw new UsageError('calibrate needs an ifprune model: -m MODEL.gguf', 'calibrate');
  const output = stringOption(args, 'output');
  if (!output) throw new UsageError('give the file to write with -o OUT.gguf', 'calibrate');
  const files = commaList(args, 'data');
  const shared = numberOption(args, 'shared', { min: 0, max: 1 }, 'calibrate') ?? 0;
  if (shared >= 1) throw new UsageError('--shared must be below 1 (a share of always-on neurons); got 1', 'calibrate');
  const epochs = intOption(args, 'epochs', { min: 1 }, 'calibrate') ?? DEFAULT_EPOCHS;
  const limit = intOption(args, 'limit', { min: 1 }, 'calibrate');
  const heldout = numberOption(args, 'heldout', { min: 0, max: 0.5 }, 'calibrate') ?? DEFAULT_HELDOUT;
  const seed = intOption(args, 'seed', { min: 0 }, 'calibrate') ?? 1;
  const json = flagOption(args, 'json');

  const t0 = performance.now();
  const domains = await readDomains(files, limit, 'calibrate');
  const m = await openForPruning(model, 'calibrate');
  const out = new Progress(json);
  try {
    if (await sameFile(model, output)) throw new UsageError(`the output ${output} is the model; choose another -o`, 'calibrate');
    if (!m.gguf || !m.info || m.info.layout !== 'bundled') {
      const what = !m.gguf ? `a ${m.spec.format} checkpoint` : !m.info ? 'a plain GGUF' : 'an ifprune file in the standard layout';
      throw new IfpruneError('bad_option', `${model} is ${what}, not an ifprune bundled GGUF; convert it first: ifprune convert ${model} -o model.gguf, then calibrate model.gguf`);
    }
    const tokenizer = await tokenizerFor(m, model, undefined);
    const engine = await loadDenseEngine(m);
    const tokenEmbeddings = await readTensorF32(m, 'token_embd.weight');
    const { calibration, report } = calibrate(engine, tokenizer, domains, {
      tokenEmbeddings,
      sharedFraction: shared,
      heldout,
      epochs,
      seed,
      onProgress: (phase, done, total) =>
        out.update(phase === 'collect' ? 'collecting' : 'training', done, total, phase === 'collect' ? `${done}/${total} examples` : '', { phase, done, total }),
    });

    const sink = await fileSink(output);
    let bytes: number;
    try {
      const heldoutRecall = report.recall.learned ?? report.recall.static;
      bytes = await writeCalibratedModel(m.src, m.gguf, calibration, { examples: report.examples, heldoutRecall }, sink);
      await sink.finish(bytes);
    } catch (e) {
      await sink.abort();
      throw e;
    }
    out.end();
    const result: CalibrateCommandResult = {
      path: resolve(output),
      model: resolve(model),
      bytes,
      domains: Object.fromEntries([...domains].map(([d, xs]) => [d, xs.length])),
      shared,
      epochs,
      report,
      seconds: (performance.now() - t0) / 1000,
    };
    if (json) process.stdout.write(JSON.stringify({ event: 'result', ...result }) + '\n');
    else process.stdout.write(formatCalibrateResult(result));
    return 0;
  } finally {
    out.end();
    await m.src.close?.();
  }
}


const fixed = (x: number | null, d = 3) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));

export function formatCalibrateResult(r: CalibrateCommandResult): string {
  const rep = r.report;
  const doms = Object.entries(r.domains).map(([d, n]) => `${escapeText(d)} ${n}`).join(', ');
  const lines = [
    `wrote ${escapeText(r.path)}: ${formatBytes(r.bytes)}, calibrated in ${r.seconds.toFixed(1)} s (collect ${rep.collectSeconds.toFixed(1)} s, train ${rep.trainSeconds.toFixed(1)} s)`,
    `  examples  ${rep.examples} (${rep.trainExamples} train, ${rep.heldoutExamples} held out): ${doms}`,
    rep.heldoutExamples
      ? `  recall    of the oracle top 25% on held-out prompts: static ${fixed(rep.recall.static)}, prompt ${fixed(rep.recall.prompt)} (GRIFFIN-style), learned ${fixed(rep.recall.learned)}`
      : '  recall    not measured (no held-out examples: raise --heldout or give more data)',
    `  learned   ${rep.trainLoss === null ? 'not trained (no training examples)' : `train loss ${fixed(rep.trainLoss, 4)} after ${r.epochs} epochs`}`,
  ];
  if (r.shared > 0) lines.push(`  shared    ${(100 * r.shared).toFixed(1)}% of each layer's neurons always on`);
  return lines.join('\n') + '\n';
}
