// `ifprune inspect MODEL [--json]` in the WASI command: what a model file holds, read from its header only,
// rendered as src/cli/inspect.ts renders it (text, or the same JSON object pretty-printed).
import { JsonWriter, jsonString, jsonNumber } from '../rt/json';
import { ModelSpec, MetaValue, TensorInfo, IfpruneInfo } from '../rt/spec';
import { typeName } from '../rt/quant';
import { openHeader } from './host';
import { CommandInfo, OptionSpec, BOOLEAN, parseArgs, usage } from './args';
import { File, writeOut } from './fs';
import { escapeText, formatBytes, formatNumber, grouped, indentJson, jsNumber, toFixed } from './text';

export const INSPECT = new CommandInfo(
  'inspect',
  ['ifprune inspect MODEL [--json]'],
  'describe a model file: format, config, metadata, tensor table, bytes by type',
  [
    new OptionSpec('json', '', BOOLEAN, '', 'print one JSON object instead of text'),
    new OptionSpec('help', 'h', BOOLEAN, '', 'show this help'),
  ],
  'MODEL is a GGUF, llama2.c or safetensors file; a safetensors checkpoint needs its config.json in the\n' +
    'same directory. Only the header is read, never the tensor data.',
);

/** Arrays longer than this print as `[N strings]` / `[N float32]` instead of their items. */
const INLINE_ARRAY_MAX: i64 = 16;
/** Strings longer than this (chat templates) are cut, with their length given. */
const INLINE_STRING_MAX: i32 = 120;
const DENSITIES: f64[] = [0.1, 0.25, 0.5, 1];
const DENSITY_KEYS: string[] = ['0.1', '0.25', '0.5', '1'];

// GGUF value types (src/formats/gguf.ts GGUFValueType).
const T_BOOL = 7;
const T_STRING = 8;
const T_ARRAY = 9;
const T_UINT64 = 10;
const T_INT64 = 11;

/** The exit status, or -1 after fail(). */
export function inspectCommand(argv: Array<string>): i32 {
  const args = parseArgs(argv, INSPECT.options, 'inspect');
  if (args == null) return -1;
  if (args.flag('help')) {
    writeOut(INSPECT.help());
    return 0;
  }
  if (args.positionals.length != 1) {
    usage(args.positionals.length == 0 ? 'inspect needs a model file: ifprune inspect MODEL' : `inspect takes one model file; got ${args.positionals.length} arguments`, 'inspect');
    return -1;
  }
  const path = args.positionals[0];
  const file = File.open(path, 'model file');
  if (file == null) return -1;
  const header = openHeader(file);
  file.close();
  if (header == null) return -1;
  const r = new Inspected(path, file.size, header.spec!, header.info);
  writeOut(args.flag('json') ? indentJson(r.json()) + '\n' : r.text());
  return 0;
}

/** The InspectResult of src/cli/inspect.ts, computed once and rendered as text or JSON. */
class Inspected {
  tensors: Array<TensorInfo>;
  types: Array<string> = [];
  typeTensors: Map<string, i32> = new Map();
  typeBytes: Map<string, f64> = new Map();
  tensorBytes: f64 = 0;

