/**
 * `ifprune inspect MODEL [--json]`: what a model file holds, read from its header only (no tensor
 * data). One result object, rendered either as text or as JSON (gguf_dump.py's dump_metadata /
 * dump_metadata_json over one reader).
 */
import { readIfpruneInfo, summarizeLayout } from '../formats/ifprune.ts';
import { PRED } from '../pruning/predictor-file.ts';
import { openModel } from '../formats/model.ts';
import { resolveModel } from '../platform/node.ts';
import { sourceStats, type SourceStats } from './output.ts';
import type { ModelConfig, ModelSpec } from '../formats/model-spec.ts';
import { UsageError, escapeText, flagOption, formatHelp, parseArgs, type CommandInfo } from './args.ts';

export const INSPECT: CommandInfo = {
  name: 'inspect',
  usage: ['ifprune inspect MODEL [--json]'],
  summary: 'describe a model file: format, config, metadata, tensor table, bytes by type',
  options: [
    { name: 'json', kind: 'boolean', help: 'print one JSON object instead of text' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'MODEL is a GGUF, llama2.c or safetensors file, or its http(s) URL; a safetensors checkpoint needs its\n' +
    'config.json in the same directory. Only the header is read, never the tensor data; for a URL, --json\n' +
    'reports the requests and bytes that took ("source").',
};

/** Arrays longer than this print as `[N strings]` / `[N float32]` instead of their items. */
const INLINE_ARRAY_MAX = 16;
/** Strings longer than this (chat templates) are cut, with their length given. */
const INLINE_STRING_MAX = 120;

export interface TensorRow {
  name: string;
  type: string;
  /** GGUF order: dims[0] is the innermost (cols). */
  dims: number[];
  offset: number;
  bytes: number;
}

export interface InspectResult {
  path: string;
  format: ModelSpec['format'];
  fileBytes: number;
  config: ModelConfig;
  tokenizer?: { model: string; tokens: number; bosId: number; eosId: number; addBos: boolean };
  /** Raw values as the reader returned them (bigints, typed arrays); renderers abbreviate. */
  metadata: Record<string, unknown>;
  tensors: TensorRow[];
  bytesByType: Record<string, { tensors: number; bytes: number }>;
  tensorBytes: number;
  /** ifprune files: version, layout, type, and for bundled files what selective loading reads. */
  ifprune?: {
    version: string;
    layout: string;
    type: string;
    reordered: boolean;
    calibrated: { static: boolean; learned: boolean; sharedNeurons: number };
    coreBytes?: number;
    bundleBytesPerLayer?: number[];
    bytesPerNeuron?: number;
    /** Share of the file a load at each density reads (core + density × bundles). */
    fractionAt?: Record<string, number>;
  };
  /** A model read over HTTP: requests and bytes it took to read the header. */
  source?: SourceStats;
}

const DENSITIES = [0.1, 0.25, 0.5, 1];

export async function inspectCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, INSPECT.options, 'inspect');
  if (flagOption(args, 'help')) {
    process.stdout.write(formatHelp(INSPECT));
    return 0;
  }
  if (args.positionals.length !== 1) {
    throw new UsageError(args.positionals.length === 0 ? 'inspect needs a model file: ifprune inspect MODEL' : `inspect takes one model file; got ${args.positionals.length} arguments`, 'inspect');
  }
  const result = await inspectModel(args.positionals[0]!);
  process.stdout.write(flagOption(args, 'json') ? JSON.stringify(inspectJson(result), null, 2) + '\n' : formatInspect(result));
  return 0;
}

