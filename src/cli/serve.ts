/**
 * `ifprune serve -m MODEL [--port P] [--host H] [--density D] [--policy P]`: the OpenAI-compatible
 * request handler (src/server/handler.ts) on Node's http server (src/server/node.ts).
 *
 * Prints one line with the URL once it listens (`--json`: one JSON object {url, model, chatTemplate,
 * density, policy}) and serves until SIGINT or SIGTERM, then closes the model and exits 0.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { IfpruneError } from '../errors.ts';
import { open } from '../platform/node.ts';
import { KERNEL_BUILDS } from '../engine/simd.ts';
import { createHandler } from '../server/handler.ts';
import { serveNode } from '../server/node.ts';
import { CHAT_TEMPLATE_KEY } from '../server/chat.ts';
import {
  UsageError, choiceOption, flagOption, formatHelp, intOption, numberOption, parseArgs, stringOption, type CommandInfo,
} from './args.ts';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';

export const SERVE: CommandInfo = {
  name: 'serve',
  usage: ['ifprune serve -m MODEL [--port P] [--host H] [--density D] [--policy P] [options]'],
  summary: 'serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models)',
  options: [
    { name: 'model', short: 'm', kind: 'string', value: 'MODEL', help: 'model file: GGUF, llama2.c .bin or safetensors (required)' },
    { name: 'port', kind: 'string', value: 'P', help: `TCP port (default ${DEFAULT_PORT}; 0 picks a free one)` },
    { name: 'host', kind: 'string', value: 'H', help: `interface to listen on (default ${DEFAULT_HOST}; 0.0.0.0 for every interface)` },
    { name: 'density', kind: 'string', value: 'D', help: "default share of FFN neurons kept, in (0, 1], for requests that send no density (default 1)" },
    { name: 'policy', kind: 'string', value: 'P', help: 'default neuron policy: learned, static, prompt or dense (default: the model\'s)' },
    { name: 'selective', kind: 'boolean', help: 'load only the core, then each request\'s neurons (ifprune bundled models; default with --density)' },
    { name: 'chat-template', kind: 'string', value: 'FILE', help: "a Jinja chat template to use instead of the model's tokenizer.chat_template" },
    { name: 'model-id', kind: 'string', value: 'ID', help: 'the model name in responses and /v1/models (default: the file name without extension)' },
    { name: 'tokenizer', kind: 'string', value: 'FILE', help: 'llama2.c tokenizer.bin (default: tokenizer.bin or tok*.bin beside the model)' },
    { name: 'context', short: 'c', kind: 'string', value: 'N', help: "context length to allocate (default: the model's, at most 2048)" },
    { name: 'kernels', kind: 'string', value: 'BUILD', help: `kernel build: auto, ${KERNEL_BUILDS.join(', ')} (default auto: the fastest this runtime runs)` },
    { name: 'threads', short: 't', kind: 'string', value: 'N', help: 'threads: 1 or 2 (2: a worker thread computes half of each prefill step; SIMD kernels) (default 1)' },
    { name: 'memory-budget', kind: 'string', value: 'BYTES', help: 'wasm memory the model may use in all; what the core leaves holds the neuron cache' },
    { name: 'max-body', kind: 'string', value: 'BYTES', help: 'largest request body accepted (default 1048576); larger is a 413' },
    { name: 'max-prompt-tokens', kind: 'string', value: 'N', help: 'most prompt tokens a request may send (chat: after the template); more is a 400 (default: the context decides)' },
    { name: 'max-tokens', kind: 'string', value: 'N', help: 'most new tokens a request may ask for; a larger max_tokens is a 400, and requests that give none stop there (default: no cap)' },
    { name: 'timeout-ms', kind: 'string', value: 'MS', help: 'deadline per request from its arrival, queue wait included: before the first token a 503, after it the answer ends there (default: none)' },
    { name: 'max-queue', kind: 'string', value: 'N', help: 'most requests waiting for the model besides the running one; more is a 503 with Retry-After (default: no limit)' },
    { name: 'json', kind: 'boolean', help: 'print the listening line as one JSON object' },
    { name: 'help', short: 'h', kind: 'boolean', help: 'show this help' },
  ],
  details:
    'Requests take OpenAI fields (model, prompt or messages, max_tokens, temperature, top_p, seed, stop,\n' +
    'stream) plus ifprune\'s density, policy and top_k. Examples:\n' +
    '  ifprune serve -m models/ifp-demo/ifp-demo.q8_0.gguf --port 8080\n' +
    "  curl -s localhost:8080/v1/completions -d '{\"prompt\": \"def main(\", \"max_tokens\": 40, \"density\": 0.5}'",
};

export async function serveCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, SERVE.options, 'serve');
  if (flagOption(args, 'help')) {
    process.stdout.write(formatHelp(SERVE));
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`serve takes no positional arguments; got "${args.positionals[0]}" (the model goes after -m)`, 'serve');
  const model = stringOption(args, 'model');
  if (model === undefined || model === '') throw new UsageError('serve needs a model file: -m MODEL', 'serve');
  const density = numberOption(args, 'density', { min: 0, minExclusive: true, max: 1 }, 'serve');
  const policy = choiceOption(args, 'policy', ['learned', 'static', 'prompt', 'dense'] as const, 'serve');
  const port = intOption(args, 'port', { min: 0, max: 65535 }, 'serve') ?? DEFAULT_PORT;
  const host = stringOption(args, 'host') ?? DEFAULT_HOST;
  const maxBodyBytes = intOption(args, 'max-body', { min: 1 }, 'serve');
  const limits = {
    maxPromptTokens: intOption(args, 'max-prompt-tokens', { min: 1 }, 'serve'),
    maxTokens: intOption(args, 'max-tokens', { min: 0 }, 'serve'),
    timeoutMs: intOption(args, 'timeout-ms', { min: 1 }, 'serve'),
    maxQueue: intOption(args, 'max-queue', { min: 0 }, 'serve'),
  };
  const templatePath = stringOption(args, 'chat-template');
  let chatTemplate: string | undefined;
  if (templatePath !== undefined) {
    try {
      chatTemplate = await readFile(templatePath, 'utf8');
    } catch (cause) {
      throw new IfpruneError('not_found', `cannot read the chat template ${templatePath}: ${(cause as Error).message}`, { cause });
    }
  }
  const selective = flagOption(args, 'selective') || density !== undefined;

  const m = await open(model, {
    tokenizer: stringOption(args, 'tokenizer'),
    kernels: choiceOption(args, 'kernels', ['auto', ...KERNEL_BUILDS] as const, 'serve'),
    threads: intOption(args, 'threads', { min: 1, max: 2 }, 'serve'),
    contextLength: intOption(args, 'context', { min: 1 }, 'serve'),
    memoryBudget: intOption(args, 'memory-budget', { min: 1 }, 'serve'),
    ...(selective ? { ffn: 'auto' as const } : {}),
  });
  try {
    const id = stringOption(args, 'model-id') ?? basename(model).replace(/\.[^.]*$/, '');
    const handler = createHandler(m, { id, density, policy, chatTemplate, maxBodyBytes, ...limits });
    const chat = templatePath !== undefined ? 'file' : m.metadata(CHAT_TEMPLATE_KEY) ? 'model' : 'fallback';
    const srv = await serveNode(handler, { port, host });
    // Listening for the signals before the URL is out: a caller may stop the server as soon as it reads it.
    const stopped = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const url = `${srv.url}/v1`;
    if (flagOption(args, 'json')) process.stdout.write(JSON.stringify({ url, model: id, chatTemplate: chat, density: density ?? 1, policy: policy ?? null }) + '\n');
    else process.stdout.write(`ifprune serve: ${url} (model ${id}, chat template: ${chat}${density !== undefined ? `, density ${density}` : ''}${policy ? `, policy ${policy}` : ''}); Ctrl-C stops\n`);
    await stopped;
    await srv.close();
    return 0;
  } finally {
    await m.close();
  }
}