  constructor(public path: string, public fileBytes: u64, public spec: ModelSpec, public info: IfpruneInfo | null) {
    this.tensors = spec.tensorList.slice(0);
    this.tensors.sort((a: TensorInfo, b: TensorInfo): i32 => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
    for (let i = 0; i < this.tensors.length; i++) {
      const t = this.tensors[i];
      const name = typeName(t.type);
      if (!this.typeTensors.has(name)) {
        this.types.push(name);
        this.typeTensors.set(name, 0);
        this.typeBytes.set(name, 0);
      }
      this.typeTensors.set(name, this.typeTensors.get(name) + 1);
      this.typeBytes.set(name, this.typeBytes.get(name) + <f64>t.bytes);
      this.tensorBytes += <f64>t.bytes;
    }
  }

  // ---- ifprune summary (src/cli/inspect.ts inspectModel, src/formats/ifprune.ts summarizeLayout) ----

  reordered(): bool {
    const info = this.info;
    if (info == null) return false;
    for (let i = 0; i < info.perms.length; i++) if (info.perms[i].length > 0) return true;
    return false;
  }
  calibratedStatic(): bool {
    return this.spec.tensors.has('ifprune.static');
  }
  calibratedLearned(): bool {
    return this.spec.meta.has('ifprune.pred.kind');
  }
  sharedNeurons(): f64 {
    let n: f64 = 0;
    for (let l = 0; l < this.spec.config.nLayers; l++) {
      const key = `ifprune.shared.${l}`;
      if (this.spec.meta.has(key)) {
        const v = this.spec.meta.get(key);
        n += v.type == T_ARRAY ? <f64>v.count : v.type == T_STRING ? <f64>v.str.length : 0;
      }
    }
    return n;
  }
  bundleBytes(): f64 {
    const info = this.info;
    let s: f64 = 0;
    if (info != null) for (let i = 0; i < info.bundles.length; i++) s += <f64>info.bundles[i].bytes;
    return s;
  }
  coreBytes(): f64 {
    return <f64>this.fileBytes - this.bundleBytes();
  }
  fractionAt(d: f64): f64 {
    return (this.coreBytes() + d * this.bundleBytes()) / <f64>this.fileBytes;
  }

  // ---- JSON -------------------------------------------------------------------------------------

  json(): string {
    const c = this.spec.config;
    const w = new JsonWriter();
    w.begin();
    const info = this.info;
    if (info != null) {
      w.begin('ifprune');
      w.str('version', `${info.versionMajor}.${info.versionMinor}`);
      w.str('layout', info.layout);
      w.str('type', info.type);
      w.bool('reordered', this.reordered());
      w.begin('calibrated');
      w.bool('static', this.calibratedStatic());
      w.bool('learned', this.calibratedLearned());
      w.num('sharedNeurons', this.sharedNeurons());
      w.end();
      if (info.bundles.length > 0) {
        w.num('coreBytes', this.coreBytes());
        w.beginArray('bundleBytesPerLayer');
        for (let i = 0; i < info.bundles.length; i++) w.num('', <f64>info.bundles[i].bytes);
        w.endArray();
        w.num('bytesPerNeuron', <f64>info.bundles[0].rowBytes);
        w.begin('fractionAt');
        // JavaScript objects list integer-like keys ("1") first, then the others in insertion order.
        for (let pass = 0; pass < 2; pass++) {
          for (let i = 0; i < DENSITIES.length; i++) {
            if ((DENSITIES[i] == Math.floor(DENSITIES[i])) == (pass == 0)) w.num(DENSITY_KEYS[i], this.fractionAt(DENSITIES[i]));
          }
        }
        w.end();
      }
      w.end();
    }
    w.str('path', this.path);
    w.str('format', this.spec.format);
    w.num('fileBytes', <f64>this.fileBytes);
    c.writeJson(w, 'config');
    const tok = this.spec.tokenizer;
    if (tok != null) {
      w.begin('tokenizer');
      w.str('model', tok.model);
      w.num('tokens', tok.tokens.length);
      w.num('bosId', tok.bosId);
      w.num('eosId', tok.eosId);
      w.bool('addBos', tok.addBos);
      w.end();
    }
    w.begin('metadata');
    const keys = this.spec.metaKeys;
    for (let i = 0; i < keys.length; i++) {
      if (this.spec.meta.has(keys[i])) w.raw(keys[i], this.jsonValue(this.spec.meta.get(keys[i])));
    }
    w.end();
    w.beginArray('tensors');
    for (let i = 0; i < this.tensors.length; i++) {
      const t = this.tensors[i];
      w.begin();
      w.str('name', t.name);
      w.str('type', typeName(t.type));
      w.beginArray('dims');
      for (let d = 0; d < t.dims.length; d++) w.num('', <f64>t.dims[d]);
      w.endArray();
      w.num('offset', <f64>t.offset);
      w.num('bytes', <f64>t.bytes);
      w.end();
    }
    w.endArray();
    w.begin('bytesByType');
    for (let i = 0; i < this.types.length; i++) {
      const name = this.types[i];
      w.begin(name);
      w.num('tensors', this.typeTensors.get(name));
      w.num('bytes', this.typeBytes.get(name));
      w.end();
    }
    w.end();
    w.num('tensorBytes', this.tensorBytes);
    return w.end();
  }

  /** inspect.ts jsonValue: 64-bit integers as strings, long arrays as {"array": type, "length": n}. */
  jsonValue(v: MetaValue): string {
    if (v.type == T_ARRAY) {
      if (v.count > INLINE_ARRAY_MAX || v.arrayType == T_ARRAY) return `{"array":${jsonString(arrayTypeName(v))},"length":${v.count}}`;
      const items = new Array<string>();
      for (let i = 0; i < <i32>v.count; i++) items.push(this.item(v, i, true));
      return '[' + items.join(',') + ']';
    }
    if (v.type == T_STRING) return jsonString(v.str);
    if (v.type == T_BOOL) return v.num != 0 ? 'true' : 'false';
    if (v.type == T_UINT64) return '"' + (<u64>v.int).toString() + '"';
    if (v.type == T_INT64) return '"' + v.int.toString() + '"';
    return jsonNumber(v.num);
  }

  /** Item i of an inline array, as JSON or as text (64-bit integers exactly, as the TS prints BigInts). */
  item(v: MetaValue, i: i32, json: bool): string {
    const t = v.arrayType;
    if (t == T_STRING) {
      const s = i < v.strs.length ? v.strs[i] : '';
      return json ? jsonString(s) : formatString(s);
    }
    if (t == T_UINT64 || t == T_INT64) {
      const x: i64 = i < v.ints.length ? v.ints[i] : 0;
      const s = t == T_UINT64 ? (<u64>x).toString() : x.toString();
      return json ? '"' + s + '"' : s;
    }
    const x: f64 = i < v.nums.length ? v.nums[i] : 0;
    if (t == T_BOOL) return x != 0 ? 'true' : 'false';
    return json ? jsonNumber(x) : formatNumber(x);
  }

  // ---- text ---------------------------------------------------------------------------------------

  text(): string {
    const c = this.spec.config;
    const out = new Array<string>();
    out.push(`${escapeText(this.path)}: ${this.spec.format}, ${grouped(<f64>this.fileBytes)} bytes (${formatBytes(<f64>this.fileBytes)})`);
    out.push('');

    out.push('config:');
    const keys: string[] = ['dim', 'layers', 'heads', 'kv heads', 'head size', 'ffn (hidden dim)', 'vocab', 'context', 'rope', 'norm eps', 'tied embeddings', 'qkv bias', 'tokenizer'];
    const values: string[] = [
      grouped(c.dim), grouped(c.nLayers), grouped(c.nHeads), grouped(c.nKvHeads), grouped(c.headSize), grouped(c.hiddenDim),
      grouped(c.vocabSize), grouped(c.seqLen),
      `base ${jsNumber(<f64>c.ropeBase)}, ${c.ropeDim} dims, ${c.ropeNeox ? 'neox' : 'adjacent'}`,
      formatNumber(<f64>c.normEps),
      c.tiedEmbeddings ? 'yes' : 'no',
      c.qkvBias ? 'yes' : 'no',
    ];
    const t = this.spec.tokenizer;
    if (t != null) {
      values.push(`${t.model}, ${grouped(t.tokens.length)} tokens, bos ${t.bosId}, eos ${t.eosId}${t.addBos ? '' : ', no bos'}`);
    } else {
      values.push(this.spec.format == 'llama2c' ? 'none in the file (llama2.c uses a separate tokenizer.bin)' : 'none in the file');
    }
    let w = 0;
    for (let i = 0; i < keys.length; i++) w = max(w, keys[i].length);
    w += 2;
    for (let i = 0; i < keys.length; i++) out.push('  ' + (keys[i] + ':').padEnd(w) + values[i]);
    out.push('');

    const metaKeys = this.spec.metaKeys;
    out.push(`metadata (${metaKeys.length}):`);
    for (let i = 0; i < metaKeys.length; i++) {
      const k = metaKeys[i];
      if (this.spec.meta.has(k)) out.push(`  ${escapeText(k)} = ${this.textValue(this.spec.meta.get(k))}`);
    }
    out.push('');

    out.push(`tensors (${this.tensors.length}):`);
    const rows = new Array<Array<string>>();
    for (let i = 0; i < this.tensors.length; i++) {
      const tt = this.tensors[i];
      const dims = new Array<string>();
      for (let d = 0; d < tt.dims.length; d++) dims.push(tt.dims[d].toString());
      rows.push([escapeText(tt.name), typeName(tt.type), dims.join(' x '), grouped(<f64>tt.offset), grouped(<f64>tt.bytes)]);
    }
    out.push(table(['name', 'type', 'dims', 'offset', 'bytes'], rows, [false, false, false, true, true]));
    out.push('');

    out.push('bytes by type:');
    const order = this.types.slice(0);
    const bytes = this.typeBytes;
    sorting = this;
    // Stable for these few entries (AssemblyScript sorts short arrays by insertion), as Array.prototype.sort.
    order.sort((a: string, b: string): i32 => {
      const x = typeBytesOf(a);
      const y = typeBytesOf(b);
      return x > y ? -1 : x < y ? 1 : 0;
    });
    const typeRows = new Array<Array<string>>();
    for (let i = 0; i < order.length; i++) {
      const b = bytes.get(order[i]);
      typeRows.push([order[i], grouped(this.typeTensors.get(order[i])), grouped(b), formatBytes(b)]);
    }
    typeRows.push(['total', grouped(this.tensors.length), grouped(this.tensorBytes), formatBytes(this.tensorBytes)]);
    out.push(table(['type', 'tensors', 'bytes', ''], typeRows, [false, true, true, true]));

    const info = this.info;
    if (info != null) {
      out.push('');
      const st = this.calibratedStatic();
      const le = this.calibratedLearned();
      const cal = new Array<string>();
      if (st) cal.push('static ranking');
      if (le) cal.push('learned predictor');
      out.push(`ifprune: format ${info.versionMajor}.${info.versionMinor}, ${info.layout} layout, ${info.type}${this.reordered() ? ', neurons reordered' : ''}; calibration: ` +
        (st || le ? `${cal.join(', ')}, ${jsNumber(this.sharedNeurons())} always-on neurons` : 'none (run ifprune calibrate)'));
      if (info.bundles.length > 0) {
        const core = this.coreBytes();
        const layer0 = <f64>info.bundles[0].bytes;
        out.push(`  core (header, embeddings, attention, norms, classifier, predictor): ${grouped(core)} bytes (${formatBytes(core)})`);
        out.push(`  neuron bundles: ${info.bundles.length} layers × ${grouped(layer0)} bytes (${formatBytes(layer0)}), ${grouped(<f64>info.bundles[0].rowBytes)} bytes per neuron`);
        const parts = new Array<string>();
        for (let i = 0; i < DENSITIES.length; i++) parts.push(`${DENSITY_KEYS[i]}: ${toFixed(this.fractionAt(DENSITIES[i]) * 100, 1)}%`);
        out.push(`  a load at density ${parts.join(', ')} of the file`);
      }
    }
    return out.join('\n') + '\n';
  }

  /** inspect.ts formatValue for one metadata value. */
  textValue(v: MetaValue): string {
    if (v.type == T_ARRAY) {
      const n = v.count;
      if (n > INLINE_ARRAY_MAX || v.arrayType == T_ARRAY) {
        const type = arrayTypeName(v);
        return `[${n} ${type == 'string' ? 'strings' : type == 'boolean' ? 'booleans' : type}]`;
      }
      const items = new Array<string>();
      for (let i = 0; i < <i32>n; i++) items.push(this.item(v, i, false));
      return '[' + items.join(', ') + ']';
    }
    if (v.type == T_STRING) return formatString(v.str);
    if (v.type == T_BOOL) return v.num != 0 ? 'true' : 'false';
    if (v.type == T_UINT64) return (<u64>v.int).toString();
    if (v.type == T_INT64) return v.int.toString();
    return formatNumber(v.num);
  }
}

// The comparator of a sort cannot capture locals (no closures): it reads the Inspected being sorted here.
let sorting: Inspected | null = null;
function typeBytesOf(name: string): f64 {
  const s = sorting;
  return s != null && s.typeBytes.has(name) ? s.typeBytes.get(name) : 0;
}

/** The item type name inspect.ts gives an array: its typed array's ("float32", "uint32", "biguint64"), or
 * "string" / "boolean" / "array" for JS arrays (an empty JS array is "mixed"). */
function arrayTypeName(v: MetaValue): string {
  switch (v.arrayType) {
    case 0: return 'uint8';
    case 1: return 'int8';
    case 2: return 'uint16';
    case 3: return 'int16';
    case 4: return 'uint32';
    case 5: return 'int32';
    case 6: return 'float32';
    case 12: return 'float64';
    case T_UINT64: return 'biguint64';
    case T_INT64: return 'bigint64';
  }
  if (v.count == 0) return 'mixed';
  return v.arrayType == T_BOOL ? 'boolean' : v.arrayType == T_STRING ? 'string' : 'array';
}

/** inspect.ts formatValue for a string: quoted, escaped, cut at INLINE_STRING_MAX characters. */
function formatString(v: string): string {
  const cut = v.length > INLINE_STRING_MAX ? v.substring(0, INLINE_STRING_MAX) : v;
  return '"' + escapeText(cut).replaceAll('"', '\\"') + '"' + (cut.length == v.length ? '' : `... (${v.length} chars)`);
}

/** Left-aligned text columns, right-aligned numeric ones (inspect.ts table). */
function table(header: Array<string>, rows: Array<Array<string>>, numeric: Array<bool>): string {
  const widths = new Array<i32>(header.length);
  for (let i = 0; i < header.length; i++) {
    let wi = header[i].length;
    for (let r = 0; r < rows.length; r++) wi = max(wi, rows[r][i].length);
    widths[i] = wi;
  }
  const lines = new Array<string>();
  const all = [header].concat(rows);
  for (let r = 0; r < all.length; r++) {
    const cells = new Array<string>();
    for (let i = 0; i < header.length; i++) cells.push(numeric[i] ? all[r][i].padStart(widths[i]) : all[r][i].padEnd(widths[i]));
    lines.push('  ' + trimEnd(cells.join('  ')));
  }
  return lines.join('\n');
}

function trimEnd(s: string): string {
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) == 0x20) n--;
  return s.substring(0, n);
}
