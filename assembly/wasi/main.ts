// The WASI command (build/ifprune.wasi.wasm, build/ifprune.wasi.scalar.wasm): `ifprune run|inspect ...`
// under wasmtime (or node:wasi), the same commands, options, output and exit statuses as the Node CLI
// (src/cli/main.ts):
//
//   0    success (also `--help`, `--version`, and no arguments, which prints help)
//   1    a runtime failure: an error from the runtime (bad file, missing tokenizer, ...)
//   2    a usage mistake: unknown command or option, missing or invalid value
//
//   wasmtime run --dir=models build/ifprune.wasi.wasm run -m models/stories260K/stories260K.gguf \
//     -p "Once upon a time" -n 60 --temperature 0
//
// Files are reached only through the directories given with --dir (fs.ts). Failures are one line on
// stderr, `ifprune: <message>`; nothing traps on bad input (every runtime call returns a status).
import { errMessage, fail, failed } from '../rt/error';
import { usageError, usageCommand, usage } from './args';
import { writeOut, writeErr } from './fs';
import { runCommand } from './run';
import { inspectCommand } from './inspect';
import { escapeText } from './text';

/** package.json's version (test/wasi.test.ts checks they agree). */
export const VERSION = '0.1.0';

class Command {
  constructor(public name: string, public usage: string, public summary: string) {}
}

const COMMANDS: Command[] = [
  new Command('run', 'ifprune run -m MODEL -p PROMPT [options]', 'generate text from a prompt'),
  new Command('inspect', 'ifprune inspect MODEL [--json]', 'describe a model file: config, metadata, tensors'),
];
/** Commands of the Node CLI this build leaves out (they write files and train; use Node for them). */
const NODE_ONLY: string[] = ['convert', 'calibrate', 'eval'];

function helpText(): string {
  let w = 'ifprune help [COMMAND]'.length;
  for (let i = 0; i < COMMANDS.length; i++) w = max(w, COMMANDS[i].usage.length);
  w += 3;
  let lines = '';
  for (let i = 0; i < COMMANDS.length; i++) lines += `  ${COMMANDS[i].usage.padEnd(w)}${COMMANDS[i].summary}\n`;
  return (
    `ifprune ${VERSION}: LLM inference with WebAssembly SIMD kernels (WASI command)\n\n` +
    `Usage:\n${lines}` +
    `  ${'ifprune help [COMMAND]'.padEnd(w)}show help for a command\n\n` +
    `Options:\n  -h, --help      show this help\n  -v, --version   print the version\n\n` +
    `Run 'ifprune COMMAND --help' for the options of a command.\n` +
    `Files are read through the directories given to wasmtime: wasmtime run --dir=models ifprune.wasi.wasm ...\n`
  );
}

/** The exit status, or -1 after fail(). */
function command(name: string, argv: Array<string>): i32 {
  if (name == 'run') return runCommand(argv);
  if (name == 'inspect') return inspectCommand(argv);
  if (NODE_ONLY.includes(name)) {
    fail('unsupported', `${name} is not available in the WASI build; run it with the Node CLI (npx ifprune ${name} ...)`);
    return -1;
  }
  const names = new Array<string>();
  for (let i = 0; i < COMMANDS.length; i++) names.push(COMMANDS[i].name);
  usage(`unknown command "${escapeText(name)}"; commands are ${names.join(', ')}`, '');
  return -1;
}

function dispatch(argv: Array<string>): i32 {
  if (argv.length == 0 || argv[0] == '-h' || argv[0] == '--help') {
    writeOut(helpText());
    return 0;
  }
  const first = argv[0];
  if (first == '-v' || first == '--version') {
    writeOut(VERSION + '\n');
    return 0;
  }
  if (first == 'help') {
    if (argv.length == 1) {
      writeOut(helpText());
      return 0;
    }
    return command(argv[1], ['--help']);
  }
  if (first.startsWith('-')) {
    usage(`unknown option ${escapeText(first)}; command options go after the command: ifprune COMMAND [options]`, '');
    return -1;
  }
  return command(first, argv.slice(1));
}

/** One line on stderr for the failure recorded in assembly/rt/error.ts; the exit status (2 usage, 1 other). */
function report(): i32 {
  // Messages are one line: inner newlines become spaces, control characters escapes (src/cli/main.ts).
  const flat = errMessage.split('\n').map<string>((s: string) => s.trim()).join(' ');
  if (usageError) {
    writeErr(`ifprune: ${escapeText(flat)} (see 'ifprune ${usageCommand.length > 0 ? usageCommand + ' ' : ''}--help')\n`);
    return 2;
  }
  writeErr(`ifprune: ${escapeText(flat.length > 0 ? flat : 'failed without a message')}\n`);
  return 1;
}

// argv[0] is the module's name (wasmtime and node:wasi both pass it).
const argv = process.argv.slice(1);
let status = dispatch(argv);
if (status < 0 || (status != 0 && failed())) status = report();
process.exit(status);
