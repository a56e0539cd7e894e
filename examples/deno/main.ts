/**
 * ifprune on Deno: generate from a local model file, or serve it with Deno.serve over the
 * OpenAI-compatible handler (POST /v1/completions, /v1/chat/completions, GET /v1/models).
 *
 *   deno run --allow-read=models --allow-net examples/deno/main.ts [MODEL] [PROMPT] [-n N] [--density D] [--policy P]
 *   deno run --allow-read=models --allow-net examples/deno/main.ts MODEL --serve [--port 8000]
 *
 * The runtime module comes with the module graph (a source-phase import), so it needs no read
 * permission; the model is read with positioned reads of only the byte ranges the runtime asks for,
 * which needs --allow-read on its folder. Run `npm run build` first (it builds the runtime module).
 */
// The Deno entry point of the package (dist/deno/index.js when installed); Deno runs these TypeScript
// sources as they are.
import { open, createHandler, type GenerateOptions, type PolicyName } from '../../src/platform/deno.ts';

const args = [...Deno.args];
function option(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
}
function flag(name: string): boolean {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}
const serve = flag('--serve');
const port = Number(option('--port') ?? 8000);
const maxTokens = Number(option('-n') ?? 40);
const density = option('--density');
const policy = option('--policy') as PolicyName | undefined;
const [modelPath = 'models/stories260K/stories260K.gguf', prompt = 'Once upon a time'] = args;

try {
  const model = await open(modelPath, { ffn: 'auto' });
  if (serve) {
    Deno.serve({ port, hostname: '127.0.0.1', onListen: ({ hostname, port }) => console.log(`ifprune serving ${modelPath} at http://${hostname}:${port}/v1`) }, createHandler(model));
  } else {
    const opts: GenerateOptions = { maxTokens, temperature: 0, density: density === undefined ? undefined : Number(density), policy };
    const out = new TextEncoder();
    for await (const t of model.generate(prompt, opts)) await Deno.stdout.write(out.encode(t.text));
    const s = model.stats();
    console.error(`\n${s.generatedTokens} tokens, ${s.decodeTokPerS.toFixed(0)} tok/s decode, ${s.bytesRead} bytes read, density ${s.density} (${s.policy})`);
    await model.close();
  }
} catch (e) {
  // One line, as the CLI does: "code: message".
  console.error(`ifprune: ${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`);
  Deno.exit(1);
}
