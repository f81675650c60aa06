#!/usr/bin/env node
// The installed command. TypeScript sources run through tsx's loader, so there
// is no build step between an edit and `relayguard serve`.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
