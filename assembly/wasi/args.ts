// Command-line parsing for the WASI command, the same grammar and messages as src/cli/args.ts: one table
// of options per command drives both the parser and the help text.
//
//   --name value   --name=value   -n value   -n20   (string options)
//   --flag                                          (boolean options)
//   --                                              (everything after it is positional)
//
// AssemblyScript has no exceptions: a mistake calls usage() (fail('bad_option', …) and remembers the
// command whose help to suggest) and the parser returns null; main.ts prints it and exits 2.
import { fail, failed } from '../rt/error';
import { escapeText, jsNumber } from './text';

export const STRING: i32 = 0;
export const BOOLEAN: i32 = 1;

export class OptionSpec {
  constructor(
    /** Long name without dashes ("max-tokens"). */
    public name: string,
    /** One-letter alias without the dash ("n"), or "". */
    public short: string,
    public kind: i32,
    /** Placeholder shown in help ("N"). */
    public value: string,
    public help: string,
    /** May be given more than once; the values are collected in order. */
    public multiple: bool = false,
  ) {}
}

/** The last usage mistake: set with the error, read by main.ts for the exit status and the hint. */
export let usageError: bool = false;
export let usageCommand: string = '';

/** Records a command-line mistake (an IfpruneError 'bad_option' shown with a pointer to --help). */
export function usage(message: string, command: string): bool {
  if (!failed()) {
    usageError = true;
    usageCommand = command;
  }
  return fail('bad_option', message);
}

export class ParsedArgs {
  /** String options by long name (the first value of a repeatable one is in lists). */
  values: Map<string, string> = new Map();
  lists: Map<string, Array<string>> = new Map();
  flags: Set<string> = new Set();
  /** By long name, the spelling the user typed ("-n" or "--max-tokens"), for messages. */
  given: Map<string, string> = new Map();
  positionals: Array<string> = [];

  has(name: string): bool {
    return this.values.has(name);
  }
  str(name: string): string {
    return this.values.has(name) ? this.values.get(name) : '';
  }
  flag(name: string): bool {
    return this.flags.has(name);
  }
  list(name: string): Array<string> {
    return this.lists.has(name) ? this.lists.get(name) : new Array<string>();
  }
  /** The option as the user spelled it. */
  shown(name: string): string {
    return this.given.has(name) ? this.given.get(name) : '--' + name;
  }
}

function find(specs: Array<OptionSpec>, long: string, short: string): OptionSpec | null {
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    if (long.length > 0 ? s.name == long : s.short.length > 0 && s.short == short) return s;
  }
  return null;
}

export function parseArgs(argv: Array<string>, specs: Array<OptionSpec>, command: string): ParsedArgs | null {
  const a = new ParsedArgs();
  const where = command.length > 0 ? ' for ' + command : '';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg == '--') {
      for (let j = i + 1; j < argv.length; j++) a.positionals.push(argv[j]);
      break;
    }
    if (arg == '-' || !arg.startsWith('-')) {
      a.positionals.push(arg);
      continue;
    }
    // --name[=value] | -x[value]
    let spec: OptionSpec | null;
    let inline: string | null = null;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.substring(2) : arg.substring(2, eq);
      if (eq >= 0) inline = arg.substring(eq + 1);
      spec = find(specs, name, '');
      shown = '--' + name;
    } else {
      spec = find(specs, '', arg.charAt(1));
      if (arg.length > 2) inline = arg.charAt(2) == '=' ? arg.substring(3) : arg.substring(2);
      shown = arg.substring(0, 2);
      if (spec != null && spec.kind == BOOLEAN && inline != null) spec = null; // no clusters like -jh
    }
    if (spec == null) {
      const eq = arg.indexOf('=');
      usage('unknown option ' + escapeText(eq < 0 ? arg : arg.substring(0, eq)) + where, command);
      return null;
    }
    if (spec.kind == BOOLEAN) {
      if (inline != null) {
        usage(`option ${shown} takes no value${where}`, command);
        return null;
      }
      a.flags.add(spec.name);
    } else {
      let value: string;
      if (inline != null) value = inline;
      else if (i + 1 >= argv.length) {
        usage(`option ${shown} needs a value (${shown} ${spec.value.length > 0 ? spec.value : 'VALUE'})`, command);
        return null;
      } else value = argv[++i];
      if (spec.multiple) {
        if (!a.lists.has(spec.name)) a.lists.set(spec.name, new Array<string>());
        a.lists.get(spec.name).push(value);
      } else {
        if (a.values.has(spec.name)) {
          usage(`option --${spec.name} is given twice${where}`, command);
          return null;
        }
        a.values.set(spec.name, value);
      }
    }
    a.given.set(spec.name, shown);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------------
// Typed accessors: each validates one option and names it in the error. `ok` is false after a mistake.

