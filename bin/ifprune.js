#!/usr/bin/env node
// The `ifprune` command: runs the TypeScript CLI from source through tsx (src/cli/main.ts).
import { register } from 'tsx/esm/api';

register();
const { main, exit } = await import('../src/cli/main.ts');
await exit(await main(process.argv.slice(2)));
