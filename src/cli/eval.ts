/**
 * `ifprune eval -m MODEL -d FILES [--policy ...] [--density ...]`: for each domain, the response
 * perplexity when every layer's FFN keeps only the neurons a policy selects, next to dense, with the
 * recall of the oracle's set and what loading the selection would cost (bytes, requests)
 * (src/pruning/eval.ts; the protocol is src/pruning/activations.ts).
 *
 * Prints a table per domain; with --json, stdout carries only JSON lines ({"event":"progress",...}
 * events, then one {"event":"result",...} holding the rows); --plot also writes an SVG
 * (src/pruning/plot.ts). Dense is always evaluated: it is free (the pass that collects the statistics)
 * and every ratio is relative to it.
 */
import { access, writeFile, rename, rm, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { IfpruneError } from '../errors.ts';
import { readCalibration } from '../pruning/predictor-file.ts';
import { POLICIES, evaluate, type Calibration, type EvalRow, type Policy } from '../pruning/eval.ts';
import { plotSvg } from '../pruning/plot.ts';
import {
  UsageError, escapeText, flagOption, formatHelp, intOption, parseArgs, shownName, stringOption, type CommandInfo, type ParsedArgs,
} from './args.ts';
import { Progress, sourceStats, type SourceStats } from './output.ts';
import { formatSourceStats } from './inspect.ts';
import { isHttpUrl } from '../platform/resolve.ts';
import { DEFAULT_GAP_ROWS } from '../pruning/plan.ts';
import { bundleLayout, commaList, loadDenseEngine, openForPruning, readDomains, tokenizerFor } from './pruning.ts';

const DEFAULT_DENSITIES = [0.25, 0.5];

export const EVAL: CommandInfo = {
  name: 'eval',
  usage: ['ifprune eval -m MODEL -d FILES [--policy dense,static,prompt,learned] [--density 0.25,0.5] [options]'],
  summary: 'measure response perplexity, oracle recall and bytes loaded for each pruning policy and density, per domain',
  options: [
    { name: 'model', short: 'm', kind: 'string', value: 'MODEL', help: 'model file or http(s) URL: GGUF (ideally ifprune, calibrated) or llama2.c .bin (required)' },
    { name: 'data', short: 'd', kind: 'string', value: 'FILES', multiple: true, help: 'JSONL files of {"prompt", "response"[, "domain"]}, comma-separated or repeated (required)' },
    { name: 'policy', short: 'p', kind: 'string', value: 'LIST', multiple: true, help: `policies among ${POLICIES.join(', ')} (default: dense, prompt, and static and learned when the model carries them)` },
    { name: 'density', kind: 'string', value: 'LIST', multiple: true, help: `fractions of FFN neurons kept, each in (0, 1] (default ${DEFAULT_DENSITIES.join(',')})` },
    { name: 'limit', kind: 'string', value: 'N', help: 'use at most N examples of each file, spread over it (default: all)' },
    { name: 'gap', kind: 'string', value: 'BYTES', help: `load plans read through gaps up to BYTES between selected rows (default ${DEFAULT_GAP_ROWS} bundle rows)` },
    { name: 'tokenizer', kind: 'string', value: 'FILE', help: 'llama2.c tokenizer.bin (default: the model\'s own, or tokenizer.bin / tok*.bin beside it)' },
    { name: 'seed', kind: 'string', value: 'S', help: 'seed of the random policy (default 1)' },
    { name: 'dense-prompt', kind: 'boolean', help: 'run every prompt dense and mask only the scored positions (the protocol before generation-matched eval)' },
    { name: 'plot', kind: 'string', value: 'OUT.svg', help: 'also write an SVG plot: ppl / dense against density, one panel per domain' },
    { name: 'json', kind: 'boolean', help: 'stdout: JSON lines only (progress events, then the result with the rows)' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'Policies: dense (every neuron); static (one ranking for every prompt, from calibration); prompt\n' +
    '(GRIFFIN-style: mean |activation| over the prompt\'s own tokens); learned (the calibrated predictor,\n' +
    'reading only the prompt); oracle (the response\'s own activations: an upper bound); random.\n' +
    'static and learned need a model written by ifprune calibrate; the always-on set it chose applies to\n' +
    'static, prompt and learned. By default the protocol is what generation runs: static, learned,\n' +
    'oracle and random restrict the FFN at every position, the prompt too (the runtime never loads the\n' +
    'other rows, so the prefill is pruned); prompt runs the prompt dense (its own dense prefill) and\n' +
    'restricts the response positions. --dense-prompt runs every prompt dense and restricts only the\n' +
    'scored positions. recall = share of the oracle\'s top-k that the selection holds;\n' +
    'FFN loaded = bytes a load plan for the selection reads, as a share of all FFN bytes.',
};

export interface EvalCommandResult {
  model: string;
  /** Bytes of one neuron bundle, and why the layout is assumed when the file has none. */
  layout: { rowBytes: number; synthesized: string | null };
  gapBytes: number;
  /** 'pruned-prompt' (default: as generation runs) or 'dense-prompt' (--dense-prompt). */
  protocol: 'pruned-prompt' | 'dense-prompt';
  policies: Policy[];
  densities: number[];
  domains: Record<string, number>;
  rows: EvalRow[];
  plot: string | null;
  seconds: number;
  /** A model read over HTTP: the requests and bytes that took. */
  source?: SourceStats;
}

export async function evalCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, EVAL.options, 'eval');
  if (flagOption(args, 'help') || argv.length === 0) {
    process.stdout.write(formatHelp(EVAL));
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`eval takes no positional arguments; got "${escapeText(args.positionals[0]!)}" (the model goes after -m)`, 'eval');
  const model = stringOption(args, 'model');
  if (!model) throw new UsageError('eval needs a model file: -m MODEL', 'eval');
  const files = commaList(args, 'data');
  const requested = parsePolicies(args);
  const densities = parseDensities(args);
  const limit = intOption(args, 'limit', { min: 1 }, 'eval');
  const gapGiven = intOption(args, 'gap', { min: 0 }, 'eval');
  const seed = intOption(args, 'seed', { min: 0 }, 'eval') ?? 1;
  const plot = stringOption(args, 'plot');
  const json = flagOption(args, 'json');
  const densePrompt = flagOption(args, 'dense-prompt');
  if (plot !== undefined) {
    if (!plot) throw new UsageError('--plot needs a file name: --plot OUT.svg', 'eval');
    await access(dirname(resolve(plot)), constants.W_OK).catch((cause) => {
      throw new IfpruneError('not_found', `cannot write the plot ${plot}: its directory ${dirname(resolve(plot))} is missing or not writable`, { cause });
    });
  }

  const t0 = performance.now();
  const domains = await readDomains(files, limit, 'eval');
  const m = await openForPruning(model, 'eval');
  const out = new Progress(json);
  try {
    const calibration = await readCalibration(m.spec, m.info);
    const policies = requested ?? defaultPolicies(calibration);
    checkCalibration(policies, calibration, model, m.info?.layout === 'bundled');
    const tokenizer = await tokenizerFor(m, model, stringOption(args, 'tokenizer'));
    const { layout, synthesized } = bundleLayout(m);
    const gapBytes = gapGiven ?? DEFAULT_GAP_ROWS * layout.rowBytes;
    const engine = await loadDenseEngine(m);
    const rows = evaluate(engine, tokenizer, domains, {
      policies,
      densities,
      calibration,
      layout,
      gapBytes,
      seed,
      densePrompt,
      onProgress: (done, total, domain) => out.update('evaluating', done, total, `${done}/${total} examples, ${escapeText(domain)}`, { phase: 'eval', done, total, domain }),
    });
    if (plot) await writeAtomically(plot, plotSvg(rows, { title: `ifprune eval: ${modelName(model)}` }));
    out.end();
    const result: EvalCommandResult = {
      model: isHttpUrl(model) ? m.src.name : resolve(model),
      layout: { rowBytes: layout.rowBytes, synthesized },
      gapBytes,
      protocol: densePrompt ? 'dense-prompt' : 'pruned-prompt',
      policies,
      densities,
      domains: Object.fromEntries([...domains].map(([d, xs]) => [d, xs.length])),
      rows,
      plot: plot ? resolve(plot) : null,
      seconds: (performance.now() - t0) / 1000,
      source: sourceStats(m.src),
    };
    if (json) process.stdout.write(JSON.stringify({ event: 'result', ...result }) + '\n');
    else process.stdout.write(formatEvalResult(result));
    return 0;
  } finally {
    out.end();
    await m.src.close?.();
  }
}

/** --policy: known names, deduplicated, dense first (always); undefined when not given. */
function parsePolicies(args: ParsedArgs): Policy[] | undefined {
  const names = commaList(args, 'policy');
  if (!args.values.has('policy')) return undefined;
  if (names.length === 0) throw new UsageError(`${shownName(args, 'policy')} needs at least one policy (${POLICIES.join(', ')})`, 'eval');
  for (const p of names) {
    if (!(POLICIES as readonly string[]).includes(p)) throw new UsageError(`unknown policy "${escapeText(p)}"; policies are ${POLICIES.join(', ')}`, 'eval');
  }
  return ['dense', ...new Set(names.filter((p) => p !== 'dense'))] as Policy[];
}

/** --density: numbers in (0, 1], deduplicated, ascending. */
function parseDensities(args: ParsedArgs): number[] {
  if (!args.values.has('density')) return DEFAULT_DENSITIES;
  const raw = commaList(args, 'density');
  if (raw.length === 0) throw new UsageError('--density needs at least one value in (0, 1]', 'eval');
  const ds = raw.map((s) => {
    const x = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : NaN;
    if (!(x > 0 && x <= 1)) throw new UsageError(`--density values must be numbers in (0, 1]; got "${escapeText(s)}"`, 'eval');
    return x;
  });
  return [...new Set(ds)].sort((a, b) => a - b);
}

function defaultPolicies(cal: Calibration): Policy[] {
  return ['dense', ...(cal.static ? ['static' as const] : []), 'prompt', ...(cal.learned ? ['learned' as const] : [])];
}

/** A one-line error when a requested policy needs calibration the file does not carry. */
function checkCalibration(policies: Policy[], cal: Calibration, model: string, bundled: boolean): void {
  const missing = policies.filter((p) => (p === 'static' && !cal.static) || (p === 'learned' && !cal.learned));
  if (!missing.length) return;
  const what = missing.map((p) => (p === 'static' ? 'static needs a static ranking (ifprune.static)' : 'learned needs a trained predictor (ifprune.pred.*)')).join(' and ');
  const fix = bundled
    ? `calibrate it first: ifprune calibrate -m ${model} -d DATA.jsonl -o calibrated.gguf`
    : `convert and calibrate it first: ifprune convert ${model} -o model.gguf, then ifprune calibrate -m model.gguf -d DATA.jsonl -o calibrated.gguf`;
  throw new IfpruneError('bad_option', `${model} is not calibrated: policy ${what}; ${fix}`);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    throw new IfpruneError('not_found', `cannot write the plot ${path}: ${(cause as Error).message}`, { cause });
  }
}

