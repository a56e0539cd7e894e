/**
 * Command-line parsing for the ifprune CLI: one table of options per command drives both the parser
 * and the help text, so the two cannot drift apart.
 *
 *   --name value   --name=value   -n value   -n20   (string options)
 *   --flag                                          (boolean options)
 *   --                                              (everything after it is positional)
 *
 * A string option takes the next argument whatever it looks like (`-p --json` is the prompt
 * "--json"), as llama.cpp's CLI does. Every mistake is a UsageError naming the option, which main.ts
 * prints as one line and maps to exit status 2.
 */
import { IfpruneError } from '../errors.ts';

/** A command-line mistake: exit status 2 and a pointer to `--help`. */
export class UsageError extends IfpruneError {
  /** The command whose help to suggest ('' for the top level). */
  readonly command: string;
  constructor(message: string, command = '') {
    super('bad_option', message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export interface OptionSpec {
  /** Long name without dashes ("max-tokens"). */
  name: string;
  /** One-letter alias without the dash ("n"). */
  short?: string;
  kind: 'string' | 'boolean';
  /** May be given more than once; the values are collected in order. */
  multiple?: boolean;
  /** Placeholder shown in help ("N"). */
  value?: string;
  help: string;
}

export type OptionValue = string | boolean | string[];

export interface ParsedArgs {
  /** By long name; absent when not given. */
  values: Map<string, OptionValue>;
  /** By long name, the spelling the user typed ("-n" or "--max-tokens"), for messages. */
  given: Map<string, string>;
  positionals: string[];
}

export function parseArgs(argv: string[], specs: readonly OptionSpec[], command: string): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const values = new Map<string, OptionValue>();
  const given = new Map<string, string>();
  const positionals: string[] = [];
  const where = command ? ` for ${command}` : '';

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    // --name[=value] | -x[value]
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
      spec = byLong.get(name);
      shown = `--${name}`;
    } else {
      spec = byShort.get(arg[1]!);
      if (arg.length > 2) inline = arg[2] === '=' ? arg.slice(3) : arg.slice(2);
      shown = arg.slice(0, 2);
      if (spec?.kind === 'boolean' && inline !== undefined) spec = undefined; // no clusters like -jh
    }
    if (!spec) throw new UsageError(`unknown option ${escapeText(arg.split('=')[0]!)}${where}`, command);

    let value: string | boolean;
    if (spec.kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`option ${shown} takes no value${where}`, command);
      value = true;
    } else if (inline !== undefined) {
      value = inline;
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`option ${shown} needs a value (${shown} ${spec.value ?? 'VALUE'})`, command);
      value = argv[++i]!;
    }
    if (spec.multiple) {
      const list = (values.get(spec.name) as string[] | undefined) ?? [];
      list.push(value as string);
      values.set(spec.name, list);
    } else {
      if (values.has(spec.name) && spec.kind === 'string') throw new UsageError(`option --${spec.name} is given twice${where}`, command);
      values.set(spec.name, value);
    }
    given.set(spec.name, shown);
  }
  return { values, given, positionals };
}

// ---------------------------------------------------------------------------------------------------
// Typed accessors: each validates one option and names it in the error.

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  return args.values.get(name) as string | undefined;
}

export function flagOption(args: ParsedArgs, name: string): boolean {
  return args.values.get(name) === true;
}

export function listOption(args: ParsedArgs, name: string): string[] {
  return (args.values.get(name) as string[] | undefined) ?? [];
}

export interface NumberBounds {
  min?: number;
  max?: number;
  /** Exclude `min` itself: (min, max]. */
  minExclusive?: boolean;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

/** A finite decimal number within bounds, or undefined when the option was not given. */
export function numberOption(args: ParsedArgs, name: string, bounds: NumberBounds, command: string): number | undefined {
  return checkedNumber(args, name, bounds, command, DECIMAL, 'a number');
}

/** A safe integer within bounds, or undefined when the option was not given. */
export function intOption(args: ParsedArgs, name: string, bounds: NumberBounds, command: string): number | undefined {
  return checkedNumber(args, name, bounds, command, INTEGER, 'a whole number');
}

function checkedNumber(args: ParsedArgs, name: string, b: NumberBounds, command: string, re: RegExp, what: string): number | undefined {
  const raw = stringOption(args, name);
  if (raw === undefined) return undefined;
  const x = re.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isFinite(x) || (re === INTEGER && !Number.isSafeInteger(x))) {
    throw new UsageError(`${shownName(args, name)} must be ${what}; got "${escapeText(raw)}"`, command);
  }
  const low = b.min === undefined ? true : b.minExclusive ? x > b.min : x >= b.min;
  const high = b.max === undefined || x <= b.max;
  if (!low || !high) {
    const range =
      b.min !== undefined && b.max !== undefined ? `in ${b.minExclusive ? '(' : '['}${b.min}, ${b.max}]`
      : b.min !== undefined ? (b.minExclusive ? `greater than ${b.min}` : `at least ${b.min}`)
      : `at most ${b.max}`;
    throw new UsageError(`${shownName(args, name)} must be ${range}; got ${raw}`, command);
  }
  return x;
}

/** The option as the user spelled it. */
export function shownName(args: ParsedArgs, name: string): string {
  return args.given.get(name) ?? `--${name}`;
}

/** One of a fixed set of words, or undefined when not given. */
export function choiceOption<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], command: string): T | undefined {
  const raw = stringOption(args, name);
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`${shownName(args, name)} must be one of ${choices.join(', ')}; got "${escapeText(raw)}"`, command);
  }
  return raw as T;
}

// ---------------------------------------------------------------------------------------------------
// Help and output helpers

/** The option lines of a help text, aligned: `  -n, --max-tokens N   new tokens ...`. */
export function formatOptions(specs: readonly OptionSpec[]): string {
  const heads = specs.map((s) => {
    const long = `--${s.name}${s.kind === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`;
    return s.short ? `-${s.short}, ${long}` : `    ${long}`;
  });
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  return specs.map((s, i) => `  ${heads[i]!.padEnd(width)}${s.help}`).join('\n');
}

/**
 * Control characters (C0, DEL, C1) as escapes, so names read from a model file or typed by a user
 * cannot drive the terminal (gguf_dump.py escapes field and tensor names for the same reason).
 */
export function escapeText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** What a command says about itself in help; `options` is the same table its parser uses. */
export interface CommandInfo {
  name: string;
  /** Usage lines without the leading "Usage:". */
  usage: string[];
  summary: string;
  options: readonly OptionSpec[];
  /** Paragraphs after the options. */
  details?: string;
}

export function formatHelp(c: CommandInfo): string {
  const usage = c.usage.map((u, i) => `${i === 0 ? 'Usage: ' : '       '}${u}`).join('\n');
  return `${usage}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.\n\nOptions:\n${formatOptions(c.options)}\n${c.details ? `\n${c.details}\n` : ''}`;
}