export async function inspectModel(path: string): Promise<InspectResult> {
  const { source: src, config } = await resolveModel(path, { tokenizer: false });
  try {
    const spec = await openModel(src, { config });
    const tensors: TensorRow[] = [...spec.tensors.values()]
      .map((t) => ({ name: t.name, type: t.type.name, dims: t.dims, offset: t.offset, bytes: t.bytes }))
      .sort((a, b) => a.offset - b.offset);
    const bytesByType: InspectResult['bytesByType'] = {};
    for (const t of tensors) {
      const e = (bytesByType[t.type] ??= { tensors: 0, bytes: 0 });
      e.tensors++;
      e.bytes += t.bytes;
    }
    const tok = spec.tokenizer;
    const info = readIfpruneInfo({ metadata: spec.metadata, tensors: spec.tensors }, path);
    let ifprune: InspectResult['ifprune'];
    if (info) {
      const m = spec.metadata;
      ifprune = {
        version: `${info.version.major}.${info.version.minor}`,
        layout: info.layout,
        type: info.type,
        reordered: info.perms.some((p) => p !== null),
        calibrated: {
          static: spec.tensors.has(PRED.static),
          learned: m[PRED.kind] !== undefined,
          sharedNeurons: Array.from({ length: spec.config.nLayers }, (_, l) => ((m[PRED.shared(l)] as ArrayLike<number> | undefined)?.length ?? 0)).reduce((a, b) => a + b, 0),
        },
      };
      if (info.bundles.length) {
        const sum = summarizeLayout(info, src.size);
        ifprune.coreBytes = sum.coreBytes;
        ifprune.bundleBytesPerLayer = sum.bundleBytesPerLayer;
        ifprune.bytesPerNeuron = sum.bytesPerNeuron[0];
        ifprune.fractionAt = Object.fromEntries(DENSITIES.map((d) => [String(d), sum.fractionAt(d)]));
      }
    }
    return {
      ifprune,
      path,
      format: spec.format,
      fileBytes: src.size,
      config: spec.config,
      tokenizer: tok && { model: tok.model, tokens: tok.tokens.length, bosId: tok.bosId, eosId: tok.eosId, addBos: tok.addBos },
      metadata: spec.metadata,
      tensors,
      bytesByType,
      tensorBytes: tensors.reduce((s, t) => s + t.bytes, 0),
      source: sourceStats(src),
    };
  } finally {
    await src.close?.();
  }
}

// ---------------------------------------------------------------------------------------------------
// Rendering

/** The JSON form: bigints as strings, long arrays as { array: type, length }. */
export function inspectJson(r: InspectResult): object {
  return { ...r, metadata: Object.fromEntries(Object.entries(r.metadata).map(([k, v]) => [k, jsonValue(v)])) };
}

function jsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  const arr = arrayInfo(v);
  if (arr) return arr.items.length > INLINE_ARRAY_MAX ? { array: arr.type, length: arr.items.length } : Array.from(arr.items, jsonValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}

/** Item type and items of an array or typed array; null for anything else. */
function arrayInfo(v: unknown): { type: string; items: ArrayLike<unknown> } | null {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    return { type: v.constructor.name.replace(/Array$/, '').toLowerCase(), items: v as unknown as ArrayLike<unknown> };
  }
  if (!Array.isArray(v)) return null;
  const kinds = new Set(v.map((x) => (Array.isArray(x) || ArrayBuffer.isView(x) ? 'array' : typeof x)));
  return { type: kinds.size === 1 ? [...kinds][0]! : 'mixed', items: v };
}

export function formatValue(v: unknown): string {
  if (typeof v === 'string') {
    const cut = v.length > INLINE_STRING_MAX ? v.slice(0, INLINE_STRING_MAX) : v;
    return `"${escapeText(cut).replace(/"/g, '\\"')}"${cut === v ? '' : `... (${v.length} chars)`}`;
  }
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  const arr = arrayInfo(v);
  if (arr) {
    const n = arr.items.length;
    if (n > INLINE_ARRAY_MAX) return `[${n} ${arr.type === 'string' ? 'strings' : arr.type === 'boolean' ? 'booleans' : arr.type}]`;
    return `[${Array.from(arr.items, formatValue).join(', ')}]`;
  }
  if (v === null || v === undefined) return String(v);
  return escapeText(JSON.stringify(jsonValue(v)));
}

/** The shortest decimal that reads back as the same float32, when `x` is one (1e-5, not 0.000009999999747378752). */
export function formatNumber(x: number): string {
  if (Number.isInteger(x) || Math.fround(x) !== x) return String(x);
  for (let p = 1; p < 9; p++) {
    const short = Number(x.toPrecision(p));
    if (Math.fround(short) === x) return String(short);
  }
  return String(x);
}