function modelName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

// ---------------------------------------------------------------------------------------------------
// output

export function formatEvalResult(r: EvalCommandResult): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const lines = [`eval of ${escapeText(r.model)}: ${count(Object.keys(r.domains).length, 'domain')}, ${count(Object.values(r.domains).reduce((a, b) => a + b, 0), 'example')}, ${r.seconds.toFixed(1)} s`];
  if (r.layout.synthesized) lines.push(`  note: ${r.layout.synthesized}`);
  lines.push(r.protocol === 'dense-prompt'
    ? '  protocol: --dense-prompt (prompts run dense; the FFN is restricted at the scored positions only)'
    : '  protocol: as generation runs (static, learned, oracle, random restrict the prompt positions too; prompt runs its prefill dense)');
  lines.push(`  load plans read through gaps up to ${r.gapBytes} bytes (${(r.gapBytes / r.layout.rowBytes).toFixed(1)} bundle rows of ${r.layout.rowBytes} bytes)`);
  const head = ['policy', 'density', 'ppl', '× dense', 'recall', 'FFN loaded', 'requests'];
  const width = [8, 8, 10, 9, 8, 11, 9];
  const row = (cells: string[]) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join(' ');
  for (const domain of Object.keys(r.domains)) {
    const rows = r.rows.filter((x) => x.domain === domain);
    const dense = rows.find((x) => x.policy === 'dense');
    lines.push('', `${escapeText(domain)}: ${rows[0]?.examples ?? 0} examples, ${dense?.tokens ?? 0} response tokens${dense ? `, dense ppl ${dense.ppl.toFixed(2)}` : ''}`);
    lines.push(row(head));
    const order = (x: EvalRow) => POLICIES.indexOf(x.policy) * 10 + x.density;
    for (const x of [...rows].sort((a, b) => order(a) - order(b))) {
      lines.push(row([
        x.policy,
        x.density.toFixed(2),
        x.ppl < 1e4 ? x.ppl.toFixed(2) : x.ppl.toExponential(2),
        Number.isFinite(x.pplRatio) ? `${x.pplRatio < 100 ? x.pplRatio.toFixed(2) : x.pplRatio.toExponential(1)}×` : '-',
        x.recall.toFixed(3),
        `${(100 * x.ffnFraction).toFixed(1)}%`,
        x.requests.toFixed(1),
      ]));
    }
  }
  if (r.plot) lines.push('', `plot written to ${escapeText(r.plot)}`);
  if (r.source) lines.push('', formatSourceStats(r.source));
  return lines.join('\n') + '\n';
}