export class Bounds {
  constructor(
    public min: f64 = NaN,
    public max: f64 = NaN,
    /** Exclude `min` itself: (min, max]. */
    public minExclusive: bool = false,
  ) {}
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/ (DECIMAL) or, with integer, /^[+-]?\d+$/ (INTEGER). */
function matchesNumber(s: string, integer: bool): bool {
  let i = 0;
  const n = s.length;
  if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
  let intDigits = 0;
  while (i < n && isDigit(s.charCodeAt(i))) { i++; intDigits++; }
  if (integer) return intDigits > 0 && i == n;
  let fracDigits = 0;
  if (i < n && s.charCodeAt(i) == 0x2e) {
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) { i++; fracDigits++; }
  }
  if (intDigits == 0 && fracDigits == 0) return false;
  if (i < n && (s.charCodeAt(i) == 0x65 || s.charCodeAt(i) == 0x45)) {
    i++;
    if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
    let expDigits = 0;
    while (i < n && isDigit(s.charCodeAt(i))) { i++; expDigits++; }
    if (expDigits == 0) return false;
  }
  return i == n;
}

const MAX_SAFE_INTEGER: f64 = 9007199254740991;

/** A finite number within bounds; NaN when the option was not given or (after usage()) was bad. */
export function numberOption(a: ParsedArgs, name: string, b: Bounds, command: string): f64 {
  return checkedNumber(a, name, b, command, false);
}

/** A safe integer within bounds; NaN when the option was not given or (after usage()) was bad. */
export function intOption(a: ParsedArgs, name: string, b: Bounds, command: string): f64 {
  return checkedNumber(a, name, b, command, true);
}

function checkedNumber(a: ParsedArgs, name: string, b: Bounds, command: string, integer: bool): f64 {
  if (!a.has(name)) return NaN;
  const raw = a.str(name);
  const x = matchesNumber(raw.trim(), integer) ? parseFloat(raw.trim()) : NaN;
  if (!isFinite(x) || (integer && Math.abs(x) > MAX_SAFE_INTEGER)) {
    usage(`${a.shown(name)} must be ${integer ? 'a whole number' : 'a number'}; got "${escapeText(raw)}"`, command);
    return NaN;
  }
  const hasMin = !isNaN(b.min);
  const hasMax = !isNaN(b.max);
  const low = !hasMin ? true : b.minExclusive ? x > b.min : x >= b.min;
  const high = !hasMax || x <= b.max;
  if (!low || !high) {
    const range =
      hasMin && hasMax ? `in ${b.minExclusive ? '(' : '['}${jsNumber(b.min)}, ${jsNumber(b.max)}]`
      : hasMin ? (b.minExclusive ? `greater than ${jsNumber(b.min)}` : `at least ${jsNumber(b.min)}`)
      : `at most ${jsNumber(b.max)}`;
    usage(`${a.shown(name)} must be ${range}; got ${raw}`, command);
    return NaN;
  }
  return x;
}

/** One of a fixed set of words; "" when not given or (after usage()) not one of them. */
export function choiceOption(a: ParsedArgs, name: string, choices: Array<string>, command: string): string {
  if (!a.has(name)) return '';
  const raw = a.str(name);
  if (!choices.includes(raw)) {
    usage(`${a.shown(name)} must be one of ${choices.join(', ')}; got "${escapeText(raw)}"`, command);
    return '';
  }
  return raw;
}

// ---------------------------------------------------------------------------------------------------
// Help

/** The option lines of a help text, aligned: `  -n, --max-tokens N   new tokens ...`. */
export function formatOptions(specs: Array<OptionSpec>): string {
  const heads = new Array<string>();
  let width = 0;
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    const long = '--' + s.name + (s.kind == STRING ? ' ' + (s.value.length > 0 ? s.value : 'VALUE') : '');
    const head = s.short.length > 0 ? '-' + s.short + ', ' + long : '    ' + long;
    heads.push(head);
    if (head.length > width) width = head.length;
  }
  width += 2;
  const lines = new Array<string>();
  for (let i = 0; i < specs.length; i++) lines.push('  ' + heads[i].padEnd(width) + specs[i].help);
  return lines.join('\n');
}

/** What a command says about itself in help (src/cli/args.ts CommandInfo / formatHelp). */
export class CommandInfo {
  constructor(
    public name: string,
    public usage: Array<string>,
    public summary: string,
    public options: Array<OptionSpec>,
    public details: string = '',
  ) {}

  help(): string {
    let usageLines = '';
    for (let i = 0; i < this.usage.length; i++) usageLines += (i == 0 ? 'Usage: ' : '\n       ') + this.usage[i];
    const summary = this.summary.charAt(0).toUpperCase() + this.summary.substring(1);
    return `${usageLines}\n\n${summary}.\n\nOptions:\n${formatOptions(this.options)}\n${this.details.length > 0 ? '\n' + this.details + '\n' : ''}`;
  }
}