const num = (n: number) => n.toLocaleString('en-US');

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = n;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${x.toFixed(x < 10 ? 2 : 1)} ${units[u]}`;
}

/** One line: what reading a model over HTTP cost. */
export function formatSourceStats(s: SourceStats): string {
  return `HTTP: ${s.requests} requests${s.retries ? ` (${s.retries} retries)` : ''}, ${formatBytes(s.bytes)} received of the ${formatBytes(s.fileBytes)} file ${s.url}`;
}

/** Left-aligned text columns, right-aligned numeric ones. */
function table(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

export function formatInspect(r: InspectResult): string {
  const c = r.config;
  const out: string[] = [];
  out.push(`${escapeText(r.path)}: ${r.format}, ${num(r.fileBytes)} bytes (${formatBytes(r.fileBytes)})`, '');

  out.push('config:');
  const cfg: [string, string][] = [
    ['dim', num(c.dim)],
    ['layers', num(c.nLayers)],
    ['heads', num(c.nHeads)],
    ['kv heads', num(c.nKvHeads)],
    ['head size', num(c.headSize)],
    ['ffn (hidden dim)', num(c.hiddenDim)],
    ['vocab', num(c.vocabSize)],
    ['context', num(c.seqLen)],
    ['rope', `base ${c.ropeBase}, ${c.ropeDim} dims, ${c.ropeStyle}`],
    ['norm eps', formatNumber(c.normEps)],
    ['tied embeddings', c.tiedEmbeddings ? 'yes' : 'no'],
    ['qkv bias', c.qkvBias ? 'yes' : 'no'],
  ];
  if (r.tokenizer) {
    const t = r.tokenizer;
    cfg.push(['tokenizer', `${t.model}, ${num(t.tokens)} tokens, bos ${t.bosId}, eos ${t.eosId}${t.addBos ? '' : ', no bos'}`]);
  } else {
    cfg.push(['tokenizer', r.format === 'llama2c' ? 'none in the file (llama2.c uses a separate tokenizer.bin)' : 'none in the file']);
  }
  const w = Math.max(...cfg.map(([k]) => k.length)) + 2;
  for (const [k, v] of cfg) out.push(`  ${(k + ':').padEnd(w)}${v}`);
  out.push('');

  const keys = Object.keys(r.metadata);
  out.push(`metadata (${keys.length}):`);
  for (const k of keys) out.push(`  ${escapeText(k)} = ${formatValue(r.metadata[k])}`);
  out.push('');

  out.push(`tensors (${r.tensors.length}):`);
  out.push(
    table(
      ['name', 'type', 'dims', 'offset', 'bytes'],
      r.tensors.map((t) => [escapeText(t.name), t.type, t.dims.join(' x '), num(t.offset), num(t.bytes)]),
      [false, false, false, true, true],
    ),
  );
  out.push('');

  out.push('bytes by type:');
  const types = Object.entries(r.bytesByType).sort((a, b) => b[1].bytes - a[1].bytes);
  out.push(
    table(
      ['type', 'tensors', 'bytes', ''],
      [
        ...types.map(([t, e]) => [t, num(e.tensors), num(e.bytes), formatBytes(e.bytes)]),
        ['total', num(r.tensors.length), num(r.tensorBytes), formatBytes(r.tensorBytes)],
      ],
      [false, true, true, true],
    ),
  );
  if (r.ifprune) {
    const f = r.ifprune;
    out.push('');
    out.push(`ifprune: format ${f.version}, ${f.layout} layout, ${f.type}${f.reordered ? ', neurons reordered' : ''}; calibration: ` +
      (f.calibrated.static || f.calibrated.learned ? `${[f.calibrated.static && 'static ranking', f.calibrated.learned && 'learned predictor'].filter(Boolean).join(', ')}, ${f.calibrated.sharedNeurons} always-on neurons` : 'none (run ifprune calibrate)'));
    if (f.coreBytes !== undefined) {
      const layers = f.bundleBytesPerLayer!;
      out.push(`  core (header, embeddings, attention, norms, classifier, predictor): ${num(f.coreBytes)} bytes (${formatBytes(f.coreBytes)})`);
      out.push(`  neuron bundles: ${layers.length} layers × ${num(layers[0]!)} bytes (${formatBytes(layers[0]!)}), ${num(f.bytesPerNeuron!)} bytes per neuron`);
      out.push(`  a load at density ${DENSITIES.map((d) => `${d}: ${(f.fractionAt![String(d)]! * 100).toFixed(1)}%`).join(', ')} of the file`);
    }
  }
  if (r.source) out.push('', formatSourceStats(r.source));
  return out.join('\n') + '\n';
}
