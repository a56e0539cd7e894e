/**
 * The `ifprune` command line: dispatches to a command and maps failures to an exit status and one
 * line on stderr (the only place in ifprune that decides how a process ends):
 *
 *   0    success (also `--help`, `--version`, and no arguments, which prints help)
 *   1    a runtime failure: an IfpruneError from the library (bad file, missing tokenizer, ...)
 *   2    a usage mistake: unknown command or option, missing or invalid value
 *   130  interrupted by Ctrl-C (`run`)
 *
 * Commands load lazily, so `inspect` and `--help` never compile kernels. `bin/ifprune.js` calls
 * main() from the bundle (dist/node/cli.js, built by tools/bundle.mjs) or, in a checkout, from source
 * through tsx; `node --import tsx src/cli/main.ts ...` runs it directly.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IfpruneError } from '../errors.ts';
import { UsageError, escapeText } from './args.ts';

interface Command {
  name: string;
  /** Usage line in the overview. */
  usage: string;
  summary: string;
  /** Loads the command module and runs it; `['--help']` prints its help. */
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Command[] = [
  {
    name: 'run',
    usage: 'ifprune run -m MODEL -p PROMPT [options]',
    summary: 'generate text from a prompt',
    run: async (argv) => (await import('./run.ts')).runCommand(argv),
  },
  {
    name: 'inspect',
    usage: 'ifprune inspect MODEL [--json]',
    summary: 'describe a model file: config, metadata, tensors',
    run: async (argv) => (await import('./inspect.ts')).inspectCommand(argv),
  },
  {
    name: 'convert',
    usage: 'ifprune convert ...',
    summary: "convert a checkpoint (see 'ifprune convert --help')",
    run: async (argv) => (await import('./convert.ts')).convertCommand(argv),
  },
  {
    name: 'calibrate',
    usage: 'ifprune calibrate -m MODEL -d DATA -o OUT',
    summary: 'fit the neuron predictors into an ifprune model',
    run: async (argv) => (await import('./calibrate.ts')).calibrateCommand(argv),
  },
  {
    name: 'eval',
    usage: 'ifprune eval -m MODEL -d DATA',
    summary: 'perplexity, recall and bytes per pruning policy',
    run: async (argv) => (await import('./eval.ts')).evalCommand(argv),
  },
  { name: 'serve', usage: 'ifprune serve -m MODEL [--port P]', summary: 'an OpenAI-compatible HTTP server for a model', run: async (argv) => (await import('./serve.ts')).serveCommand(argv) },
  {
    name: 'bench',
    usage: 'ifprune bench -m MODEL [-m MODEL ...]',
    summary: 'load, TTFT, prefill and decode speed per model and density',
    run: async (argv) => (await import('./bench.ts')).benchCommand(argv),
  },
];

/** package.json is two levels up from src/cli/main.ts and from the bundle's dist/node/cli.js alike. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function helpText(): string {
  const w = Math.max(...COMMANDS.map((c) => c.usage.length)) + 3;
  return (
    `ifprune ${version()}: LLM inference with WebAssembly SIMD kernels\n\n` +
    `Usage:\n${COMMANDS.map((c) => `  ${c.usage.padEnd(w)}${c.summary}`).join('\n')}\n` +
    `  ${'ifprune help [COMMAND]'.padEnd(w)}show help for a command\n\n` +
    `Options:\n  -h, --help      show this help\n  -v, --version   print the version\n\n` +
    `Run 'ifprune COMMAND --help' for the options of a command.\n`
  );
}

function findCommand(name: string): Command {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command "${escapeText(name)}"; commands are ${COMMANDS.map((c) => c.name).join(', ')}`);
  return cmd;
}

async function dispatch(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help') {
    process.stdout.write(helpText());
    return 0;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help') {
    if (rest.length === 0) {
      process.stdout.write(helpText());
      return 0;
    }
    return findCommand(rest[0]!).run(['--help']);
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${escapeText(first)}; command options go after the command: ifprune COMMAND [options]`);
  return findCommand(first).run(rest);
}

/** Runs the CLI and returns its exit status; failures become one line on stderr. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (e) {
    return report(e);
  }
}

function report(e: unknown): number {
  const line = (msg: string) => process.stderr.write(`ifprune: ${escapeText(msg.replace(/\s*\n\s*/g, ' '))}\n`);
  if (e instanceof UsageError) {
    line(`${e.message} (see 'ifprune ${e.command ? `${e.command} ` : ''}--help')`);
    return 2;
  }
  if (e instanceof IfpruneError) {
    line(e.message);
    if (process.env.IFPRUNE_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
  // Not ours: a bug or an unexpected system error. Still one line; IFPRUNE_DEBUG=1 shows the stack.
  const err = e instanceof Error ? e : new Error(String(e));
  line(`${err.name}: ${err.message}${process.env.IFPRUNE_DEBUG ? '' : ' (set IFPRUNE_DEBUG=1 for the stack trace)'}`);
  if (process.env.IFPRUNE_DEBUG) process.stderr.write(`${err.stack}\n`);
  return 1;
}

/** Ends the process once stdout and stderr have drained (a piped stdout may still hold data). */
export async function exit(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((done) => s.write('', () => done()))));
  process.exit(code);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await exit(await main(process.argv.slice(2)));
}
