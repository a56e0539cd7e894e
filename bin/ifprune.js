#!/usr/bin/env node
// The `ifprune` command. Installed from npm it runs the bundled CLI, dist/node/cli.js (plain Node, no
// TypeScript at run time). In a checkout (src/ beside bin/, tsx installed) it runs the TypeScript
// sources through tsx instead, so edits take effect without `npm run build`; IFPRUNE_BUNDLED=1 makes
// a checkout run the bundle too.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const bundle = new URL('../dist/node/cli.js', import.meta.url);

async function load() {
  if (existsSync(source) && !process.env.IFPRUNE_BUNDLED) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      return await import(source.href);
    } catch (e) {
      if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !existsSync(bundle)) throw e;
    }
  }
  if (!existsSync(bundle)) {
    process.stderr.write(`ifprune: ${bundle.pathname} is missing; build it with \`npm run build\`\n`);
    process.exit(1);
  }
  return import(bundle.href);
}

const { main, exit } = await load();
await exit(await main(process.argv.slice(2)));
